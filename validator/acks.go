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
	log   *slog.Logger
	quiet time.Duration // ackQuiet; tests set their own

	mu    sync.Mutex
	held  jetstream.Msg // the newest settled command, not acked yet
	fresh bool          // held was settled since the last tick
	timer *time.Timer   // runs tick every quiet period while a command is held
}

// add acks the command held so far and holds m instead.
func (a *acks) add(m jetstream.Msg) {
	a.mu.Lock()
	prev := a.held
	a.held, a.fresh = m, true
	if a.timer == nil {
		a.timer = time.AfterFunc(a.quiet, a.tick)
	}
	a.mu.Unlock()
	a.ack(prev)
}

// tick acks the held command if it was settled before the previous tick,
// and otherwise waits another quiet period.
func (a *acks) tick() {
	a.mu.Lock()
	var m jetstream.Msg
	if a.fresh { // add armed the timer with it, and only tick and flush stop it
		a.fresh = false
		a.timer.Reset(a.quiet)
	} else {
		m, a.held, a.fresh = a.held, nil, false
		a.timer = nil
	}
	a.mu.Unlock()
	a.ack(m)
}

// flush acks the held command at once; a stopping instance calls it once
// it settles no more commands.
func (a *acks) flush() {
	a.mu.Lock()
	m := a.held
	a.held, a.fresh = nil, false
	if a.timer != nil {
		a.timer.Stop()
		a.timer = nil
	}
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
