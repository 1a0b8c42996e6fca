package validator

import (
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// ackLog records the order in which commands are acked.
type ackLog struct {
	mu   sync.Mutex
	seqs []int
}

func (l *ackLog) acked() []int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.seqs)
}

// ackedMsg is a delivered command that records its ack.
type ackedMsg struct {
	jetstream.Msg
	seq int
	log *ackLog
}

func (m ackedMsg) Ack() error {
	m.log.mu.Lock()
	defer m.log.mu.Unlock()
	m.log.seqs = append(m.log.seqs, m.seq)
	return nil
}

func (m ackedMsg) Subject() string { return "chat.cmd.room.r" }

func TestAcksHoldTheNewestWhileCommandsKeepComing(t *testing.T) {
	var l ackLog
	// The timer never fires during the test: it ticks by hand.
	a := &acks{log: slog.New(slog.DiscardHandler), quiet: time.Hour}
	defer a.flush()
	msg := func(seq int) jetstream.Msg { return ackedMsg{seq: seq, log: &l} }
	want := func(step string, seqs ...int) {
		t.Helper()
		if got := l.acked(); !slices.Equal(got, seqs) {
			t.Fatalf("%s: acked %v, want %v", step, got, seqs)
		}
	}

	a.tick()
	want("nothing settled")

	a.add(msg(1))
	want("the newest is held")
	a.add(msg(2))
	a.add(msg(3))
	want("each settled command acks the one before", 1, 2)

	a.tick()
	want("settled since the last tick: still held", 1, 2)
	a.add(msg(4))
	a.tick()
	want("busy: the new newest is held", 1, 2, 3)

	a.tick()
	want("a quiet period: the held one goes", 1, 2, 3, 4)
	a.tick()
	want("nothing left", 1, 2, 3, 4)

	a.add(msg(5))
	a.flush()
	want("stopping: the held one goes", 1, 2, 3, 4, 5)
	a.flush()
	want("nothing left to flush", 1, 2, 3, 4, 5)
}

func TestAcksSendTheHeldOneAfterAQuietPeriod(t *testing.T) {
	var l ackLog
	a := &acks{log: slog.New(slog.DiscardHandler), quiet: time.Millisecond}
	a.add(ackedMsg{seq: 1, log: &l})
	a.add(ackedMsg{seq: 2, log: &l})
	deadline := time.Now().Add(10 * time.Second)
	for !slices.Equal(l.acked(), []int{1, 2}) {
		if time.Now().After(deadline) {
			t.Fatalf("acked %v after 10 s of quiet, want [1 2]", l.acked())
		}
		time.Sleep(time.Millisecond)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.held != nil || a.timer != nil {
		t.Fatalf("after the quiet period: held %v, timer %v; want neither", a.held, a.timer)
	}
}
