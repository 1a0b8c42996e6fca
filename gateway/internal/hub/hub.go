// Package hub delivers the live facts of the rooms a gateway hosts to the
// sockets that joined them, gap-free and in seq order.
//
// One Redis subscription per gateway carries every hosted room's channel.
// Each hosted room has one goroutine that takes its frames in order, fills any
// gap from the log (Redis pub/sub is at most once; CHAT_EVT is the truth),
// and hands each frame, encoded once, to every subscribed socket whose
// position is below it. A room with no news checks the log's head now and
// then, so a lost last frame is found too. A joiner's backfill (from the
// recent frames or the log; it ends at the room's head) is shown as the
// messages stand: each post a later frame of the backfill deleted or edited
// is re-rendered (events.RedactFrame); the recent frames stay as published.
//
// Concurrency: all methods are safe for concurrent use. Subscriber.Send must
// not block (sockets queue and drop themselves when too slow).
package hub

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/chillin-chat/chillin/events"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"
)

// Subscriber is a socket that joined a room.
type Subscriber interface {
	// Send queues a complete frame for the socket without blocking.
	Send(frame []byte)
	// SendWait queues a frame, waiting for room in the queue; it reports
	// false if the socket closed first. Used for backfill only.
	SendWait(frame []byte) bool
	// Ephemeral hands over a payload of the room's ephemeral channel
	// (typing, presence) without blocking; the subscriber makes its frame.
	Ephemeral(payload []byte)
}

// Log reads room facts from CHAT_EVT.
type Log interface {
	ReadRoom(ctx context.Context, room string, after uint64, max int) ([]events.Stored, uint64, error)
	ReadRoomTail(ctx context.Context, room string, n int) ([]events.Stored, uint64, error)
	Head(ctx context.Context, room string) (uint64, error)
}

// JetStreamLog is the Log of a JetStream connection.
type JetStreamLog struct {
	JS  jetstream.JetStream
	Evt jetstream.Stream
}

func (l JetStreamLog) ReadRoom(ctx context.Context, room string, after uint64, max int) ([]events.Stored, uint64, error) {
	return events.ReadRoom(ctx, l.JS, l.Evt, room, after, max)
}

func (l JetStreamLog) ReadRoomTail(ctx context.Context, room string, n int) ([]events.Stored, uint64, error) {
	return events.ReadRoomTail(ctx, l.JS, l.Evt, room, n)
}

func (l JetStreamLog) Head(ctx context.Context, room string) (uint64, error) {
	s, _, err := events.LastOnSubject(ctx, l.Evt, events.RoomSubject(room))
	return s.Seq, err
}

// Options tune a Hub.
type Options struct {
	Prefix    string        // Redis key prefix
	IdleCheck time.Duration // how often a quiet room checks the log head (default 2s)
	Ring      int           // recent frames kept per room (default 512)
	RingBytes int           // and at most their bytes (default 1 MiB)
}

// Hub is the set of rooms hosted by one gateway.
type Hub struct {
	rdb  *redis.Client
	log  Log
	opts Options
	lg   *slog.Logger
	ps   *redis.PubSub

	mu        sync.Mutex
	rooms     map[string]*room // by channel name
	ephemeral map[string]*room // by ephemeral channel name
	users     map[string]func(payload []byte)
}

type frame struct {
	seq uint64
	b   []byte
	// What the frame does to a message, for redacting a backfill: msg is
	// the message a message.posted creates; change an edit or delete.
	msg    uint64
	change *events.Stored
}

// factFrame is the frame of a fact read from the log.
func factFrame(f events.Stored) (frame, error) {
	b, err := events.EventFrame(f)
	if err != nil {
		return frame{}, err
	}
	fr := frame{seq: f.Seq, b: b}
	switch f.Type {
	case events.MessagePosted:
		fr.msg = f.ID
	case events.MessageEdited, events.MessageDeleted:
		fr.change = &f
	}
	return fr, nil
}

// liveFrame is the frame of a live payload.
func (h *Hub) liveFrame(room string, seq uint64, b []byte) frame {
	fr := frame{seq: seq, b: b}
	id, posted, change, err := events.FrameTarget(b)
	switch {
	case err != nil:
		h.lg.Warn("live frame unreadable; a later join shows it as is", "room", room, "seq", seq, "err", err)
	case posted:
		fr.msg = id
	case id != 0:
		fr.change = &change
	}
	return fr
}

