package readmodel

import (
	"context"
	"fmt"
	"time"

	"github.com/chillin-chat/chillin/events"
)

// roomEventsSelect reads the membership facts of room $1 with $2 <= id < $3,
// newest first, at most $4; a room.created with the room's name.
const roomEventsSelect = `SELECT e.id, e.seq, e.kind, e.user_id, e.at, r.name, r.description, r.is_private
FROM room_events e LEFT JOIN rooms r ON r.id = e.room_id AND e.kind = 'room.created'
WHERE e.room_id = $1 AND e.id >= $2 AND e.id < $3
ORDER BY e.id DESC LIMIT $4`

// createdData is the data of a room.created event, as live frames carry it.
type createdData struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	IsPrivate   bool   `json:"isPrivate"`
}

// RoomEvents returns the membership facts of a room (room.created,
// member.joined, member.left) with from <= id < before, as the room's
// `event` frames show them, oldest first: the newest max of them. Postgres
// only: the cache does not hold them. The caller checked that the reader
// may read the room.
func (m *Model) RoomEvents(ctx context.Context, room string, from, before int64, max int) ([]events.EventData, error) {
	rows, err := m.pg.Query(ctx, roomEventsSelect, room, from, before, max)
	if err != nil {
		return nil, fmt.Errorf("membership events of %s: %w", room, err)
	}
	defer rows.Close()
	out := []events.EventData{}
	for rows.Next() {
		var (
			id, seq     int64
			kind, user  string
			at          time.Time
			name, descr *string
			private     *bool
		)
		if err := rows.Scan(&id, &seq, &kind, &user, &at, &name, &descr, &private); err != nil {
			return nil, fmt.Errorf("membership events of %s: %w", room, err)
		}
		ev := events.EventData{Room: room, Seq: uint64(seq), ID: uint64(id), Kind: kind, User: user, At: at.UTC(), Data: struct{}{}}
		if kind == events.RoomCreated && name != nil {
			ev.Data = createdData{Name: *name, Description: *descr, IsPrivate: *private}
		}
		out = append(out, ev)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("membership events of %s: %w", room, err)
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, nil
}
