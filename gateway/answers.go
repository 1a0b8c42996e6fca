package gateway

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/chillin-chat/chillin/events"
)

// One final answer per command. A message or reaction command is answered
// by its fact, which reaches the socket through the room, or by its
// refusal; the validator also tells the gateway, on the command's reply
// subject, once it has decided. Until then the gateway holds the command
// here. A command that no decision reaches is answered `rejected
// UNAVAILABLE` only when it can no longer be decided: every command carries
// a deadline (events.CommandLifetime) that validators enforce, before they
// decide it and before they write its fact, so once the deadline and
// events.AnswerGrace have passed, nothing of it can reach the log. The
// answer is then true: resending with the same clientId is safe.

// errMaybeQueued is appendCommand's error when JetStream did not confirm a
// command in time: it may have been stored, and may still be decided.
var errMaybeQueued = events.Errorf(events.CodeUnavailable, "the server did not confirm the command in time; try again")

// errUndecided answers a command whose deadline passed undecided.
var errUndecided = events.Errorf(events.CodeUnavailable, "the message was not sent; send it again")

// unanswered is a command held until its decision is known.
type unanswered struct {
	conn                *conn
	ref, room, clientID string
	timer               *time.Timer
}

// hold keeps cmd until settle or, failing that, until its deadline and the
// grace after it have passed; then its socket is told it was not decided.
func (s *Server) hold(c *conn, cmd events.Command, ref, room, clientID string) {
	u := &unanswered{conn: c, ref: ref, room: room, clientID: clientID}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.unanswered[cmd.ID] = u
	u.timer = time.AfterFunc(time.Until(cmd.Deadline)+s.cfg.AnswerGrace, func() {
		if u := s.settle(cmd.ID); u != nil {
			s.metrics.undecided.Inc()
			u.answerUndecided()
		}
	})
}

// settle lets go of the command with id and returns it, or nil if it is not
// held (never was, or answered already).
func (s *Server) settle(id string) *unanswered {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.unanswered[id]
	if u == nil {
		return nil
	}
	delete(s.unanswered, id)
	u.timer.Stop()
	return u
}

func (u *unanswered) answerUndecided() {
	if u.conn.ctx.Err() == nil {
		u.conn.reject(u.ref, u.room, u.clientID, errUndecided)
	}
}

// appendFailed reports whether err says a command was not stored: the
// server refused it, nothing listens, or the connection is away (the
// gateway's connection keeps no reconnect buffer, so a publish made while
// it is away fails at once and is never sent later). Any other error leaves
// it unknown: the command may be stored.
func appendFailed(err error) bool {
	var api *jetstream.APIError
	return errors.As(err, &api) || errors.Is(err, nats.ErrNoResponders) ||
		errors.Is(err, nats.ErrReconnectBufExceeded) || errors.Is(err, nats.ErrConnectionClosed) ||
		errors.Is(err, nats.ErrMaxPayload) || errors.Is(err, nats.ErrBadSubject) ||
		errors.Is(err, context.Canceled)
}
