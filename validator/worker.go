package validator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/chillin-chat/chillin/events"
	"github.com/chillin-chat/chillin/events/password"
	"github.com/chillin-chat/chillin/validator/internal/decide"
	"github.com/nats-io/nats.go/jetstream"
)

const (
	backoffMin = 50 * time.Millisecond
	backoffMax = 2 * time.Second
	// maxRedecide bounds how often one attempt reloads the room and decides
	// again because the log moved under it.
	maxRedecide = 32
	// reloadPage is how many facts of a room one read of a reload folds at
	// most: a long history is read in pages, never held whole.
	reloadPage = 4096
)

// errDuplicateID: JetStream already holds a fact with this command id that
// is not in the room (it recorded a refusal of the same command).
var errDuplicateID = errors.New("command id already recorded")

// worker decides the commands of its rooms one at a time, in queue order. It
// owns the room states of those rooms, a cache of the log.
type worker struct {
	v     *validator
	q     chan item
	rooms *roomCache
}

// run decides queued commands in order until the pull loops have stopped and
// the queue is empty. work ends pullWait+shutdownGrace after Run's context:
// commands not settled by then are returned to the server (in queue order,
// though the server may redeliver them in another).
func (w *worker) run(work context.Context) {
	var held []item
	settle := func(it item) {
		if work.Err() != nil || !w.handle(work, it) {
			held = append(held, it)
			return
		}
		w.v.settled(it)
	}
	for {
		select {
		case it := <-w.q:
			settle(it)
		case <-w.v.pullsDone:
			for {
				select {
				case it := <-w.q:
					settle(it)
				default:
					for _, it := range held {
						w.v.nak(it)
					}
					return
				}
			}
		}
	}
}

// handle settles one command: it retries transient failures inline, in
// order, until the command is decided and recorded (true), or ctx ends
// (false: the command is to be returned for redelivery).
func (w *worker) handle(ctx context.Context, it item) bool {
	if it.m != nil && w.v.readBefore(it.p, it.seq) {
		w.v.acks.add(it.m)
		return true
	}
	cmd, err := events.DecodeCommand(it.data())
	if err == nil && !events.ValidUsername(cmd.User) {
		err = fmt.Errorf("command %s: invalid user %q", cmd.ID, cmd.User)
	}
	if err != nil {
		// Nothing can be decided or answered: drop it for good.
		w.v.log.Warn("dropping an unreadable command", "subject", it.subject(), "err", err)
		if it.m == nil {
			return true
		}
		if err := it.m.Term(); err != nil {
			w.v.log.Debug("term", "err", err)
		}
		return true
	}
	backoff := backoffMin
	for attempt := 1; ; attempt++ {
		err := w.process(ctx, cmd)
		if err == nil {
			if it.m != nil {
				w.v.acks.add(it.m)
			}
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		w.v.log.Warn("command failed; retrying", "room", cmd.Room, "user", cmd.User, "cmd", cmd.ID, "attempt", attempt, "err", err)
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return false
		}
		backoff = min(2*backoff, backoffMax)
		// Keep the server from redelivering it while it is being retried.
		if it.m == nil {
			continue
		}
		if err := it.m.InProgress(); err != nil {
			w.v.log.Debug("in progress", "cmd", cmd.ID, "err", err)
		}
	}
}

// inspect looks up the uploads of a message's attachments. Storage that does
// not answer is an error: the command is retried, never rejected for it.
func (w *worker) inspect(ctx context.Context, keys []string) (map[string]decide.Upload, error) {
	ctx, cancel := context.WithTimeout(ctx, publishTimeout)
	defer cancel()
	u, err := w.v.media.Inspect(ctx, keys)
	if err != nil {
		return nil, fmt.Errorf("inspect attachments: %w", err)
	}
	return u, nil
}

// claim attaches the uploads of keys to the message named claimant, in
// order. A key held by another message (claimed between the decision and
// now) is the message's rejection. Keys claimed before such a refusal stay
// claimed by this message, which a resend of it may still use.
func (w *worker) claim(ctx context.Context, claimant string, keys []string) (*events.Error, error) {
	ctx, cancel := context.WithTimeout(ctx, publishTimeout)
	defer cancel()
	for _, key := range keys {
		holder, err := w.v.media.Claim(ctx, key, claimant)
		if err != nil {
			return nil, fmt.Errorf("claim attachment: %w", err)
		}
		if holder != claimant {
			return decide.AttachmentTaken(key, holder), nil
		}
	}
	return nil, nil
}

// newRoom is the empty state of room id, with this validator's windows of
// messages and digests.
func (w *worker) newRoom(id string) *decide.Room {
	r := decide.NewRoom(id)
	r.SetMessageWindow(w.v.cfg.RoomMessages)
	r.SetDigestWindow(w.v.cfg.RoomDigests)
	return r
}

