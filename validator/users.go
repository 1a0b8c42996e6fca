package validator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/chillin-chat/chillin/events"
	"github.com/chillin-chat/chillin/validator/internal/decide"
)

// processUser decides a user command (registration, credential upgrade,
// avatar, sessions) and records the outcome, like process does for a room
// command. The user's facts are read from the log for each command (they
// are few, and user commands are rare next to room ones); nothing of them
// is cached. A fact is appended with its subject's expected last sequence,
// the sequence the decision was made on: if the log moved meanwhile, the
// user is read again and the command decided again.
//
// A command past its deadline is still read against the user's facts: an
// earlier attempt may have written its fact and lost the acknowledgement,
// and a command found done is answered as done, not as expired (which has
// its client send it again: a registration would then find its own name
// taken). Anything else it would do, it does not.
func (w *worker) processUser(ctx context.Context, cmd events.Command) error {
	for range maxRedecide {
		now := w.v.now()
		u, err := w.user(ctx, cmd.User)
		if err != nil {
			return err
		}
		in := decide.Input{Cmd: cmd, Now: now}
		if cmd.Session != "" {
			if in.Session, in.SessionKnown, err = w.v.sessions.Lookup(ctx, cmd.User, cmd.Session); err != nil {
				return fmt.Errorf("session of %s: %w", cmd.User, err)
			}
		}
		if target := decide.SessionTarget(cmd); target != "" {
			if in.Target, in.TargetKnown, err = w.v.sessions.Lookup(ctx, cmd.User, target); err != nil {
				return fmt.Errorf("session of %s: %w", cmd.User, err)
			}
		}
		d := decide.DecideUser(u, in)
		if cmd.Expired(now) && (d.Fact != nil || d.Reject != nil) {
			return w.expire(cmd)
		}
		switch {
		case d.Fact != nil:
			subject := decide.FactSubject(*d.Fact)
			expect := u.LastID
			if subject != events.UserSubject(cmd.User) {
				if expect, err = w.lastSeq(ctx, subject); err != nil {
					return err
				}
			}
			seq, err := w.appendUserFact(ctx, subject, expect, cmd, d.Fact)
			if events.IsWrongLastSequence(err) {
				continue // the user's facts moved on: decide again
			}
			if errors.Is(err, errExpired) {
				return w.expire(cmd)
			}
			if err != nil && !errors.Is(err, errDuplicateID) {
				return err
			}
			if err == nil && subject == events.SessionSubject(cmd.User) {
				// A revocation holds for the user's next commands at once,
				// not only once the live feed brings it.
				if err := w.v.sessions.Record(events.Stored{ID: seq, Fact: *d.Fact}); err != nil {
					return fmt.Errorf("record %s: %w", d.Fact.Type, err)
				}
			}
			// A duplicate id is this command's own fact, appended by an
			// earlier attempt (refusals go to another stream).
			w.v.metrics.accepted.WithLabelValues(cmd.Type).Inc()
			w.v.metrics.observeLatency(cmd.At, w.v.now())
			return w.answer(cmd, 0, nil)
		case d.Reject != nil:
			if err := w.reject(ctx, cmd, d.Reject, now); err != nil {
				return err
			}
			w.v.metrics.rejected.WithLabelValues(d.Reject.Code).Inc()
			w.v.metrics.observeLatency(cmd.At, w.v.now())
			return w.answer(cmd, 0, d.Reject)
		default:
			return w.answer(cmd, 0, nil)
		}
	}
	return fmt.Errorf("user %s kept changing while deciding %s", cmd.User, cmd.ID)
}

// user folds the facts of user's subject.
func (w *worker) user(ctx context.Context, id string) (*decide.User, error) {
	ctx, cancel := context.WithTimeout(ctx, publishTimeout)
	defer cancel()
	u := &decide.User{ID: id}
	subject := events.UserSubject(id)
	last, err := w.lastSeq(ctx, subject)
	if err != nil || last == 0 {
		return u, err
	}
	facts, err := events.LeaderReadSubject(ctx, w.v.nc, subject, 1, last)
	if err != nil {
		return nil, fmt.Errorf("read user %s: %w", id, err)
	}
	for _, f := range facts {
		if err := u.Apply(f); err != nil {
			return nil, err
		}
	}
	u.LastID = max(u.LastID, last)
	return u, nil
}

// lastSeq is the stream sequence of the last fact on subject, 0 for none.
// It asks the stream's leader: a user's commands come one after another
// (a session started right after its account was registered), and a
// replica answering a direct get may not have the fact just written yet.
func (w *worker) lastSeq(ctx context.Context, subject string) (uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, publishTimeout)
	defer cancel()
	return events.LeaderLastSeq(ctx, w.v.nc, subject)
}

// appendUserFact records f on subject, only if the subject's last fact is
// still expect, and returns its stream sequence. It returns the
// wrong-last-sequence error as is, and errDuplicateID when JetStream already
// holds a fact with this command id.
func (w *worker) appendUserFact(ctx context.Context, subject string, expect uint64, cmd events.Command, f *events.Fact) (uint64, error) {
	b, err := f.Encode()
	if err != nil {
		return 0, fmt.Errorf("encode %s: %w", f.Type, err)
	}
	ack, err := w.v.commit.append(ctx, subject, b, cmd.ID, expect, cmd.Deadline)
	if err != nil {
		if events.IsWrongLastSequence(err) || errors.Is(err, errExpired) {
			return 0, err
		}
		return 0, fmt.Errorf("append %s of user %s: %w", f.Type, cmd.User, err)
	}
	if ack.Duplicate {
		return 0, errDuplicateID
	}
	if log := w.v.log; log.Enabled(ctx, slog.LevelDebug) {
		log.Debug("appended", "user", cmd.User, "cmd", cmd.ID, "type", f.Type)
	}
	return ack.Sequence, nil
}
