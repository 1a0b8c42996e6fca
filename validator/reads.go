package validator

import (
	"context"
	"errors"
	"fmt"

	"github.com/chillin-chat/chillin/events"
	"github.com/chillin-chat/chillin/events/ratelimit"
	"github.com/chillin-chat/chillin/validator/internal/decide"
)

// processRead decides a room.read and records the outcome, like process
// does for the other room commands. It comes on the room's command subject,
// so it is decided against the room's state (membership, head), but its
// fact goes on the reader's own subject for the room
// (events.ReadPosSubject), whose last fact is the reader's current
// position there: that fact is read from the log for each command (reads
// come coalesced by the gateways, a few per minute per reader and room)
// and the new one appended only if it is still the last, so two validators
// can never move a position backwards.
func (w *worker) processRead(ctx context.Context, cmd events.Command) error {
	now := w.v.now()
	if cmd.Expired(now) {
		return w.expire(cmd)
	}
	if !events.ValidUsername(cmd.User) {
		return w.reject(ctx, cmd, events.Errorf(events.CodeBadRequest, "invalid user"), now)
	}
	r, fresh, err := w.room(ctx, cmd.Room)
	if err != nil {
		return err
	}
	sess, known, err := w.v.sessions.Lookup(ctx, cmd.User, cmd.Session)
	if err != nil {
		return fmt.Errorf("session of %s: %w", cmd.User, err)
	}
	subject := events.ReadPosSubject(cmd.User, cmd.Room)
	for range maxRedecide {
		last, pos, err := w.readPosition(ctx, subject)
		if err != nil {
			return err
		}
		in := decide.Input{Cmd: cmd, Session: sess, SessionKnown: known, Now: now, ReadSeq: pos}
		d := decide.Decide(r, in)
		if d.Confirm && !fresh {
			// A cached "no" (not a member, no such seq yet): make sure the
			// room did not move on meanwhile.
			changed, err := w.confirm(ctx, r)
			if err != nil {
				return err
			}
			fresh = true
			if changed {
				if r, err = w.reload(ctx, r); err != nil {
					return err
				}
				continue
			}
		}
		if kind, limited := ratelimit.KindOf(cmd.Type); d.Fact != nil && d.RateLimit && limited {
			if ok, wait := w.v.limiter.Allow(ctx, cmd.User, kind, cmd.ID); !ok {
				d = decide.Decision{Reject: decide.RateLimited(cmd.Type, wait)}
			}
		}
		switch {
		case d.Fact != nil:
			_, err := w.appendUserFact(ctx, subject, last, cmd, d.Fact)
			if events.IsWrongLastSequence(err) {
				continue // another read of this reader and room came first
			}
			if errors.Is(err, errExpired) {
				return w.expire(cmd)
			}
			if err != nil && !errors.Is(err, errDuplicateID) {
				return err
			}
			w.v.metrics.accepted.WithLabelValues(cmd.Type).Inc()
			w.v.metrics.observeLatency(cmd.At, w.v.now())
			return w.answer(cmd, r.Head, nil)
		case d.Reject != nil:
			if err := w.reject(ctx, cmd, d.Reject, now); err != nil {
				return err
			}
			w.v.metrics.rejected.WithLabelValues(d.Reject.Code).Inc()
			return w.answer(cmd, r.Head, d.Reject)
		default:
			return w.answer(cmd, r.Head, nil)
		}
	}
	return fmt.Errorf("read position %s kept changing while deciding %s", subject, cmd.ID)
}

// readPosition returns the stream sequence of the last fact on a read
// subject and the room seq it marks; 0, 0 when the reader never read the
// room.
func (w *worker) readPosition(ctx context.Context, subject string) (last, seq uint64, err error) {
	ctx, cancel := context.WithTimeout(ctx, publishTimeout)
	defer cancel()
	s, ok, err := events.LeaderLast(ctx, w.v.nc, subject)
	if err != nil || !ok {
		return 0, 0, err
	}
	d, err := events.DecodeData[events.ReadMarkedData](s.Fact)
	if err != nil {
		return 0, 0, err
	}
	return s.ID, d.Seq, nil
}