// room returns the state of room id, loading it if it is not held: from
// its snapshot and the facts after it, or else from the log alone. fresh
// reports that it was just read. A room with no facts is never kept: the
// next command looks at the log again.
func (w *worker) room(ctx context.Context, id string) (r *decide.Room, fresh bool, err error) {
	if r, ok := w.rooms.get(id); ok {
		return r, false, nil
	}
	if !events.ValidRoomID(id) {
		return w.newRoom(id), true, nil
	}
	if snap, ok := w.v.states.load(ctx, id); ok {
		saved := snap.LastID
		r, err := w.reload(ctx, snap)
		if err == nil {
			w.v.metrics.roomLoads.WithLabelValues("snapshot").Inc()
			w.rooms.saved(id, saved)
			return r, true, nil
		}
		if ctx.Err() != nil {
			return r, true, err
		}
		w.v.log.Warn("room snapshot does not fit the log: folding the room", "room", id, "err", err)
	}
	w.v.metrics.roomLoads.WithLabelValues("log").Inc()
	r, err = w.reload(ctx, w.newRoom(id))
	return r, true, err
}

// reload brings r up to the log's head, reading the facts it lacks in pages.
// If the log contradicts the state (which only a bug could cause), the state
// is dropped and an error returned; the retry starts from an empty state.
func (w *worker) reload(ctx context.Context, r *decide.Room) (*decide.Room, error) {
	for {
		facts, head, err := w.readRoom(ctx, r)
		if err != nil {
			return r, err
		}
		for _, f := range facts {
			if err := r.Apply(f); err != nil {
				w.rooms.drop(r.ID)
				return w.newRoom(r.ID), err
			}
		}
		if head < r.Head {
			// A state ahead of the log: a snapshot of another log.
			w.rooms.drop(r.ID)
			return w.newRoom(r.ID), fmt.Errorf("room %s: state at seq %d, the log at %d", r.ID, r.Head, head)
		}
		if len(facts) == 0 || r.Head >= head {
			break
		}
	}
	if r.Head > 0 {
		w.rooms.put(r)
	}
	return r, nil
}

// readRoom reads the next page of facts of r's room after r.Head, and the
// room's head seq.
func (w *worker) readRoom(ctx context.Context, r *decide.Room) ([]events.Stored, uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, publishTimeout)
	defer cancel()
	facts, head, err := events.ReadRoom(ctx, w.v.js, w.v.evt, r.ID, r.Head, reloadPage)
	if err != nil {
		return nil, 0, fmt.Errorf("read room %s after seq %d: %w", r.ID, r.Head, err)
	}
	return facts, head, nil
}

// confirm reports whether the log holds facts of the room that r has not
// applied. It asks the stream's leader: a replica answering a direct get
// may not yet have a fact another instance just wrote.
func (w *worker) confirm(ctx context.Context, r *decide.Room) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, publishTimeout)
	defer cancel()
	last, err := events.LeaderLastSeq(ctx, w.v.nc, events.RoomSubject(r.ID))
	if err != nil {
		return false, err
	}
	return last != r.LastID, nil
}

// append records f, decided on r, and applies it to r once JetStream acked
// it: synced to disk, with the facts other workers appended meanwhile. It
// returns the wrong-last-sequence error as is, and errDuplicateID when
// JetStream already holds a fact with this command id.
func (w *worker) append(ctx context.Context, r *decide.Room, cmd events.Command, f *events.Fact) error {
	b, err := f.Encode()
	if err != nil {
		return fmt.Errorf("encode %s: %w", f.Type, err)
	}
	ack, err := w.v.commit.append(ctx, events.RoomSubject(r.ID), b, cmd.ID, r.LastID, cmd.Deadline)
	if err != nil {
		if events.IsWrongLastSequence(err) || errors.Is(err, errExpired) {
			return err
		}
		return fmt.Errorf("append %s to room %s: %w", f.Type, r.ID, err)
	}
	if ack.Duplicate {
		return errDuplicateID
	}
	if err := r.Apply(events.Stored{ID: ack.Sequence, Fact: *f}); err != nil {
		// The fact is in the log; the retry reloads and finds it.
		w.rooms.drop(r.ID)
		return fmt.Errorf("apply own fact: %w", err)
	}
	w.rooms.put(r)
	if log := w.v.log; log.Enabled(ctx, slog.LevelDebug) {
		log.Debug("appended", "room", r.ID, "user", cmd.User, "cmd", cmd.ID, "seq", f.Seq, "type", f.Type)
	}
	return nil
}

