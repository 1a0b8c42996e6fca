package hub_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chillin-chat/chillin/events"
	"github.com/chillin-chat/chillin/events/natstest"
	"github.com/chillin-chat/chillin/gateway/internal/hub"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"
)

type sub struct {
	mu   sync.Mutex
	seqs []uint64
	eph  []string
	got  chan struct{}
}

func newSub() *sub { return &sub{got: make(chan struct{}, 1<<16)} }

func (s *sub) Send(b []byte) {
	var f struct {
		Data struct{ Seq uint64 }
	}
	if err := json.Unmarshal(b, &f); err != nil {
		panic(err)
	}
	s.mu.Lock()
	s.seqs = append(s.seqs, f.Data.Seq)
	s.mu.Unlock()
	s.got <- struct{}{}
}

func (s *sub) SendWait(b []byte) bool { s.Send(b); return true }

func (s *sub) Ephemeral(b []byte) {
	s.mu.Lock()
	s.eph = append(s.eph, string(b))
	s.mu.Unlock()
}

// waitSeqs waits until s has n frames and checks they are from+1..from+n.
func (s *sub) waitSeqs(t *testing.T, from uint64, n int) {
	t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		s.mu.Lock()
		have := len(s.seqs)
		s.mu.Unlock()
		if have >= n {
			break
		}
		select {
		case <-s.got:
		case <-deadline:
			t.Fatalf("got %d frames, want %d", have, n)
		}
	}
	time.Sleep(100 * time.Millisecond) // and no more
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.seqs) != n {
		t.Fatalf("got %d frames, want %d: %v", len(s.seqs), n, s.seqs)
	}
	for i, seq := range s.seqs {
		if seq != from+uint64(i)+1 {
			t.Fatalf("frame %d has seq %d, want %d (all: %v)", i, seq, from+uint64(i)+1, s.seqs)
		}
	}
}

type env struct {
	js     jetstream.JetStream
	evt    jetstream.Stream
	rdb    *redis.Client
	prefix string
	hub    *hub.Hub
	seq    map[string]uint64 // by room
}

func setup(t *testing.T) *env {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	js := natstest.Streams(t)
	evt, err := js.Stream(ctx, events.EvtStream)
	if err != nil {
		t.Fatal(err)
	}
	url := os.Getenv("CHILLIN_TEST_REDIS_URL")
	if url == "" {
		url = "redis://127.0.0.1:6379/0"
	}
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	t.Cleanup(func() { rdb.Close() })
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	e := &env{js: js, evt: evt, rdb: rdb, prefix: "hub" + hex.EncodeToString(b) + ":", seq: map[string]uint64{}}
	e.hub = hub.New(ctx, rdb, hub.JetStreamLog{JS: js, Evt: evt}, slog.New(slog.DiscardHandler),
		hub.Options{Prefix: e.prefix, IdleCheck: 200 * time.Millisecond, Ring: 8})
	t.Cleanup(func() { e.hub.Close() })
	return e
}

// appendFact appends the room's next fact to the log and returns its frame payload.
func (e *env) appendFact(t *testing.T, room string) []byte {
	t.Helper()
	e.seq[room]++
	seq := e.seq[room]
	typ, data := events.MessagePosted, any(events.MessagePostedData{Text: fmt.Sprint(seq), ClientID: fmt.Sprint(seq)})
	if seq == 1 {
		typ, data = events.RoomCreated, events.RoomCreatedData{Name: room}
	}
	f, err := events.NewFact(typ, room, seq, "alice", fmt.Sprint("c", room, seq), time.Now(), data)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := f.Encode()
	ack, err := e.js.Publish(context.Background(), events.RoomSubject(room), b)
	if err != nil {
		t.Fatal(err)
	}
	frame, err := events.EventFrame(events.Stored{ID: ack.Sequence, Fact: f})
	if err != nil {
		t.Fatal(err)
	}
	return events.EncodeLiveRoom(seq, frame)
}

func (e *env) publish(t *testing.T, room string, payload []byte) {
	t.Helper()
	if err := e.rdb.Publish(context.Background(), events.RoomChannel(e.prefix, room), payload).Err(); err != nil {
		t.Fatal(err)
	}
}

