package validator

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/chillin-chat/chillin/events"
	"github.com/chillin-chat/chillin/events/ratelimit"
	"github.com/chillin-chat/chillin/validator/internal/decide"
)

// process decides cmd and records the outcome. A nil error means the
// command is settled and may be acked.
//
// A room command is decided on the room's state, then the decision is
// completed step by step: what it needs to know first (uploads, an old
// message, whether a cached state is current), the password upgrade of a
// join, the rate limit and the attachments' claims, and finally the fact,
// the refusal or the answer is recorded. A step that changed what the
// decision rests on asks for it to be made again.
func (w *worker) process(ctx context.Context, cmd events.Command) error {
	if events.IsUserCommand(cmd.Type) {
		return w.processUser(ctx, cmd)
	}
	if cmd.Type == events.CmdRoomRead {
		return w.processRead(ctx, cmd)
	}
	now := w.v.now()
	r, fresh, err := w.room(ctx, cmd.Room)
	if err != nil {
		return err
	}
	if cmd.Expired(now) {
		return w.expireRoomCommand(ctx, cmd, r)
	}
	if r.HasCommand(cmd.ID) {
		// A previous attempt (perhaps by an instance that stopped before
		// acking) already appended this command's fact.
		return w.answer(cmd, r.Head, nil)
	}
	sess, known, err := w.v.sessions.Lookup(ctx, cmd.User, cmd.Session)
	if err != nil {
		return fmt.Errorf("session of %s: %w", cmd.User, err)
	}
	a := &attempt{w: w, cmd: cmd, r: r, fresh: fresh, now: now,
		in: decide.Input{Cmd: cmd, Session: sess, SessionKnown: known, Now: now, MaxTextRunes: w.v.cfg.MaxTextRunes, Media: w.v.media != nil}}
	steps := [...]func(context.Context, *decide.Decision) (next, error){
		a.gather, a.confirm, a.upgrade, a.limit, a.claim, a.record,
	}
	for range maxRedecide {
		d := decide.Decide(a.r, a.in)
		for _, step := range steps {
			n, err := step(ctx, &d)
			if err != nil || n == settled {
				return err
			}
			if n == decideAgain {
				break
			}
		}
	}
	return fmt.Errorf("room %s kept changing while deciding %s", cmd.Room, cmd.ID)
}

// next is what a step of an attempt leaves to do.
type next int

const (
	goOn        next = iota // the next step, with the decision as it stands
	decideAgain             // a new decision, on what the step learned
	settled                 // nothing: the command is settled
)

// attempt is one command being decided on a room's state.
type attempt struct {
	w     *worker
	cmd   events.Command
	r     *decide.Room
	fresh bool // r was read from the log since this attempt began
	in    decide.Input
	now   time.Time
}

// gather reads what the decision asked to know first: the uploads of the
// attachments, a message older than the room's window, or
// whether a clientId older than the room's digests was posted.
func (a *attempt) gather(ctx context.Context, d *decide.Decision) (next, error) {
	var err error
	switch {
	case d.Inspect != nil:
		if a.in.Uploads, err = a.w.inspect(ctx, d.Inspect); err != nil {
			return settled, err
		}
		return decideAgain, nil
	case d.Lookup != 0:
		old, err := a.w.lookup(ctx, a.r, d.Lookup)
		if err != nil {
			return settled, err
		}
		if a.in.Logged == nil {
			a.in.Logged = map[uint64]decide.OldMessage{}
		}
		a.in.Logged[d.Lookup] = old
		return decideAgain, nil
	case d.Archive != nil:
		id, err := a.w.archived(ctx, *d.Archive)
		if err != nil {
			return settled, err
		}
		if a.in.Archived == nil {
			a.in.Archived = map[decide.ArchiveQuery]uint64{}
		}
		a.in.Archived[*d.Archive] = id
		return decideAgain, nil
	}
	return goOn, nil
}

// confirm never lets a cached "no" or "nothing to do" stand unchecked:
// another instance may have appended while this one was not pinned.
func (a *attempt) confirm(ctx context.Context, d *decide.Decision) (next, error) {
	if !d.Confirm || a.fresh || a.r.Head == 0 {
		return goOn, nil
	}
	changed, err := a.w.confirm(ctx, a.r)
	if err != nil {
		return settled, err
	}
	a.fresh = true
	if !changed {
		return goOn, nil
	}
	return a.catchUp(ctx)
}

