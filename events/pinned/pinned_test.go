package pinned_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/chillin-chat/chillin/events/natstest"
	"github.com/chillin-chat/chillin/events/pinned"
)

func TestEnded(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want pinned.Outcome
	}{
		{nil, pinned.Done},
		{jetstream.ErrNoMessages, pinned.Done},
		{context.DeadlineExceeded, pinned.Done},
		{fmt.Errorf("fetch: %w", context.Canceled), pinned.Done},
		{jetstream.ErrPinIDMismatch, pinned.Unpinned},
		{jetstream.ErrConsumerNotFound, pinned.Gone},
		{jetstream.ErrConsumerDeleted, pinned.Gone},
		{jetstream.ErrStreamNotFound, pinned.Gone},
		{nats.ErrNoResponders, pinned.Gone},
		{nats.ErrTimeout, pinned.NoAnswer},
		{errors.New("disk full"), pinned.Failed},
	} {
		if got := pinned.Ended(tc.err); got != tc.want {
			t.Errorf("Ended(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
}

const group = "g"

// consumerConfig is a pinned consumer whose pin, once given, lasts longer
// than any test: a standby is fed only if the pinned instance unpins.
var consumerConfig = jetstream.ConsumerConfig{
	Durable: "c", AckPolicy: jetstream.AckExplicitPolicy,
	PriorityPolicy: jetstream.PriorityPolicyPinned, PinnedTTL: 5 * time.Minute, PriorityGroups: []string{group},
}

func setup(t *testing.T) (jetstream.JetStream, jetstream.Stream, jetstream.Consumer) {
	t.Helper()
	_, js := natstest.Connect(t, natstest.Start(t))
	ctx := context.Background()
	s, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "T", Subjects: []string{"t"}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.CreateOrUpdateConsumer(ctx, consumerConfig)
	if err != nil {
		t.Fatal(err)
	}
	return js, s, c
}

// instance is one puller of the consumer: it records what it was given,
// acks it and notes its pin.
type instance struct {
	pin  pinned.Pin
	mu   sync.Mutex
	got  []string
	stop context.CancelFunc
	done chan struct{}
}

// start runs a Loop of cons with recover as its Recover.
func start(cons jetstream.Consumer, recover func(context.Context, jetstream.Consumer, error) (jetstream.Consumer, bool)) *instance {
	return startLoop(cons, pinned.Loop{Batch: 10, Wait: 200 * time.Millisecond, Recover: recover}, nil)
}

// startLoop runs l on cons, filling in the group, Deliver, the pauses and
// the logger. Every message is acked; with took (if not nil) it is handed
// to took, which acks it if need be.
func startLoop(cons jetstream.Consumer, l pinned.Loop, took func(jetstream.Msg)) *instance {
	in := &instance{done: make(chan struct{})}
	ctx, stop := context.WithCancel(context.Background())
	in.stop = stop
	l.Group = group
	l.Deliver = func(m jetstream.Msg) {
		in.pin.Seen(m)
		in.mu.Lock()
		in.got = append(in.got, string(m.Data()))
		in.mu.Unlock()
		if took != nil {
			took(m)
			return
		}
		_ = m.Ack()
	}
	l.MinBackoff, l.MaxBackoff = 10*time.Millisecond, 100*time.Millisecond
	l.Logger = slog.New(slog.DiscardHandler)
	go func() {
		defer close(in.done)
		l.Run(ctx, cons)
	}()
	return in
}

func (in *instance) received() []string {
	in.mu.Lock()
	defer in.mu.Unlock()
	return append([]string(nil), in.got...)
}

func (in *instance) halt(t *testing.T) {
	t.Helper()
	in.stop()
	select {
	case <-in.done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}

func publish(t *testing.T, js jetstream.JetStream, data ...string) {
	t.Helper()
	for _, d := range data {
		if _, err := js.Publish(context.Background(), "t", []byte(d)); err != nil {
			t.Fatal(err)
		}
	}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Of two instances one is fed, in order; the other is fed once the first
// stops and unpins, long before the pin would have lapsed.
func TestOneInstanceIsFedAndHandsOver(t *testing.T) {
	js, stream, cons := setup(t)
	a := start(cons, nil)
	publish(t, js, "1", "2", "3")
	eventually(t, "the first instance fed", func() bool { return len(a.received()) == 3 })
	if a.pin.ID() == "" {
		t.Fatal("the fed instance has no pin id")
	}
	b := start(cons, nil)
	publish(t, js, "4")
	eventually(t, "the pinned instance fed again", func() bool { return len(a.received()) == 4 })
	time.Sleep(500 * time.Millisecond) // a few requests of b's
	if got := b.received(); len(got) != 0 {
		t.Fatalf("the standby was fed %v while the other held the pin", got)
	}
	if fmt.Sprint(a.received()) != "[1 2 3 4]" {
		t.Fatalf("fed %v, want [1 2 3 4]", a.received())
	}

	a.halt(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := pinned.Unpin(ctx, stream, cons, group, a.pin.ID()); err != nil {
		t.Fatal(err)
	}
	publish(t, js, "5")
	eventually(t, "the standby fed after the unpin", func() bool { return fmt.Sprint(b.received()) == "[5]" })
	b.halt(t)

	// An instance that does not hold the pin unpins nothing.
	if err := pinned.Unpin(ctx, stream, cons, group, a.pin.ID()); err != nil {
		t.Fatal(err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(info.PriorityGroups) != 1 || info.PriorityGroups[0].PinnedClientID != b.pin.ID() {
		t.Fatalf("priority groups %+v, want %s pinned", info.PriorityGroups, b.pin.ID())
	}
}

// A consumer deleted under a running loop is handed to Recover, and the
// loop pulls from the one Recover made again.
func TestLoopRecoversAConsumerGone(t *testing.T) {
	js, stream, cons := setup(t)
	var recovered int
	var mu sync.Mutex
	in := start(cons, func(ctx context.Context, _ jetstream.Consumer, why error) (jetstream.Consumer, bool) {
		if pinned.Ended(why) != pinned.Gone {
			return cons, false
		}
		// A request made while the consumer was gone may be taken by the
		// one made again and then dropped by the loop: what the server
		// handed to it comes again after AckWait, kept short here.
		again := consumerConfig
		again.AckWait = time.Second
		c, err := stream.CreateOrUpdateConsumer(ctx, again)
		if err != nil {
			return cons, false
		}
		mu.Lock()
		recovered++
		mu.Unlock()
		return c, true
	})
	defer in.halt(t)
	publish(t, js, "1")
	eventually(t, "the first message", func() bool { return len(in.received()) == 1 })
	if err := stream.DeleteConsumer(context.Background(), "c"); err != nil {
		t.Fatal(err)
	}
	publish(t, js, "2")
	// The consumer made again starts at the stream's first message: "1"
	// comes once more, and "2", in that order unless a delivery went to a
	// dropped request and came again after AckWait.
	eventually(t, "the messages after the consumer was made again", func() bool {
		return fmt.Sprint(slices.Sorted(slices.Values(in.received()))) == "[1 1 2]"
	})
	mu.Lock()
	defer mu.Unlock()
	if recovered == 0 {
		t.Fatal("Recover was never called for the consumer gone")
	}
}