// redacted returns a backfill's frames, which end at the room's head as it
// stood, with every message.posted shown as the frames after it leave the
// message (a tombstone once deleted, the current text once edited). The
// frames themselves are left as they are.
func redacted(frames []frame) ([]frame, error) {
	fates := events.Fates{}
	for _, f := range frames {
		if f.change != nil {
			if err := fates.Fold(*f.change); err != nil {
				return nil, err
			}
		}
	}
	return redactedBy(frames, fates)
}

// redactedBy returns frames with every message.posted shown as fates leave
// the message.
func redactedBy(frames []frame, fates events.Fates) ([]frame, error) {
	if len(fates) == 0 {
		return frames, nil
	}
	out := slices.Clone(frames)
	for i, f := range out {
		fate, ok := fates[f.msg]
		if f.msg == 0 || !ok {
			continue
		}
		b, err := events.RedactFrame(f.b, fate)
		if err != nil {
			return nil, err
		}
		out[i].b = b
	}
	return out, nil
}

type room struct {
	id        string
	channel   string
	ephemeral string
	in        chan []byte
	stop      chan struct{}

	mu   sync.Mutex
	refs int                    // subscribers plus joins in progress
	last uint64                 // highest seq delivered; everything up to it was delivered
	ring []frame                // recent frames (the newest Ring, within RingBytes, at least), oldest first
	size int                    // bytes of ring's frames
	subs map[Subscriber]*uint64 // each subscriber's last delivered seq
}

// New starts a Hub. It stops when ctx ends.
func New(ctx context.Context, rdb *redis.Client, log Log, lg *slog.Logger, opts Options) *Hub {
	if opts.IdleCheck == 0 {
		opts.IdleCheck = 2 * time.Second
	}
	if opts.Ring == 0 {
		opts.Ring = 512
	}
	if opts.RingBytes == 0 {
		opts.RingBytes = 1 << 20
	}
	h := &Hub{rdb: rdb, log: log, opts: opts, lg: lg, rooms: map[string]*room{}, ephemeral: map[string]*room{}, users: map[string]func([]byte){}}
	h.ps = rdb.Subscribe(ctx)
	go h.receive(ctx)
	return h
}

// Close stops the Redis subscription.
func (h *Hub) Close() error { return h.ps.Close() }

func (h *Hub) receive(ctx context.Context) {
	ch := h.ps.Channel(redis.WithChannelSize(4096))
	for {
		select {
		case <-ctx.Done():
			return
		case m, ok := <-ch:
			if !ok {
				return
			}
			h.dispatch(m.Channel, []byte(m.Payload))
		}
	}
}

func (h *Hub) dispatch(channel string, payload []byte) {
	h.mu.Lock()
	r := h.rooms[channel]
	user := h.users[channel]
	eph := h.ephemeral[channel]
	h.mu.Unlock()
	switch {
	case eph != nil:
		eph.mu.Lock()
		for s := range eph.subs {
			s.Ephemeral(payload)
		}
		eph.mu.Unlock()
	case r != nil:
		select {
		case r.in <- payload:
		default:
			// The room is behind; dropping is safe: the gap is filled from the log.
		}
	case user != nil:
		user(payload)
	}
}

// SubscribeUser routes the payloads of a user's channel to fn until the
// returned function is called.
func (h *Hub) SubscribeUser(ctx context.Context, user string, fn func(payload []byte)) (unsubscribe func()) {
	channel := events.UserChannel(h.opts.Prefix, user)
	h.mu.Lock()
	h.users[channel] = fn
	h.mu.Unlock()
	if err := h.ps.Subscribe(ctx, channel); err != nil {
		h.lg.Warn("subscribe user channel", "user", user, "err", err)
	}
	return func() {
		h.mu.Lock()
		delete(h.users, channel)
		h.mu.Unlock()
		if err := h.ps.Unsubscribe(context.Background(), channel); err != nil {
			h.lg.Warn("unsubscribe user channel", "user", user, "err", err)
		}
	}
}