// upgrade replaces an imported room's legacy password, which the join
// proved, with argon2id, then has the join decided on the new state.
func (a *attempt) upgrade(ctx context.Context, d *decide.Decision) (next, error) {
	if !d.Upgrade {
		return goOn, nil
	}
	err := a.w.upgradePassword(ctx, a.r, a.cmd, a.in)
	if err != nil && !events.IsWrongLastSequence(err) && !errors.Is(err, errDuplicateID) {
		return settled, err
	}
	if err != nil {
		if a.r, err = a.w.reload(ctx, a.r); err != nil {
			return settled, err
		}
		a.fresh = true
	}
	return decideAgain, nil
}

// limit turns a fact into a refusal when the user is over the rate limit
// of its kind.
func (a *attempt) limit(ctx context.Context, d *decide.Decision) (next, error) {
	if kind, limited := ratelimit.KindOf(a.cmd.Type); d.Fact != nil && d.RateLimit && limited {
		if ok, wait := a.w.v.limiter.Allow(ctx, a.cmd.User, kind, a.cmd.ID); !ok {
			*d = decide.Decision{Reject: decide.RateLimited(a.cmd.Type, wait)}
		}
	}
	return goOn, nil
}

// claim takes the attachments of a message for it, or turns the fact into
// a refusal when one is claimed by another.
func (a *attempt) claim(ctx context.Context, d *decide.Decision) (next, error) {
	if d.Fact == nil || len(d.Claim) == 0 {
		return goOn, nil
	}
	e, err := a.w.claim(ctx, d.Claimant, d.Claim)
	if err != nil {
		return settled, err
	}
	if e != nil {
		*d = decide.Decision{Reject: e}
	}
	return goOn, nil
}

// record appends the fact or the refusal and answers the gateway; a fact
// the log refused because the room moved on has the command decided again.
func (a *attempt) record(ctx context.Context, d *decide.Decision) (next, error) {
	w, cmd := a.w, a.cmd
	switch {
	case d.Fact != nil:
		appendErr := w.append(ctx, a.r, cmd, d.Fact)
		if appendErr == nil {
			w.v.metrics.accepted.WithLabelValues(cmd.Type).Inc()
			w.v.metrics.observeLatency(cmd.At, w.v.now())
			return settled, w.answer(cmd, a.r.Head, nil)
		}
		if errors.Is(appendErr, errExpired) {
			return settled, w.expireRoomCommand(ctx, cmd, a.r)
		}
		if !events.IsWrongLastSequence(appendErr) && !errors.Is(appendErr, errDuplicateID) {
			return settled, appendErr
		}
		// The room moved on under the cached state (another instance, or
		// an earlier attempt of this very command): catch up and decide
		// again.
		n, err := a.catchUp(ctx)
		if n == decideAgain && errors.Is(appendErr, errDuplicateID) {
			w.v.log.Info("command id already recorded as a refusal; not appending", "room", cmd.Room, "cmd", cmd.ID)
			return settled, nil
		}
		return n, err
	case d.Reject != nil:
		if err := w.reject(ctx, cmd, d.Reject, a.now); err != nil {
			return settled, err
		}
		w.v.metrics.rejected.WithLabelValues(d.Reject.Code).Inc()
		w.v.metrics.observeLatency(cmd.At, w.v.now())
		return settled, w.answer(cmd, a.r.Head, d.Reject)
	case d.Resend != 0:
		return settled, w.resend(ctx, cmd, a.r, d.Resend)
	default:
		return settled, w.answer(cmd, a.r.Head, nil)
	}
}

// catchUp reads the facts the room's state lacks: the command is settled if
// one of them is its own, else decided again.
func (a *attempt) catchUp(ctx context.Context) (next, error) {
	var err error
	if a.r, err = a.w.reload(ctx, a.r); err != nil {
		return settled, err
	}
	a.fresh = true
	if a.r.HasCommand(a.cmd.ID) {
		return settled, a.w.answer(a.cmd, a.r.Head, nil)
	}
	return decideAgain, nil
}

// expireRoomCommand drops cmd, whose deadline has passed, unless the room's
// log holds its fact: an earlier attempt, of this instance or another, may
// have written it and lost the acknowledgement with its connection. Only a
// command whose fact is not in the log may be answered as expired, since
// its sender is then told to send it again.
func (w *worker) expireRoomCommand(ctx context.Context, cmd events.Command, r *decide.Room) error {
	if r.HasCommand(cmd.ID) {
		return w.answer(cmd, r.Head, nil)
	}
	if !events.ValidRoomID(r.ID) {
		return w.expire(cmd) // no room, no log to hold it
	}
	changed, err := w.confirm(ctx, r)
	if err != nil {
		return err
	}
	if changed {
		if r, err = w.reload(ctx, r); err != nil {
			return err
		}
		if r.HasCommand(cmd.ID) {
			return w.answer(cmd, r.Head, nil)
		}
	}
	return w.expire(cmd)
}
