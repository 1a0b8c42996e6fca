package validator

import (
	"context"
	"errors"
	"fmt"

	"github.com/chillin-chat/chillin/events"
	"github.com/chillin-chat/chillin/validator/internal/decide"
	"github.com/nats-io/nats.go/jetstream"
)

// A room keeps nothing of its messages older than its window
// (Config.RoomMessages): a command naming one looks it up, with the
// author, deletion and reactions of the message as of the room's last fact
// (docs/adr/0016-archived-idempotency-digests.md).

// sqlOldMessage reads, in one statement and so one snapshot of the view,
// how far the pg view applied this log, and whether the message was deleted
// (NULL: the view has no such message) and its reactions.
const sqlOldMessage = `SELECT
  (SELECT seq FROM projection_checkpoints WHERE view = 'pg' AND log_id = $3),
  (SELECT deleted_at IS NOT NULL FROM messages WHERE id = $1 AND room_id = $2),
  (SELECT array_agg(user_id ORDER BY user_id, emoji) FROM reactions WHERE message_id = $1),
  (SELECT array_agg(emoji ORDER BY user_id, emoji) FROM reactions WHERE message_id = $1)`

// lookup reads message id of r's room, older than its window: its author,
// from its message.posted fact read by id (none: the id is no message of
// the room), then whether it was deleted and its reactions as of r's last
// fact, from the pg view when it has applied the log that far, else from
// the room's facts after the message in the log.
func (w *worker) lookup(ctx context.Context, r *decide.Room, id uint64) (decide.OldMessage, error) {
	old := decide.OldMessage{AsOf: r.LastID}
	posted, ok, err := w.postedFact(ctx, r.ID, id)
	if err != nil || !ok {
		return old, err
	}
	old.Author = posted.User
	a := w.v.archive
	if err := a.oldFromPostgres(ctx, r.ID, id, &old); err == nil {
		a.olds.WithLabelValues("postgres").Inc()
		return old, nil
	} else if !errors.Is(err, errPGCannotAnswer) {
		if ctx.Err() != nil {
			return old, ctx.Err()
		}
		a.logger.Warn("postgres cannot tell an old message's state: reading the log", "room", r.ID, "err", err)
	}
	a.olds.WithLabelValues("log").Inc()
	return old, w.scanOldMessage(ctx, r.ID, id, &old)
}

// postedFact reads the message.posted fact of id in room, if id is one.
func (w *worker) postedFact(ctx context.Context, room string, id uint64) (events.Stored, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, publishTimeout)
	defer cancel()
	m, err := w.v.evt.GetMsg(ctx, id)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return events.Stored{}, false, nil
	}
	if err != nil {
		return events.Stored{}, false, fmt.Errorf("read message %d: %w", id, err)
	}
	if m.Subject != events.RoomSubject(room) {
		return events.Stored{}, false, nil
	}
	s, err := events.DecodeStoredMsg(m)
	if err != nil {
		return events.Stored{}, false, err
	}
	return s, s.Type == events.MessagePosted && s.Room == room, nil
}

// oldFromPostgres fills in the deletion and reactions of message id from
// the pg view, or says why it cannot (errPGCannotAnswer, wrapped, or any
// error).
func (a *archive) oldFromPostgres(ctx context.Context, room string, id uint64, old *decide.OldMessage) error {
	if a.pool == nil {
		return errPGCannotAnswer
	}
	ctx, cancel := context.WithTimeout(ctx, archivePGTimeout)
	defer cancel()
	var (
		applied       *int64
		deleted       *bool
		users, emojis []string
	)
	if err := a.pool.QueryRow(ctx, sqlOldMessage, int64(id), room, a.logID).Scan(&applied, &deleted, &users, &emojis); err != nil {
		return err
	}
	switch {
	case applied == nil || uint64(*applied) < old.AsOf:
		return fmt.Errorf("%w: checkpoint %v of log %s, room at %d", errPGCannotAnswer, applied, a.logID, old.AsOf)
	case deleted == nil || len(users) != len(emojis):
		return fmt.Errorf("%w: no message %d in room %s", errPGCannotAnswer, id, room)
	}
	old.Deleted = *deleted
	old.Reactions = nil
	if !old.Deleted {
		for i := range users {
			old.Reactions = append(old.Reactions, decide.Reaction{User: users[i], Emoji: emojis[i]})
		}
	}
	return nil
}

// scanOldMessage reads the room's facts after message id up to old.AsOf, a
// page at a time, and folds the message's deletion and reactions from them.
func (w *worker) scanOldMessage(ctx context.Context, room string, id uint64, old *decide.OldMessage) error {
	reactions := map[decide.Reaction]bool{}
	deleted := false
	err := w.scanRoom(ctx, room, id+1, old.AsOf, func(f events.Stored) (bool, error) {
		switch f.Type {
		case events.MessageDeleted:
			d, err := events.DecodeData[events.MessageDeletedData](f.Fact)
			if err != nil {
				return false, fmt.Errorf("room %s seq %d: %w", room, f.Seq, err)
			}
			deleted = d.ID == id
		case events.ReactionAdded, events.ReactionRemoved:
			d, err := events.DecodeData[events.ReactionData](f.Fact)
			if err != nil {
				return false, fmt.Errorf("room %s seq %d: %w", room, f.Seq, err)
			}
			if d.ID == id {
				reactions[decide.Reaction{User: f.User, Emoji: d.Emoji}] = f.Type == events.ReactionAdded
			}
		}
		return !deleted, nil
	})
	if err != nil {
		return err
	}
	old.Deleted = deleted
	old.Reactions = nil
	if !deleted {
		for rc, on := range reactions {
			if on {
				old.Reactions = append(old.Reactions, rc)
			}
		}
	}
	return nil
}