// acquire returns the hosted room, subscribing to it first if needed, with
// one more reference held.
func (h *Hub) acquire(ctx context.Context, id string) (*room, error) {
	channel := events.RoomChannel(h.opts.Prefix, id)
	h.mu.Lock()
	r := h.rooms[channel]
	if r != nil {
		r.mu.Lock()
		r.refs++
		r.mu.Unlock()
		h.mu.Unlock()
		return r, nil
	}
	r = &room{id: id, channel: channel, ephemeral: events.RoomEphemeralChannel(h.opts.Prefix, id),
		in: make(chan []byte, 256), stop: make(chan struct{}), subs: map[Subscriber]*uint64{}, refs: 1}
	h.rooms[channel] = r
	h.ephemeral[r.ephemeral] = r
	r.mu.Lock() // held until the room knows its head, so no one reads a zero position
	h.mu.Unlock()
	defer r.mu.Unlock()

	// Subscribe first, then read the head: a frame published in between is
	// either above the head (delivered) or a duplicate (skipped).
	if err := h.ps.Subscribe(ctx, channel, r.ephemeral); err != nil {
		h.lg.Warn("subscribe room channel; the log fills in", "room", id, "err", err)
	}
	head, err := h.log.Head(ctx, id)
	if err != nil {
		h.mu.Lock()
		delete(h.rooms, channel)
		delete(h.ephemeral, r.ephemeral)
		h.mu.Unlock()
		_ = h.ps.Unsubscribe(context.Background(), channel, r.ephemeral)
		return nil, err
	}
	r.last = head
	go h.run(r)
	return r, nil
}

// release drops one reference; the last one unsubscribes the room.
func (h *Hub) release(r *room) {
	h.mu.Lock()
	r.mu.Lock()
	r.refs--
	gone := r.refs == 0
	r.mu.Unlock()
	if gone {
		delete(h.rooms, r.channel)
		delete(h.ephemeral, r.ephemeral)
	}
	h.mu.Unlock()
	if gone {
		close(r.stop)
		if err := h.ps.Unsubscribe(context.Background(), r.channel, r.ephemeral); err != nil {
			h.lg.Warn("unsubscribe room channel", "room", r.id, "err", err)
		}
	}
}

// Join subscribes s to a room and first sends it what it missed: with after
// set, every fact with after < seq; without, the latest tail facts. It
// returns the room's head seq as of the backfill. From then on s receives
// every fact of the room exactly once, in order, until Leave.
func (h *Hub) Join(ctx context.Context, id string, s Subscriber, after *uint64, tail int) (uint64, error) {
	r, err := h.acquire(ctx, id)
	if err != nil {
		return 0, err
	}
	// What the joiner missed comes from the room's recent frames when they
	// reach back far enough, else from the log (and then seeds them).
	r.mu.Lock()
	frames, head, ok := r.covering(after, tail)
	r.mu.Unlock()
	switch {
	case !ok && after != nil:
		if head, err = h.backfill(ctx, r, s, *after); err != nil {
			h.release(r)
			return 0, err
		}
	case !ok:
		var facts []events.Stored
		facts, head, err = h.log.ReadRoomTail(ctx, id, tail)
		if err == nil {
			frames, err = encodeFacts(facts)
		}
		if err != nil {
			h.release(r)
			return 0, err
		}
		r.mu.Lock()
		r.seed(frames)
		r.mu.Unlock()
	}
	// What the joiner was not there for, it sees as it stands now.
	if frames, err = redacted(frames); err != nil {
		h.release(r)
		return 0, err
	}
	for _, f := range frames {
		if !s.SendWait(f.b) {
			h.release(r)
			return 0, errClosed
		}
	}
	pos := head
	if after != nil && *after > pos {
		pos = *after
	}
	// Catch up from the room's recent frames to where live delivery stands.
	for {
		r.mu.Lock()
		if pos >= r.last {
			r.subs[s] = &pos
			r.mu.Unlock()
			return head, nil
		}
		if missing, ok := r.since(pos); ok {
			for _, f := range missing {
				s.Send(f.b)
			}
			pos = r.last
			r.subs[s] = &pos
			r.mu.Unlock()
			return head, nil
		}
		target := r.last
		r.mu.Unlock()
		more, _, err := h.log.ReadRoom(ctx, id, pos, min(int(target-pos), backfillPage))
		if err != nil {
			h.release(r)
			return 0, err
		}
		if err := sendFacts(s, more); err != nil {
			h.release(r)
			return 0, err
		}
		if len(more) > 0 {
			pos = more[len(more)-1].Seq
		}
	}
}

// backfillPage bounds the facts a join reads from the log at once: a page
// is sent (SendWait waiting for the socket to take it) before the next is
// read, so a join far behind holds a page, not everything it missed.
const backfillPage = 64

