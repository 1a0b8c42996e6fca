package validator

import (
	"log/slog"
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
		if len(acked) != len(seqs) {
			t.Fatalf("%s: acked %v, want %v", step, acked, seqs)
		}
		for i := range seqs {
			if acked[i] != seqs[i] {
				t.Fatalf("%s: acked %v, want %v", step, acked, seqs)
			}
		}
	}

	a.flush(false)
	want("nothing queued")

	a.add(msg(1))
	a.add(msg(2))
	a.add(msg(3))
	a.flush(false)
	want("busy: the newest is held", 1, 2)

	a.add(msg(4))
	a.flush(false)
	want("still busy: the held one goes, the new newest is held", 1, 2, 3)

	a.flush(false)
	want("a quiet period: everything goes", 1, 2, 3, 4)

	a.flush(false)
	want("nothing left", 1, 2, 3, 4)

	a.add(msg(5))
	a.add(msg(6))
	a.flush(true)
	want("stopping: everything goes", 1, 2, 3, 4, 5, 6)
}

func TestAcksRunSendsEverythingWhenStopped(t *testing.T) {
	var acked []int
	a := &acks{log: slog.New(slog.DiscardHandler)}
	for seq := range 100 {
		a.add(ackedMsg{seq: seq, acked: &acked})
	}
	stop := make(chan struct{})
	close(stop)
	a.run(stop)
	if len(acked) != 100 {
		t.Fatalf("acked %d of 100 commands on stop", len(acked))
	}
	for i, seq := range acked {
		if seq != i {
			t.Fatalf("ack %d is of command %d: acks go out in the order commands were settled", i, seq)
		}
	}
}