func TestLiveInOrderWithGapsFilled(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	for i := 0; i < 5; i++ {
		e.appendFact(t, "r")
	}
	s := newSub()
	after := uint64(2)
	head, err := e.hub.Join(ctx, "r", s, &after, 0, 0)
	if err != nil || head != 5 {
		t.Fatalf("join: head %d, %v", head, err)
	}
	time.Sleep(100 * time.Millisecond) // the subscription is in place
	var payloads [][]byte
	for i := 0; i < 20; i++ {
		payloads = append(payloads, e.appendFact(t, "r"))
	}
	// Publish out of order, with duplicates and with some never published:
	// every frame must still arrive once, in order.
	for i, p := range payloads {
		switch {
		case i%7 == 3: // lost
		case i%5 == 0:
			e.publish(t, "r", p)
			e.publish(t, "r", p) // duplicate
		default:
			e.publish(t, "r", p)
		}
	}
	// The last one was lost too: the idle head check finds it.
	s.waitSeqs(t, 2, 23)
}

func TestJoinCatchesUpFromRingAndLog(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	e.appendFact(t, "r")
	first := newSub()
	if _, err := e.hub.Join(ctx, "r", first, nil, 50, 0); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	for i := 0; i < 30; i++ { // more than the ring holds
		e.publish(t, "r", e.appendFact(t, "r"))
	}
	first.waitSeqs(t, 0, 31)
	// A second subscriber joining from far back gets everything once.
	second := newSub()
	zero := uint64(0)
	if _, err := e.hub.Join(ctx, "r", second, &zero, 0, 0); err != nil {
		t.Fatal(err)
	}
	e.publish(t, "r", e.appendFact(t, "r"))
	second.waitSeqs(t, 0, 32)
	// Without `after`, the latest tail only.
	third := newSub()
	if _, err := e.hub.Join(ctx, "r", third, nil, 5, 0); err != nil {
		t.Fatal(err)
	}
	third.waitSeqs(t, 27, 5)
	// After leaving, nothing more arrives.
	e.hub.Leave("r", third)
	e.publish(t, "r", e.appendFact(t, "r"))
	second.waitSeqs(t, 0, 33)
	third.waitSeqs(t, 27, 5)
}