// backfill sends s the room's facts after after, up to the head as of the
// first read, from the log, a page at a time; the last page seeds the room's
// recent frames. Each message is shown as it stands at that head: a first
// pass over the pages folds the edits and deletes (all it keeps), the second
// sends the pages. It returns that head.
func (h *Hub) backfill(ctx context.Context, r *room, s Subscriber, after uint64) (uint64, error) {
	fates, head, facts, err := h.fates(ctx, r.id, after)
	if err != nil {
		return 0, err
	}
	for ; err == nil && len(facts) > 0; facts, _, err = h.log.ReadRoom(ctx, r.id, after, backfillPage) {
		if i := slices.IndexFunc(facts, func(f events.Stored) bool { return f.Seq > head }); i >= 0 {
			facts = facts[:i] // the room moved on meanwhile: the catch-up sends the rest
		}
		frames, err := encodeFacts(facts)
		if err != nil {
			return 0, err
		}
		if len(frames) == 0 {
			break
		}
		if after = frames[len(frames)-1].seq; after >= head {
			r.mu.Lock()
			r.seed(frames)
			r.mu.Unlock()
		}
		if frames, err = redactedBy(frames, fates); err != nil {
			return 0, err
		}
		for _, f := range frames {
			if !s.SendWait(f.b) {
				return 0, errClosed
			}
		}
		if after >= head {
			break
		}
	}
	return head, err
}

// fates folds the edits and deletes of the room's facts after after, up to
// the head as of the first read, and returns them with that head and the
// first page it read (the backfill's first page).
func (h *Hub) fates(ctx context.Context, room string, after uint64) (fates events.Fates, head uint64, first []events.Stored, err error) {
	fates = events.Fates{}
	facts, head, err := h.log.ReadRoom(ctx, room, after, backfillPage)
	first = facts
	for ; err == nil && len(facts) > 0; facts, _, err = h.log.ReadRoom(ctx, room, after, backfillPage) {
		for _, f := range facts {
			if f.Seq > head {
				return fates, head, first, nil
			}
			if f.Type == events.MessageEdited || f.Type == events.MessageDeleted {
				if err := fates.Fold(f); err != nil {
					return nil, 0, nil, err
				}
			}
			after = f.Seq
		}
		if after >= head {
			break
		}
	}
	return fates, head, first, err
}

// errClosed is returned when a subscriber closes during its backfill.
var errClosed = errors.New("hub: subscriber closed")

func sendFacts(s Subscriber, facts []events.Stored) error {
	frames, err := encodeFacts(facts)
	if err != nil {
		return err
	}
	for _, f := range frames {
		if !s.SendWait(f.b) {
			return errClosed
		}
	}
	return nil
}

func encodeFacts(facts []events.Stored) ([]frame, error) {
	frames := make([]frame, len(facts))
	for i, f := range facts {
		fr, err := factFrame(f)
		if err != nil {
			return nil, err
		}
		frames[i] = fr
	}
	return frames, nil
}

// covering returns the frames a join needs, with after set those above
// after, else the newest tail, and the room's head, if the recent frames
// reach back that far. r.mu is held.
func (r *room) covering(after *uint64, tail int) ([]frame, uint64, bool) {
	from := uint64(1) // the first seq the joiner needs
	switch {
	case after != nil:
		from = *after + 1
	case r.last > uint64(tail):
		from = r.last - uint64(tail) + 1
	}
	if from > r.last {
		return nil, r.last, true
	}
	missing, ok := r.since(from - 1)
	if !ok {
		return nil, 0, false
	}
	return slices.Clone(missing), r.last, true
}

// seed makes frames read from the log the room's recent frames, if the
// room has none yet and they end where the room stands. r.mu is held.
func (r *room) seed(frames []frame) {
	if len(r.ring) > 0 || len(frames) == 0 || frames[len(frames)-1].seq != r.last {
		return
	}
	for i := 1; i < len(frames); i++ {
		if frames[i].seq != frames[i-1].seq+1 {
			return
		}
	}
	r.ring = append(r.ring, frames...)
	for _, f := range frames {
		r.size += len(f.b)
	}
}

// PublishEphemeral sends a payload to every subscriber of a room on every
// gateway, at most once and outside the log.
func (h *Hub) PublishEphemeral(ctx context.Context, room string, payload []byte) error {
	return h.rdb.Publish(ctx, events.RoomEphemeralChannel(h.opts.Prefix, room), payload).Err()
}

// Leave unsubscribes s from a room it joined.
func (h *Hub) Leave(id string, s Subscriber) {
	h.mu.Lock()
	r := h.rooms[events.RoomChannel(h.opts.Prefix, id)]
	h.mu.Unlock()
	if r == nil {
		return
	}
	r.mu.Lock()
	_, ok := r.subs[s]
	delete(r.subs, s)
	r.mu.Unlock()
	if ok {
		h.release(r)
	}
}

