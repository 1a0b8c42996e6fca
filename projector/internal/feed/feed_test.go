package feed

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/chillin-chat/chillin/events"
	"github.com/chillin-chat/chillin/events/natstest"
	"github.com/chillin-chat/chillin/projector/internal/backoff"
	"github.com/chillin-chat/chillin/projector/internal/projtest"
)

func setup(tb testing.TB, n int) jetstream.JetStream {
	tb.Helper()
	_, js := natstest.Connect(tb, natstest.Start(tb))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := events.EnsureStreams(ctx, js, events.StreamOptions{}); err != nil {
		tb.Fatal(err)
	}
	var facts []events.Fact
	for i := 1; i <= n; i++ {
		facts = append(facts, projtest.Fact(tb, uint64(i), events.MemberJoined, "lobby", uint64(i), "ann", events.MemberJoinedData{}))
	}
	projtest.Publish(tb, js, facts...)
	return js
}

func config(tb testing.TB, batch int, flush time.Duration) Config {
	tb.Helper()
	log, _ := projtest.Logger(tb)
	cc := events.ProjectionConsumerConfig("test", true, "chat.evt.>")
	// Far beyond the test's patience: a fact that is redelivered in time was
	// given back, not timed out.
	cc.AckWait = 10 * time.Minute
	return Config{View: "test", Consumer: cc, BatchSize: batch, FlushInterval: flush, Logger: log,
		Backoff: backoff.Policy{Initial: time.Millisecond, Max: 10 * time.Millisecond}}
}

// run runs a feed until the returned stop is called.
func run(tb testing.TB, js jetstream.JetStream, cfg Config, apply Apply) (stop func()) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, js, cfg, apply) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					tb.Errorf("Run: %v", err)
				}
			case <-time.After(30 * time.Second):
				tb.Errorf("Run did not return after cancel")
			}
		})
	}
	tb.Cleanup(stop)
	return stop
}

type recorder struct {
	mu      sync.Mutex
	batches [][]uint64
	fail    bool
}

func (r *recorder) apply(_ context.Context, items []Item) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var seqs []uint64
	for _, it := range items {
		seqs = append(seqs, it.Seq)
	}
	r.batches = append(r.batches, seqs)
	if r.fail {
		return errors.New("store unavailable")
	}
	return nil
}

func (r *recorder) snapshot() [][]uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.batches)
}

func ackFloor(tb testing.TB, js jetstream.JetStream) (floor uint64, pending int) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := js.Consumer(ctx, events.EvtStream, "projector-test")
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		return 0, -1 // not made yet
	}
	if err != nil {
		tb.Fatal(err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	return info.AckFloor.Stream, info.NumAckPending
}

func TestFeedFlushesFullBatches(t *testing.T) {
	js := setup(t, 12)
	r := &recorder{}
	run(t, js, config(t, 5, time.Hour), r.apply)
	projtest.Eventually(t, "three batches", func() bool { return len(r.snapshot()) == 3 })
	want := [][]uint64{{1, 2, 3, 4, 5}, {6, 7, 8, 9, 10}, {11, 12}}
	if got := r.snapshot(); !slices.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("batches %v, want %v", got, want)
	}
	projtest.Eventually(t, "all acked", func() bool { floor, pending := ackFloor(t, js); return floor == 12 && pending == 0 })
}

func TestFeedRetriesThenGivesBack(t *testing.T) {
	js := setup(t, 10)
	failing := &recorder{fail: true}
	stop := run(t, js, config(t, 100, time.Millisecond), failing.apply)
	projtest.Eventually(t, "a retry", func() bool { return len(failing.snapshot()) >= 3 })
	// However many facts the first batch caught, every retry is that batch.
	batches := failing.snapshot()
	for _, b := range batches {
		if !slices.Equal(b, batches[0]) || b[0] != 1 {
			t.Fatalf("a failed batch must be offered again whole, got %v", batches)
		}
	}
	if floor, pending := ackFloor(t, js); floor != 0 || pending != 10 {
		t.Fatalf("while failing: ack floor %d, pending %d; want 0, 10", floor, pending)
	}
	stop()

	// Given back with Nak: the next instance gets them at once, in order.
	ok := &recorder{}
	run(t, js, config(t, 100, time.Millisecond), ok.apply)
	projtest.Eventually(t, "all acked", func() bool { floor, pending := ackFloor(t, js); return floor == 10 && pending == 0 })
	var seqs []uint64
	for _, b := range ok.snapshot() {
		seqs = append(seqs, b...)
	}
	if want := []uint64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}; !slices.Equal(seqs, want) {
		t.Fatalf("redelivered %v, want %v", seqs, want)
	}
}

func TestFeedSkipsPoison(t *testing.T) {
	js := setup(t, 2)
	bad := projtest.PublishRaw(t, js, events.RoomSubject("lobby"), []byte(`{"type":"no.such.fact","v":1}`))
	projtest.Publish(t, js, projtest.Fact(t, 4, events.MemberLeft, "lobby", 3, "ann", events.MemberLeftData{}))
	var (
		mu     sync.Mutex
		poison []uint64
	)
	run(t, js, config(t, 100, time.Millisecond), func(_ context.Context, items []Item) error {
		mu.Lock()
		defer mu.Unlock()
		for _, it := range items {
			if it.Err != nil {
				poison = append(poison, it.Seq)
			}
		}
		return nil
	})
	projtest.Eventually(t, "all acked", func() bool { floor, pending := ackFloor(t, js); return floor == 4 && pending == 0 })
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(poison, []uint64{bad}) {
		t.Fatalf("poison %v, want [%d]", poison, bad)
	}
}

