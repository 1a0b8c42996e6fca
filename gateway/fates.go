package gateway

import (
	"context"
	"fmt"
	"time"

	"github.com/chillin-chat/chillin/events"
)

// laterFates returns what became of the given messages of a room as far as
// the Postgres projection knows: the deleted ones and the edited ones with
// their current text. A sync page that ends before the room's head is
// redacted with it (events.ReaderEvents): the edits and deletes beyond the
// page are in the projection, not in the page. A projection a moment behind
// the log leaves a message its text until the page holding its delete,
// which the client folds like any other fact.
func (s *Server) laterFates(ctx context.Context, room string, ids []uint64) (events.Fates, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	keys := make([]int64, len(ids))
	for i, id := range ids {
		keys[i] = int64(id)
	}
	rows, err := s.pg.Query(ctx, `SELECT id, text, edited_at, deleted_at IS NOT NULL FROM messages
		WHERE room_id = $1 AND id = ANY($2) AND (deleted_at IS NOT NULL OR edited_at IS NOT NULL)`, room, keys)
	if err != nil {
		return nil, fmt.Errorf("message fates of %s: %w", room, err)
	}
	defer rows.Close()
	fates := events.Fates{}
	for rows.Next() {
		var (
			id       int64
			text     string
			editedAt *time.Time
			deleted  bool
		)
		if err := rows.Scan(&id, &text, &editedAt, &deleted); err != nil {
			return nil, fmt.Errorf("message fates of %s: %w", room, err)
		}
		switch {
		case deleted:
			fates[uint64(id)] = events.Fate{Deleted: true}
		case editedAt != nil:
			fates[uint64(id)] = events.Fate{Edited: true, Text: text, EditedAt: *editedAt}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("message fates of %s: %w", room, err)
	}
	return fates, nil
}
