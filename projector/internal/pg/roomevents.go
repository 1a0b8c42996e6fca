package pg

import "github.com/chillin-chat/chillin/events"

// sqlInsertRoomEvent records a membership fact of a room (room.created,
// member.joined, member.left) by its room seq, so that history pages show
// its line among the messages (schema 0004_room_events).
const sqlInsertRoomEvent = `INSERT INTO room_events (id, room_id, seq, kind, user_id, at)
VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING`

// emitRoomEvent emits the statement that records membership fact f.
func emitRoomEvent(f events.Stored, emit func(string, ...any)) {
	emit(sqlInsertRoomEvent, int64(f.ID), f.Room, int64(f.Seq), f.Type, f.User, f.At)
}
