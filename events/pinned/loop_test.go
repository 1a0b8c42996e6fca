package pinned_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/chillin-chat/chillin/events/pinned"
)

// waiting is how many pull requests of cons wait at the server.
func waiting(t *testing.T, cons jetstream.Consumer) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	info, err := cons.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return info.NumWaiting
}

// Ahead, the next request is open at the server while the last message of
// a full one is handed over; without it, none is until Deliver returns.
func TestLoopAheadOpensTheNextRequestDuringTheHandOver(t *testing.T) {
	for _, tc := range []struct {
		name  string
		ahead bool
	}{{"ahead", true}, {"one at a time", false}} {
		t.Run(tc.name, func(t *testing.T) {
			js, _, cons := setup(t)
			held, release := make(chan string, 2), make(chan struct{})
			in := startLoop(cons, pinned.Loop{Batch: 2, Wait: 2 * time.Second, Ahead: tc.ahead}, func(m jetstream.Msg) {
				_ = m.Ack()
				if string(m.Data()) == "2" {
					held <- "2"
					<-release
				}
			})
			defer in.halt(t)
			defer close(release)
			publish(t, js, "1", "2")
			<-held // the request's last message is being handed over
			if tc.ahead {
				eventually(t, "the next request open", func() bool { return waiting(t, cons) == 1 })
				return
			}
			for range 5 {
				if n := waiting(t, cons); n != 0 {
					t.Fatalf("%d requests open while the last of one is handed over, want 0", n)
				}
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
}

// flushes records what a Loop hands over and the batches it flushes.
type flushes struct {
	mu      sync.Mutex
	pending []string
	batches [][]string
}

func (f *flushes) took(m jetstream.Msg) {
	_ = m.Ack()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pending = append(f.pending, string(m.Data()))
}

func (f *flushes) flush() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.batches = append(f.batches, f.pending)
	f.pending = nil
}

func (f *flushes) state() (batches [][]string, pending []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.batches), slices.Clone(f.pending)
}

// A batch is flushed when full, a while after its first message, when no
// further message waits (FlushIdle) and when its request ended: each case
// is one of these alone, the others being far off (FlushAfter) or later
// than the flush is waited for (Wait).
func TestLoopFlushes(t *testing.T) {
	for _, tc := range []struct {
		name    string
		loop    pinned.Loop
		publish []string
		want    string // the batches flushed, all of them
	}{
		{"a lone message after FlushAfter", pinned.Loop{FlushAfter: 20 * time.Millisecond}, []string{"1"}, "[[1]]"},
		{"a full batch at once", pinned.Loop{FlushAfter: time.Hour}, []string{"1", "2", "3", "4", "5", "6"}, "[[1 2 3 4 5]]"},
		{"as soon as nothing waits", pinned.Loop{FlushAfter: time.Hour, FlushIdle: true}, []string{"1"}, "[[1]]"},
		{"ahead, a full batch at once", pinned.Loop{FlushAfter: time.Hour, Ahead: true}, []string{"1", "2", "3", "4", "5", "6"}, "[[1 2 3 4 5]]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			js, _, cons := setup(t)
			f := &flushes{}
			l := tc.loop
			l.Batch, l.Wait, l.Flush = 5, 2*time.Second, f.flush
			in := startLoop(cons, l, f.took)
			defer in.halt(t)
			publish(t, js, tc.publish...)
			time.Sleep(time.Second)
			if b, _ := f.state(); fmt.Sprint(b) != tc.want {
				t.Fatalf("flushed %v within a second, want %s", b, tc.want)
			}
		})
	}
	t.Run("when the request ends", func(t *testing.T) {
		js, _, cons := setup(t)
		f := &flushes{}
		in := startLoop(cons, pinned.Loop{Batch: 5, Wait: 300 * time.Millisecond, Flush: f.flush, FlushAfter: time.Hour}, f.took)
		defer in.halt(t)
		publish(t, js, "1", "2")
		eventually(t, "the flush", func() bool { b, _ := f.state(); return fmt.Sprint(b) == "[[1 2]]" })
	})
}

// Once ctx has ended, the open request is waited out, not cut short: what
// it still brings is handed over, and nothing is flushed any more. What was
// handed over and not flushed is the caller's to give back.
func TestLoopStopsWithoutFlushingAndWaitsOutTheRequest(t *testing.T) {
	js, _, cons := setup(t)
	f := &flushes{}
	in := startLoop(cons, pinned.Loop{Batch: 5, Wait: 2 * time.Second, Flush: f.flush, FlushAfter: time.Hour}, f.took)
	publish(t, js, "1")
	eventually(t, "the first message", func() bool { _, p := f.state(); return len(p) == 1 })
	eventually(t, "the next request open", func() bool { return waiting(t, cons) == 1 })
	in.stop()
	publish(t, js, "2")
	in.halt(t)
	if b, p := f.state(); len(b) != 0 || fmt.Sprint(p) != "[1 2]" {
		t.Fatalf("flushed %v, held %v; want nothing flushed, [1 2] held", b, p)
	}
}

// A request that ends because this instance lost the pin is told to
// Unpinned: the server refuses a request that carries an old pin id when it
// has a message to deliver.
func TestLoopTellsUnpinned(t *testing.T) {
	js, stream, cons := setup(t)
	var mu sync.Mutex
	unpinned := 0
	in := startLoop(cons, pinned.Loop{Batch: 10, Wait: 200 * time.Millisecond, Unpinned: func() {
		mu.Lock()
		defer mu.Unlock()
		unpinned++
	}}, nil)
	defer in.halt(t)
	publish(t, js, "1")
	eventually(t, "the pin", func() bool { return in.pin.ID() != "" })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := stream.UnpinConsumer(ctx, "c", group); err != nil {
		t.Fatal(err)
	}
	publish(t, js, "2")
	eventually(t, "Unpinned called", func() bool { mu.Lock(); defer mu.Unlock(); return unpinned > 0 })
}