// since returns the ring's frames after pos, if the ring reaches back that far.
func (r *room) since(pos uint64) ([]frame, bool) {
	if len(r.ring) == 0 || r.ring[0].seq > pos+1 {
		return nil, false
	}
	i := int(pos + 1 - r.ring[0].seq)
	return r.ring[i:], true
}

// drainMax bounds the live frames a room takes off its channel at once.
const drainMax = 64

func (h *Hub) run(r *room) {
	idle := time.NewTimer(h.opts.IdleCheck)
	defer idle.Stop()
	batch := make([][]byte, 0, drainMax)
	for {
		select {
		case <-r.stop:
			return
		case payload := <-r.in:
			// Take what else has arrived too: each socket then gets the
			// frames back to back, and its writer sends them together.
			batch = append(batch[:0], payload)
		drain:
			for len(batch) < drainMax {
				select {
				case p := <-r.in:
					batch = append(batch, p)
				default:
					break drain
				}
			}
			h.advance(r, batch)
			idle.Reset(h.opts.IdleCheck)
		case <-idle.C:
			h.checkHead(r)
			idle.Reset(h.opts.IdleCheck)
		}
	}
}

// advance delivers live frames, in seq order, after filling any gap below
// each of them.
func (h *Hub) advance(r *room, payloads [][]byte) {
	var run []frame // consecutive frames not yet delivered
	deliver := func() {
		if len(run) > 0 {
			r.mu.Lock()
			r.deliver(run, h.opts)
			r.mu.Unlock()
			run = run[:0]
		}
	}
	defer deliver()
	for _, payload := range payloads {
		seq, b, err := events.DecodeLiveRoom(payload)
		if err != nil {
			h.lg.Warn("bad live payload", "room", r.id, "err", err)
			continue
		}
		var last uint64
		if len(run) > 0 {
			last = run[len(run)-1].seq
		} else {
			r.mu.Lock()
			last = r.last
			r.mu.Unlock()
		}
		if seq <= last {
			continue
		}
		if seq > last+1 {
			deliver()
			r.mu.Lock()
			last = r.last
			r.mu.Unlock()
			if seq > last+1 && !h.fill(r, last, seq-1) {
				return // the frames are delivered when the log can be read again
			}
		}
		run = append(run, h.liveFrame(r.id, seq, b))
	}
}

// fill reads facts (from, to] from the log and delivers them.
func (h *Hub) fill(r *room, from, to uint64) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	facts, _, err := h.log.ReadRoom(ctx, r.id, from, int(to-from))
	if err != nil {
		h.lg.Warn("fill gap from log", "room", r.id, "after", from, "err", err)
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, f := range facts {
		if f.Seq != r.last+1 {
			continue
		}
		fr, err := factFrame(f)
		if err != nil {
			h.lg.Error("encode fact", "room", r.id, "seq", f.Seq, "err", err)
			return false
		}
		r.deliver([]frame{fr}, h.opts)
	}
	return r.last >= to
}

// checkHead asks the log whether the room moved without a live frame reaching us.
func (h *Hub) checkHead(r *room) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	head, err := h.log.Head(ctx, r.id)
	if err != nil {
		return
	}
	r.mu.Lock()
	last := r.last
	r.mu.Unlock()
	if head > last {
		h.fill(r, last, head)
	}
}

// deliver hands frames, those that continue the room's seq, to every
// subscriber below them: each subscriber gets its frames back to back. r.mu
// is held.
func (r *room) deliver(fs []frame, opts Options) {
	start := len(r.ring)
	for _, f := range fs {
		if f.seq == r.last+1 {
			r.last = f.seq
			r.ring = append(r.ring, f)
			r.size += len(f.b)
		}
	}
	added := r.ring[start:]
	if len(added) == 0 {
		return
	}
	for s, pos := range r.subs {
		for _, f := range added {
			if f.seq > *pos {
				s.Send(f.b)
				*pos = f.seq
			}
		}
	}
	if len(r.ring) >= 2*opts.Ring || r.size >= 2*opts.RingBytes { // amortised O(1)
		r.trim(opts.Ring, opts.RingBytes)
	}
}

// trim keeps the newest n frames of the ring that fit in size bytes (the
// newest one always). r.mu is held.
func (r *room) trim(n, size int) {
	keep, kept := 0, 0
	for i := len(r.ring) - 1; i >= 0 && keep < n; i-- {
		if keep > 0 && kept+len(r.ring[i].b) > size {
			break
		}
		keep, kept = keep+1, kept+len(r.ring[i].b)
	}
	r.ring = append(r.ring[:0:0], r.ring[len(r.ring)-keep:]...)
	r.size = kept
}