// upgradePassword appends the room.password_upgraded fact of a join that
// proved the room's legacy SHA-256 password: the password, hashed with
// argon2id. Its message id is the command id with a suffix, so that the
// join's own fact, which follows under the command id, is not taken for a
// duplicate.
func (w *worker) upgradePassword(ctx context.Context, r *decide.Room, cmd events.Command, in decide.Input) error {
	var p events.RoomJoin
	if err := json.Unmarshal(cmd.Data, &p); err != nil {
		return fmt.Errorf("join payload: %w", err)
	}
	hash, err := password.Hash(p.Password, password.OWASP)
	if err != nil {
		return fmt.Errorf("hash room password: %w", err)
	}
	f, err := decide.PasswordUpgrade(r, in, hash)
	if err != nil {
		return err
	}
	step := cmd
	step.ID = cmd.ID + ".password-upgrade"
	if err := w.append(ctx, r, step, &f); err != nil {
		return err
	}
	w.v.log.Info("room password upgraded to argon2id", "room", r.ID, "user", cmd.User, "cmd", cmd.ID)
	return nil
}

// reject records the refusal of cmd on the sender's rejection subject. The
// command id is the message id, so a retry within the dedup window stores
// nothing new.
func (w *worker) reject(ctx context.Context, cmd events.Command, e *events.Error, now time.Time) error {
	f, err := decide.Rejection(cmd, e, now)
	if err != nil {
		return err
	}
	b, err := f.Encode()
	if err != nil {
		return fmt.Errorf("encode rejection: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, publishTimeout)
	defer cancel()
	if _, err := w.v.js.Publish(ctx, events.RejSubject(cmd.User), b, jetstream.WithMsgID(cmd.ID)); err != nil {
		return fmt.Errorf("record rejection %s of %s: %w", e.Code, cmd.ID, err)
	}
	if log := w.v.log; log.Enabled(ctx, slog.LevelDebug) {
		log.Debug("rejected", "room", cmd.Room, "user", cmd.User, "cmd", cmd.ID, "code", e.Code)
	}
	return nil
}

// resend answers a repeated message with the frame of the original.
func (w *worker) resend(ctx context.Context, cmd events.Command, r *decide.Room, id uint64) error {
	if cmd.Reply == "" {
		return nil
	}
	// Deleted is gone for its author too: the resend gets the tombstone.
	deleted := false
	if m, ok := r.Message(id); ok {
		deleted = m.Deleted
	} else if r.Old(id) {
		old, err := w.lookup(ctx, r, id)
		if err != nil {
			return err
		}
		deleted = old.Deleted
	}
	ctx, cancel := context.WithTimeout(ctx, publishTimeout)
	defer cancel()
	m, err := w.v.evt.GetMsg(ctx, id)
	if err != nil {
		return fmt.Errorf("read message %d: %w", id, err)
	}
	s, err := events.DecodeStoredMsg(m)
	if err != nil {
		return err
	}
	frame, err := events.EventFrame(s)
	if err != nil {
		return fmt.Errorf("frame of message %d: %w", id, err)
	}
	if deleted {
		if frame, err = events.RedactFrame(frame, events.Fate{Deleted: true}); err != nil {
			return err
		}
	}
	return w.publishOutcome(cmd, events.Outcome{Cmd: cmd.ID, HeadSeq: r.Head, Frame: frame})
}

// answer tells the command's gateway how it ended. A membership command's
// client waits for it; for the others the gateway only learns that the
// command was decided (the client's answer is its fact or its refusal).
func (w *worker) answer(cmd events.Command, head uint64, e *events.Error) error {
	if cmd.Reply == "" {
		return nil
	}
	return w.publishOutcome(cmd, events.Outcome{Cmd: cmd.ID, Error: e, HeadSeq: head})
}

// expire drops a command whose deadline passed before it was decided, or
// before its fact was written: nothing of it is written, and its gateway
// is told so, to answer the client that it may send it again.
func (w *worker) expire(cmd events.Command) error {
	w.v.metrics.expired.Inc()
	w.v.log.Info("command expired undecided", "room", cmd.Room, "user", cmd.User, "cmd", cmd.ID, "deadline", cmd.Deadline)
	if cmd.Reply == "" {
		return nil
	}
	return w.publishOutcome(cmd, events.Outcome{Cmd: cmd.ID, Expired: true})
}

func (w *worker) publishOutcome(cmd events.Command, o events.Outcome) error {
	b, err := json.Marshal(o)
	if err != nil {
		return fmt.Errorf("encode outcome: %w", err)
	}
	if err := w.v.nc.Publish(cmd.Reply, b); err != nil {
		return fmt.Errorf("outcome of %s: %w", cmd.ID, err)
	}
	return nil
}
