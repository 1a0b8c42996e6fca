package validator

import (
	"log/slog"
	"slices"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
)

// ackedMsg is a delivered command that records its ack.
type ackedMsg struct {
	jetstream.Msg
	seq   int
	acked *[]int
}

func (m ackedMsg) Ack() error      { *m.acked = append(*m.acked, m.seq); return nil }
func (m ackedMsg) Subject() string { return "chat.cmd.room.r" }

func TestAcksHoldTheNewestWhileCommandsKeepComing(t *testing.T) {
	var acked []int
	a := &acks{log: slog.New(slog.DiscardHandler)}
	msg := func(seq int) jetstream.Msg { return ackedMsg{seq: seq, acked: &acked} }
	want := func(step string, seqs ...int) {
		t.Helper()
		if !slices.Equal(acked, seqs) {
			t.Fatalf("%s: acked %v, want %v", step, acked, seqs)
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

func TestAcksRunAcksTheHeldCommandWhenStopped(t *testing.T) {
	var acked []int
	a := &acks{log: slog.New(slog.DiscardHandler)}
	a.add(ackedMsg{seq: 1, acked: &acked})
	stop := make(chan struct{})
	close(stop)
	a.run(stop)
	if !slices.Equal(acked, []int{1}) {
		t.Fatalf("acked %v on stop, want [1]", acked)
	}
}