func TestEphemeralReachesEverySubscriber(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	e.appendFact(t, "r")
	a, b, other := newSub(), newSub(), newSub()
	for _, s := range []*sub{a, b} {
		if _, err := e.hub.Join(ctx, "r", s, nil, 50, 0); err != nil {
			t.Fatal(err)
		}
	}
	e.appendFact(t, "q")
	if _, err := e.hub.Join(ctx, "q", other, nil, 50, 0); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // the subscriptions are in place
	if err := e.hub.PublishEphemeral(ctx, "r", []byte("typing")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		a.mu.Lock()
		b.mu.Lock()
		done := len(a.eph) == 1 && len(b.eph) == 1
		b.mu.Unlock()
		a.mu.Unlock()
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("ephemeral payload did not reach both subscribers")
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	other.mu.Lock()
	defer other.mu.Unlock()
	if len(other.eph) != 0 || a.eph[0] != "typing" {
		t.Fatalf("other room got %v; a got %v", other.eph, a.eph)
	}
}

// TestBurstDeliveredInOrder publishes a burst in one pipeline, so the room
// takes many frames at once (more than its ring holds), some duplicated and
// some out of order: every subscriber still gets each once, in order.
func TestBurstDeliveredInOrder(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	e.appendFact(t, "b")
	a, b := newSub(), newSub()
	for _, s := range []*sub{a, b} {
		if _, err := e.hub.Join(ctx, "b", s, nil, 10, 0); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(100 * time.Millisecond) // the subscription is in place
	var payloads [][]byte
	for range 300 {
		payloads = append(payloads, e.appendFact(t, "b"))
	}
	pipe := e.rdb.Pipeline()
	for i := range payloads {
		if i%50 == 10 && i+1 < len(payloads) { // swapped with the next one
			payloads[i], payloads[i+1] = payloads[i+1], payloads[i]
		}
		pipe.Publish(ctx, events.RoomChannel(e.prefix, "b"), payloads[i])
		if i%9 == 0 {
			pipe.Publish(ctx, events.RoomChannel(e.prefix, "b"), payloads[i])
		}
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	a.waitSeqs(t, 0, 301)
	b.waitSeqs(t, 0, 301)
}

// countingLog counts the reads a join makes of the log, and the most facts
// one asked for (-1 once a read asked for all).
type countingLog struct {
	hub.Log
	reads  atomic.Int32
	mu     sync.Mutex
	maxAsk int
}

func (l *countingLog) ReadRoom(ctx context.Context, room string, after uint64, n int) ([]events.Stored, uint64, error) {
	l.reads.Add(1)
	l.mu.Lock()
	if n <= 0 {
		l.maxAsk = -1
	} else if l.maxAsk >= 0 {
		l.maxAsk = max(l.maxAsk, n)
	}
	l.mu.Unlock()
	return l.Log.ReadRoom(ctx, room, after, n)
}

func (l *countingLog) ReadRoomTail(ctx context.Context, room string, n int) ([]events.Stored, uint64, error) {
	l.reads.Add(1)
	return l.Log.ReadRoomTail(ctx, room, n)
}

// Joins are served from the room's recent frames when they reach back far
// enough: only the first join of a room, and one asking for more than they
// hold, read the log.
func TestJoinsServedFromRecentFrames(t *testing.T) {
	e := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := &countingLog{Log: hub.JetStreamLog{JS: e.js, Evt: e.evt}}
	h := hub.New(ctx, e.rdb, log, slog.New(slog.DiscardHandler), hub.Options{Prefix: e.prefix, IdleCheck: time.Hour, Ring: 64})
	defer h.Close()
	for range 30 {
		e.appendFact(t, "j")
	}
	a := newSub()
	if head, err := h.Join(ctx, "j", a, nil, 10, 0); err != nil || head != 30 {
		t.Fatalf("first join: head %d, %v", head, err)
	}
	a.waitSeqs(t, 20, 10)
	if n := log.reads.Load(); n != 1 {
		t.Fatalf("the first join read the log %d times, want 1", n)
	}
	b := newSub()
	if _, err := h.Join(ctx, "j", b, nil, 10, 0); err != nil {
		t.Fatal(err)
	}
	b.waitSeqs(t, 20, 10)
	time.Sleep(100 * time.Millisecond) // the subscription is in place
	for range 5 {
		e.publish(t, "j", e.appendFact(t, "j"))
	}
	a.waitSeqs(t, 20, 15)
	after := uint64(25)
	c := newSub()
	if head, err := h.Join(ctx, "j", c, &after, 10, 0); err != nil || head != 35 {
		t.Fatalf("join after 25: head %d, %v", head, err)
	}
	c.waitSeqs(t, 25, 10)
	if n := log.reads.Load(); n != 1 {
		t.Fatalf("joins the recent frames cover read the log: %d reads, want 1", n)
	}
	after = 5
	d := newSub()
	if _, err := h.Join(ctx, "j", d, &after, 10, 0); err != nil {
		t.Fatal(err)
	}
	d.waitSeqs(t, 5, 30)
	if n := log.reads.Load(); n != 2 {
		t.Fatalf("a join reaching further back than the recent frames: %d reads, want 2", n)
	}
}

// appendData appends the room's next fact of typ and returns its frame
// payload and id.
func (e *env) appendData(t *testing.T, room, typ string, data any) ([]byte, uint64) {
	t.Helper()
	e.seq[room]++
	f, err := events.NewFact(typ, room, e.seq[room], "alice", fmt.Sprint("c", room, e.seq[room]), time.Now(), data)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := f.Encode()
	ack, err := e.js.Publish(context.Background(), events.RoomSubject(room), b)
	if err != nil {
		t.Fatal(err)
	}
	frame, err := events.EventFrame(events.Stored{ID: ack.Sequence, Fact: f})
	if err != nil {
		t.Fatal(err)
	}
	return events.EncodeLiveRoom(e.seq[room], frame), ack.Sequence
}

// frameSub keeps the frames it is sent.
type frameSub struct {
	*sub
	frames chan []byte
}

func newFrameSub() *frameSub { return &frameSub{sub: newSub(), frames: make(chan []byte, 1024)} }

func (s *frameSub) Send(b []byte) { s.frames <- b; s.sub.Send(b) }

func (s *frameSub) SendWait(b []byte) bool { s.Send(b); return true }

// texts returns the text of each message.posted frame of the first n frames,
// "<deleted>" for a tombstone.
func (s *frameSub) texts(t *testing.T, n int) []string {
	t.Helper()
	var out []string
	for range n {
		var f struct {
			Data struct {
				Kind string
				Data struct {
					Text        string
					Deleted     bool
					Attachments []events.Attachment
				}
			}
		}
		select {
		case b := <-s.frames:
			if err := json.Unmarshal(b, &f); err != nil {
				t.Fatal(err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("got %d frames of %d", len(out), n)
		}
		switch d := f.Data.Data; {
		case f.Data.Kind != events.MessagePosted:
		case d.Deleted && d.Text == "" && len(d.Attachments) == 0:
			out = append(out, "<deleted>")
		default:
			out = append(out, d.Text)
		}
	}
	return out
}

// A joiner is shown what it was not there for as it stands: a deleted
// message as a tombstone, an edited one with its current text, whether
// the backfill comes from the log or from the room's recent frames; the
// edits and deletes still follow.
func TestJoinBackfillShowsMessagesAsTheyStand(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	e.appendFact(t, "d")
	_, secret := e.appendData(t, "d", events.MessagePosted, events.MessagePostedData{Text: "secret", ClientID: "1",
		Attachments: []events.Attachment{{Key: "a/x/secret.png", Name: "secret.png", ContentType: "image/png", Size: 3}}})
	_, kept := e.appendData(t, "d", events.MessagePosted, events.MessagePostedData{Text: "draft", ClientID: "2"})
	e.appendData(t, "d", events.MessageDeleted, events.MessageDeletedData{ID: secret})
	e.appendData(t, "d", events.MessageEdited, events.MessageEditedData{ID: kept, Text: "final"})

	// From the log: the first join of the room.
	first := newFrameSub()
	zero := uint64(0)
	if _, err := e.hub.Join(ctx, "d", first, &zero, 0, 0); err != nil {
		t.Fatal(err)
	}
	if got := first.texts(t, 5); fmt.Sprint(got) != "[<deleted> final]" {
		t.Fatalf("backfill from the log shows %q", got)
	}
	first.waitSeqs(t, 0, 5)

	// From the recent frames: the post and its delete arrive live.
	time.Sleep(100 * time.Millisecond) // the subscription is in place
	p, gone := e.appendData(t, "d", events.MessagePosted, events.MessagePostedData{Text: "oops", ClientID: "3"})
	e.publish(t, "d", p)
	p, _ = e.appendData(t, "d", events.MessageDeleted, events.MessageDeletedData{ID: gone})
	e.publish(t, "d", p)
	if got := first.texts(t, 2); fmt.Sprint(got) != "[oops]" {
		t.Fatalf("live, a subscriber that was there sees %q", got)
	}
	first.waitSeqs(t, 0, 7)
	second := newFrameSub()
	after := uint64(4)
	if _, err := e.hub.Join(ctx, "d", second, &after, 0, 0); err != nil {
		t.Fatal(err)
	}
	if got := second.texts(t, 3); fmt.Sprint(got) != "[<deleted>]" {
		t.Fatalf("backfill from the recent frames shows %q", got)
	}
	second.waitSeqs(t, 4, 3)
}

// A join far behind reads what it missed a page at a time, not all at once,
// and still gets every fact once, in order.
func TestJoinFarBehindReadsPages(t *testing.T) {
	e := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := &countingLog{Log: hub.JetStreamLog{JS: e.js, Evt: e.evt}}
	h := hub.New(ctx, e.rdb, log, slog.New(slog.DiscardHandler), hub.Options{Prefix: e.prefix, IdleCheck: time.Hour, Ring: 8})
	defer h.Close()
	for range 300 {
		e.appendFact(t, "far")
	}
	after := uint64(10)
	a := newSub()
	if head, err := h.Join(ctx, "far", a, &after, 10, 0); err != nil || head != 300 {
		t.Fatalf("join after 10: head %d, %v", head, err)
	}
	a.waitSeqs(t, 10, 290)
	log.mu.Lock()
	defer log.mu.Unlock()
	if log.maxAsk < 0 || log.maxAsk > 64 {
		t.Fatalf("a join read up to %d facts at once (-1: all), want pages of at most 64", log.maxAsk)
	}
	if n := log.reads.Load(); n < 290/64 {
		t.Fatalf("%d reads of the log for 290 facts", n)
	}
}

// A room's recent frames are bounded in bytes as well as in frames: a join
// reaching back past what the bytes allow reads the log.
func TestRecentFramesBoundedInBytes(t *testing.T) {
	e := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := &countingLog{Log: hub.JetStreamLog{JS: e.js, Evt: e.evt}}
	// Frames here are about 250 bytes: about 10 to 20 are kept, not 64.
	h := hub.New(ctx, e.rdb, log, slog.New(slog.DiscardHandler), hub.Options{Prefix: e.prefix, IdleCheck: time.Hour, Ring: 64, RingBytes: 2500})
	defer h.Close()
	e.appendFact(t, "rb")
	a := newSub()
	if _, err := h.Join(ctx, "rb", a, nil, 10, 0); err != nil {
		t.Fatal(err)
	}
	a.waitSeqs(t, 0, 1)
	time.Sleep(100 * time.Millisecond) // the subscription is in place
	for range 40 {
		e.publish(t, "rb", e.appendFact(t, "rb"))
	}
	a.waitSeqs(t, 0, 41)
	reads := log.reads.Load()
	near := uint64(38)
	b := newSub()
	if _, err := h.Join(ctx, "rb", b, &near, 10, 0); err != nil {
		t.Fatal(err)
	}
	b.waitSeqs(t, 38, 3)
	if n := log.reads.Load(); n != reads {
		t.Fatalf("a join the recent frames cover read the log %d times", n-reads)
	}
	far := uint64(11)
	c := newSub()
	if _, err := h.Join(ctx, "rb", c, &far, 10, 0); err != nil {
		t.Fatal(err)
	}
	c.waitSeqs(t, 11, 30)
	if n := log.reads.Load(); n == reads {
		t.Fatal("a join reaching back 30 frames was served from recent frames held in 2,500 bytes")
	}
}

// A leave drops the subscribers whose user was a member from before it, not
// one that joined again since; a dropped one gets nothing more, and the
// room's last subscriber gone releases it.
func TestLeftDropsSubscribersJoinedBefore(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	for range 3 {
		e.appendFact(t, "lv")
	}
	before, again, other := newSub(), newSub(), newSub()
	for s, member := range map[*sub]uint64{before: 2, again: 5, other: 1} {
		if _, err := e.hub.Join(ctx, "lv", s, nil, 50, member); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(100 * time.Millisecond) // the subscription is in place
	e.publish(t, "lv", e.appendFact(t, "lv"))
	for _, s := range []*sub{before, again, other} {
		s.waitSeqs(t, 0, 4)
	}
	if got := e.hub.Left("lv", 4, []hub.Subscriber{before, again}); len(got) != 1 || got[0] != before {
		t.Fatalf("Left dropped %v, want the one joined before", got)
	}
	if e.hub.Joined("lv", before) || !e.hub.Joined("lv", again) || !e.hub.Joined("lv", other) {
		t.Fatal("Joined after Left: want only the one joined before dropped")
	}
	if got := e.hub.Left("nowhere", 4, []hub.Subscriber{again}); len(got) != 0 {
		t.Fatalf("Left of a room not hosted dropped %v", got)
	}
	e.publish(t, "lv", e.appendFact(t, "lv"))
	again.waitSeqs(t, 0, 5)
	other.waitSeqs(t, 0, 5)
	before.waitSeqs(t, 0, 4)
	// Dropping the rest releases the room: a new joiner starts it afresh.
	if got := e.hub.Left("lv", 6, []hub.Subscriber{again, other}); len(got) != 2 {
		t.Fatalf("Left dropped %v, want 2", got)
	}
	if e.hub.Joined("lv", again) {
		t.Fatal("still joined")
	}
	late := newSub()
	if _, err := e.hub.Join(ctx, "lv", late, nil, 2, 0); err != nil {
		t.Fatal(err)
	}
	late.waitSeqs(t, 3, 2)
}

// gatedSub holds the first frame of its join's backfill until open is
// closed, so a test can act while the join is in progress.
type gatedSub struct {
	*sub
	entered, open chan struct{}
	once          sync.Once
}

func newGatedSub() *gatedSub {
	return &gatedSub{sub: newSub(), entered: make(chan struct{}), open: make(chan struct{})}
}

func (g *gatedSub) SendWait(b []byte) bool {
	g.once.Do(func() {
		close(g.entered)
		<-g.open
	})
	g.Send(b)
	return true
}

// A leave told while a join of the user's socket is still backfilling ends
// that join unsubscribed if the leave came after the membership it joined
// with, as if the join had completed before the leave; a join made as a
// member since the leave completes.
func TestLeftDuringJoin(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	for range 3 {
		e.appendFact(t, "lj")
	}
	stale, since := newGatedSub(), newGatedSub()
	errs := map[*gatedSub]chan error{}
	for s, member := range map[*gatedSub]uint64{stale: 3, since: 4} {
		errs[s] = make(chan error, 1)
		go func() {
			_, err := e.hub.Join(ctx, "lj", s, nil, 50, member)
			errs[s] <- err
		}()
		<-s.entered
	}
	if got := e.hub.Left("lj", 4, []hub.Subscriber{stale, since}); len(got) != 0 {
		t.Fatalf("Left dropped %v while both were joining", got)
	}
	close(stale.open)
	close(since.open)
	if err := <-errs[stale]; !errors.Is(err, hub.ErrLeft) {
		t.Fatalf("join as a member before the leave: %v, want ErrLeft", err)
	}
	if err := <-errs[since]; err != nil {
		t.Fatalf("join as a member since the leave: %v", err)
	}
	if e.hub.Joined("lj", stale) || !e.hub.Joined("lj", since) {
		t.Fatalf("joined: before the leave %v, since %v; want false, true", e.hub.Joined("lj", stale), e.hub.Joined("lj", since))
	}
	time.Sleep(100 * time.Millisecond) // the subscription is in place
	e.publish(t, "lj", e.appendFact(t, "lj"))
	since.waitSeqs(t, 0, 4)
	stale.waitSeqs(t, 0, 1) // the frame it was sending when told; no more
}

// A join the caller expects before its membership is decided keeps a leave
// told meanwhile, before the hub has the join: Join with a membership
// from before that leave refuses. Once done, the leave is forgotten.
func TestExpectKeepsLeaveForJoin(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	e.appendFact(t, "lx")
	s := newSub()
	done := e.hub.Expect("lx", s)
	e.hub.Left("lx", 5, []hub.Subscriber{s})
	if _, err := e.hub.Join(ctx, "lx", s, nil, 50, 4); !errors.Is(err, hub.ErrLeft) {
		t.Fatalf("join as a member before the leave: %v, want ErrLeft", err)
	}
	if e.hub.Joined("lx", s) {
		t.Fatal("subscribed after the leave")
	}
	if _, err := e.hub.Join(ctx, "lx", s, nil, 50, 5); err != nil || !e.hub.Joined("lx", s) {
		t.Fatalf("join as a member since the leave: %v, joined %v", err, e.hub.Joined("lx", s))
	}
	e.hub.Leave("lx", s)
	done()
	if _, err := e.hub.Join(ctx, "lx", s, nil, 50, 1); err != nil || !e.hub.Joined("lx", s) {
		t.Fatalf("a join after done: %v, joined %v; want the leave forgotten", err, e.hub.Joined("lx", s))
	}
}

// TestChannelsSurviveALeaveAndAJoinAtOnce: a room's last subscriber leaves
// as another joins, and a user's last socket closes as the next one opens.
// Each time the gateway must stay subscribed to the channels, whatever
// order the two land in: an unsubscribe of the one leaving that reached
// Redis after the subscribe of the one joining would leave the channel dead
// (no typing in the room, no membership news for the user's new socket).
func TestChannelsSurviveALeaveAndAJoinAtOnce(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	e.appendFact(t, "r")
	room := []string{events.RoomChannel(e.prefix, "r"), events.RoomEphemeralChannel(e.prefix, "r")}
	user := events.UserChannel(e.prefix, "u")
	got := make(chan string, 1)
	fn := func(p []byte) {
		select {
		case got <- string(p):
		default:
		}
	}
	for i := range 40 {
		a, b := newSub(), newSub()
		if _, err := e.hub.Join(ctx, "r", a, nil, 50, 0); err != nil {
			t.Fatal(err)
		}
		first := e.hub.SubscribeUser("u", fn)
		var second func()
		var wg sync.WaitGroup
		wg.Go(func() { e.hub.Leave("r", a) })
		wg.Go(func() {
			if _, err := e.hub.Join(ctx, "r", b, nil, 50, 0); err != nil {
				t.Error(err)
			}
		})
		wg.Go(first)
		wg.Go(func() { second = e.hub.SubscribeUser("u", fn) })
		wg.Wait()
		for _, ch := range append(room, user) {
			waitSubscribed(t, e.rdb, ch, 1, fmt.Sprintf("round %d", i))
		}
		if err := e.rdb.Publish(ctx, user, "hello").Err(); err != nil {
			t.Fatal(err)
		}
		select {
		case p := <-got:
			if p != "hello" {
				t.Fatalf("round %d: user channel gave %q", i, p)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("round %d: nothing on the user channel", i)
		}
		e.hub.Leave("r", b)
		second()
		for _, ch := range append(room, user) {
			waitSubscribed(t, e.rdb, ch, 0, fmt.Sprintf("round %d, all gone", i))
		}
	}
}

// waitSubscribed waits until Redis counts want subscribers of channel, and
// checks that the count holds.
func waitSubscribed(t *testing.T, rdb *redis.Client, channel string, want int64, when string) {
	t.Helper()
	ctx := context.Background()
	count := func() int64 {
		n, err := rdb.PubSubNumSub(ctx, channel).Result()
		if err != nil {
			t.Fatal(err)
		}
		return n[channel]
	}
	deadline := time.Now().Add(5 * time.Second)
	for count() != want {
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s has %d subscribers, want %d", when, channel, count(), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond) // a late change would have landed
	if n := count(); n != want {
		t.Fatalf("%s: %s has %d subscribers, want %d", when, channel, n, want)
	}
}

// laggingLog answers like a replica of an R3 stream that has not caught
// up, on the reads it is told to: nothing after the position asked for.
type laggingLog struct {
	hub.Log
	mu    sync.Mutex
	calls int
	lag   map[int]bool // by call of ReadRoom, from 1
}

func (l *laggingLog) ReadRoom(ctx context.Context, room string, after uint64, max int) ([]events.Stored, uint64, error) {
	l.mu.Lock()
	l.calls++
	lag := l.lag[l.calls]
	l.mu.Unlock()
	if lag {
		return nil, after, nil
	}
	return l.Log.ReadRoom(ctx, room, after, max)
}

// TestJoinWaitsOutALaggingReplica: a join far behind reads the log a page
// at a time, and a replica that has not caught up answers some of those
// reads with nothing more. The joiner still gets every fact, in order: an
// empty answer below the head the first read gave is asked again.
func TestJoinWaitsOutALaggingReplica(t *testing.T) {
	e := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for range 150 {
		e.appendFact(t, "r")
	}
	// Reads 2 and 3: the second page of the edits' fold and of the
	// backfill (the first page of both is read 1).
	log := &laggingLog{Log: hub.JetStreamLog{JS: e.js, Evt: e.evt}, lag: map[int]bool{2: true, 3: true}}
	h := hub.New(ctx, e.rdb, log, slog.New(slog.DiscardHandler), hub.Options{Prefix: e.prefix, Ring: 8})
	defer h.Close()
	s := newSub()
	after := uint64(0)
	if _, err := h.Join(ctx, "r", s, &after, 50, 0); err != nil {
		t.Fatal(err)
	}
	s.waitSeqs(t, 0, 150)
	if log.calls < 4 {
		t.Fatalf("the log was read %d times; the lagging reads were not asked again", log.calls)
	}
}