// applied flattens what a recorder applied.
func (r *recorder) applied() []uint64 {
	var seqs []uint64
	for _, b := range r.snapshot() {
		seqs = append(seqs, b...)
	}
	return seqs
}

func seqRange(from, to uint64) []uint64 {
	var s []uint64
	for i := from; i <= to; i++ {
		s = append(s, i)
	}
	return s
}

// A consumer keeps its state in memory, so a NATS restart loses it: the feed
// makes it again where the view stands, neither replaying what the view
// applied nor skipping what it did not.
func TestFeedRemakesALostConsumerWhereTheViewStands(t *testing.T) {
	js := setup(t, 12)
	cfg := config(t, 100, 10*time.Millisecond)
	cfg.Start = func(context.Context) (uint64, error) { return 8, nil } // checkpoint 7
	r := &recorder{}
	run(t, js, cfg, r.apply)
	projtest.Eventually(t, "facts 8 to 12 applied", func() bool { return slices.Equal(r.applied(), seqRange(8, 12)) })

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := js.Consumer(ctx, events.EvtStream, "projector-test")
	if err != nil {
		t.Fatal(err)
	}
	if !c.CachedInfo().Config.MemoryStorage {
		t.Fatal("the consumer's state is on disk, want memory")
	}
	if err := js.DeleteConsumer(ctx, events.EvtStream, "projector-test"); err != nil {
		t.Fatal(err)
	}
	var more []events.Fact
	for i := uint64(13); i <= 15; i++ {
		more = append(more, projtest.Fact(t, i, events.MemberJoined, "lobby", i, "ann", events.MemberJoinedData{}))
	}
	projtest.Publish(t, js, more...)
	projtest.Eventually(t, "facts 13 to 15 applied once", func() bool { return slices.Equal(r.applied(), seqRange(8, 15)) })
	time.Sleep(50 * time.Millisecond) // a replay from the start would show by now
	if got := r.applied(); !slices.Equal(got, seqRange(8, 15)) {
		t.Fatalf("applied %v, want 8 to 15 once each", got)
	}
}

// A consumer of an older release keeps its state on disk, or is acked
// fact by fact; neither can be changed in place, so the feed replaces it
// with one of today's config that starts where the view stands.
func TestFeedRemakesAnOlderConsumer(t *testing.T) {
	for name, age := range map[string]func(*jetstream.ConsumerConfig){
		"state on disk":    func(c *jetstream.ConsumerConfig) { c.MemoryStorage = false },
		"acked one by one": func(c *jetstream.ConsumerConfig) { c.AckPolicy = jetstream.AckExplicitPolicy },
	} {
		t.Run(name, func(t *testing.T) {
			js := setup(t, 6)
			cfg := config(t, 100, 10*time.Millisecond)
			old := cfg.Consumer
			age(&old)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if _, err := js.CreateOrUpdateConsumer(ctx, events.EvtStream, old); err != nil {
				t.Fatal(err)
			}
			cfg.Start = func(context.Context) (uint64, error) { return 4, nil }
			r := &recorder{}
			run(t, js, cfg, r.apply)
			projtest.Eventually(t, "facts 4 to 6 applied", func() bool { return slices.Equal(r.applied(), seqRange(4, 6)) })
			c, err := js.Consumer(ctx, events.EvtStream, "projector-test")
			if err != nil {
				t.Fatal(err)
			}
			if have := c.CachedInfo().Config; !have.MemoryStorage || have.AckPolicy != jetstream.AckAllPolicy {
				t.Fatalf("the consumer is still of the older release: memory %v, ack policy %v", have.MemoryStorage, have.AckPolicy)
			}
		})
	}
}

// A batch is acked with one message to the server, whatever its size.
func TestFeedAcksABatchOnce(t *testing.T) {
	js := setup(t, 0)
	acks := make(chan struct{}, 100)
	sub, err := js.Conn().Subscribe("$JS.ACK."+events.EvtStream+".projector-test.>", func(m *nats.Msg) {
		if string(m.Data) == "+ACK" {
			acks <- struct{}{}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	r := &recorder{}
	run(t, js, config(t, 100, 200*time.Millisecond), r.apply)
	projtest.Eventually(t, "the consumer made", func() bool { _, pending := ackFloor(t, js); return pending >= 0 })
	var facts []events.Fact
	for i := uint64(1); i <= 10; i++ {
		facts = append(facts, projtest.Fact(t, i, events.MemberJoined, "lobby", i, "ann", events.MemberJoinedData{}))
	}
	projtest.Publish(t, js, facts...)
	projtest.Eventually(t, "all acked", func() bool { floor, pending := ackFloor(t, js); return floor == 10 && pending == 0 })
	if b := r.snapshot(); len(b) != 1 {
		t.Fatalf("applied in batches %v, want one batch", b)
	}
	if n := len(acks); n != 1 {
		t.Fatalf("%d acks for one batch of 10 facts, want 1", n)
	}
}
