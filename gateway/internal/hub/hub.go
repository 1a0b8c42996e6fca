package hub

import (
	"context"
	"log/slog"
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
	subs *channels // which of ps's channels are wanted

	mu        sync.Mutex
	rooms     map[string]*room        // by channel name
	ephemeral map[string]*room        // by ephemeral channel name
	users     map[string]*userChannel // by channel name
	joining   map[joinKey]*joining    // joins in progress (join.go)
}

// userChannel is a user's channel, shared by the user's sockets here.
type userChannel struct {
	fn   func(payload []byte)
	refs int
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
	// member is, for each subscriber, the room seq as of which its user is
	// a member (see Join): a leave after it drops the subscriber.
	member map[Subscriber]uint64
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
	h := &Hub{rdb: rdb, log: log, opts: opts, lg: lg, rooms: map[string]*room{}, ephemeral: map[string]*room{}, users: map[string]*userChannel{}, joining: map[joinKey]*joining{}}
	h.ps = rdb.Subscribe(ctx)
	h.subs = newChannels(h.ps)
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
	var user func([]byte)
	if u := h.users[channel]; u != nil {
		user = u.fn
	}
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
// returned function is called. Each of a user's sockets subscribes: the
// channel is subscribed while any of them is, and its payloads go to the
// fn of the latest (all of a gateway's do the same).
func (h *Hub) SubscribeUser(user string, fn func(payload []byte)) (unsubscribe func()) {
	channel := events.UserChannel(h.opts.Prefix, user)
	h.mu.Lock()
	u := h.users[channel]
	if u == nil {
		u = &userChannel{}
		h.users[channel] = u
	}
	u.fn = fn
	u.refs++
	h.mu.Unlock()
	if err := h.subs.add(channel); err != nil {
		h.lg.Warn("subscribe user channel", "user", user, "err", err)
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			h.mu.Lock()
			if u.refs--; u.refs == 0 && h.users[channel] == u {
				delete(h.users, channel)
			}
			h.mu.Unlock()
			if err := h.subs.remove(channel); err != nil {
				h.lg.Warn("unsubscribe user channel", "user", user, "err", err)
			}
		})
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
		in: make(chan []byte, 256), stop: make(chan struct{}), subs: map[Subscriber]*uint64{}, member: map[Subscriber]uint64{}, refs: 1}
	h.rooms[channel] = r
	h.ephemeral[r.ephemeral] = r
	r.mu.Lock() // held until the room knows its head, so no one reads a zero position
	h.mu.Unlock()
	defer r.mu.Unlock()

	// Subscribe first, then read the head: a frame published in between is
	// either above the head (delivered) or a duplicate (skipped).
	if err := h.subs.add(channel, r.ephemeral); err != nil {
		h.lg.Warn("subscribe room channel; the log fills in", "room", id, "err", err)
	}
	head, err := h.log.Head(ctx, id)
	if err != nil {
		h.mu.Lock()
		delete(h.rooms, channel)
		delete(h.ephemeral, r.ephemeral)
		h.mu.Unlock()
		_ = h.subs.remove(channel, r.ephemeral)
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
		if err := h.subs.remove(r.channel, r.ephemeral); err != nil {
			h.lg.Warn("unsubscribe room channel", "room", r.id, "err", err)
		}
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
	delete(r.member, s)
	r.mu.Unlock()
	if ok {
		h.release(r)
	}
}

// Left drops from room id, of subs, those whose user was a member from
// before seq, the room seq at which the user left (a member.left): a user
// who leaves a room in one tab stops receiving it in the others. A
// subscriber that joined as a member from seq on (the user joined again)
// stays. It returns those it dropped. A join of one of subs to the room
// still in progress (see Expect) is told of the leave: it ends without
// subscribing if the leave came after the membership it joined with.
func (h *Hub) Left(id string, seq uint64, subs []Subscriber) []Subscriber {
	h.mu.Lock()
	for _, s := range subs {
		if j := h.joining[joinKey{id, s}]; j != nil {
			j.leftAt(seq)
		}
	}
	r := h.rooms[events.RoomChannel(h.opts.Prefix, id)]
	h.mu.Unlock()
	if r == nil {
		return nil
	}
	var dropped []Subscriber
	r.mu.Lock()
	for _, s := range subs {
		if _, ok := r.subs[s]; ok && r.member[s] < seq {
			delete(r.subs, s)
			delete(r.member, s)
			dropped = append(dropped, s)
		}
	}
	r.mu.Unlock()
	for range dropped {
		h.release(r)
	}
	return dropped
}

// Joined reports whether s is subscribed to room id.
func (h *Hub) Joined(id string, s Subscriber) bool {
	h.mu.Lock()
	r := h.rooms[events.RoomChannel(h.opts.Prefix, id)]
	h.mu.Unlock()
	if r == nil {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.subs[s]
	return ok
}
