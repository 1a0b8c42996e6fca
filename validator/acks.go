package validator

import (
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// ackQuiet is how long the newest settled command waits for its ack when no
// other command is settled after it.
const ackQuiet = 10 * time.Millisecond

// acks holds back the ack of the newest settled command until the next one
// is settled, or until ackQuiet passes without one (at most twice that).
//
// The command stream is a work queue: an ack removes the command from its
// file store, and when that empties the stream, the store deletes its last
// block file and creates a new one to remember the stream's last sequence.
// Acked as soon as they are settled, commands leave a stream that keeps up
// empty between most of them, which costs a file created and deleted each
// time, under the lock that appends wait for. One command left unacked
// while more are settled keeps the stream from running empty.
//
// A held ack that is never sent (the instance dies) is a command redelivered
// after the consumer's AckWait and recognised as done, as any command acked
// too late.
type acks struct {
	log *slog.Logger

	mu    sync.Mutex
	held  jetstream.Msg // the newest settled command, not acked yet
	fresh bool          // held was settled since the last tick
}

// add acks the command held so far and holds m instead.
func (a *acks) add(m jetstream.Msg) {
	a.mu.Lock()
	prev := a.held
	a.held, a.fresh = m, true
	a.mu.Unlock()
	a.ack(prev)
}

// tick acks the held command if it was settled before the previous tick.
func (a *acks) tick() {
	a.mu.Lock()
	var m jetstream.Msg
	if !a.fresh {
		m, a.held = a.held, nil
	}
	a.fresh = false
	a.mu.Unlock()
	a.ack(m)
}

// flush acks the held command.
func (a *acks) flush() {
	a.mu.Lock()
	m := a.held
	a.held, a.fresh = nil, false
	a.mu.Unlock()
	a.ack(m)
}

func (a *acks) ack(m jetstream.Msg) {
	if m == nil {
		return
	}
	if err := m.Ack(); err != nil {
		// The command will be redelivered and recognised as done.
		a.log.Warn("ack", "subject", m.Subject(), "err", err)
	}
}

// run ticks every ackQuiet until stop is closed, then acks the held
// command.
func (a *acks) run(stop <-chan struct{}) {
	t := time.NewTicker(ackQuiet)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			a.tick()
		case <-stop:
			a.flush()
			return
		}
	}
}
