package validator

import (
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// ackEvery is how often the acks of settled commands are sent.
const ackEvery = 10 * time.Millisecond

// acks sends the acks of settled commands in batches, every ackEvery, and
// while commands keep being settled it holds the newest one back.
//
// The command stream is a work queue: an ack removes the command from its
// file store, and when that empties the stream, the store deletes its last
// block file and creates a new one to remember the stream's last sequence.
// Acked one by one, a stream that keeps up runs empty between most commands,
// which costs a file created and deleted each time, under the lock that
// appends wait for. One command left unacked while more arrive keeps the
// stream from running empty; it is acked at the latest one period after the
// commands stop.
//
// A command whose ack is held and never sent (the instance dies) is
// redelivered after the consumer's AckWait and recognised as done, as any
// command acked too late.
type acks struct {
	log *slog.Logger

	mu      sync.Mutex
	pending []jetstream.Msg
	spare   []jetstream.Msg // the previous batch's slice, reused
	added   bool            // a command was settled since the last flush
}

// add queues the ack of a settled command.
func (a *acks) add(m jetstream.Msg) {
	a.mu.Lock()
	a.pending = append(a.pending, m)
	a.added = true
	a.mu.Unlock()
}

// flush sends the queued acks. Unless all is set, it keeps the newest back
// when a command was settled since the last flush.
func (a *acks) flush(all bool) {
	a.mu.Lock()
	batch := a.pending
	a.pending = a.spare[:0]
	a.spare = nil
	if !all && a.added && len(batch) > 0 {
		a.pending = append(a.pending, batch[len(batch)-1])
		batch = batch[:len(batch)-1]
	}
	a.added = false
	a.mu.Unlock()

	for _, m := range batch {
		if err := m.Ack(); err != nil {
			// The command will be redelivered and recognised as done.
			a.log.Warn("ack", "subject", m.Subject(), "err", err)
		}
	}
	clear(batch)
	a.mu.Lock()
	if a.spare == nil {
		a.spare = batch[:0]
	}
	a.mu.Unlock()
}

// run flushes every ackEvery until stop is closed, then sends every ack
// still queued.
func (a *acks) run(stop <-chan struct{}) {
	t := time.NewTicker(ackEvery)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			a.flush(false)
		case <-stop:
			a.flush(true)
			return
		}
	}
}
