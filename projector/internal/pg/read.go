package pg

import (
	"fmt"

	"github.com/chillin-chat/chillin/events"
)

// sqlReadUpTo moves a user's read position in a room forward, never back:
// read.marked facts of one reader and room only move forward, and joining a
// room (or creating it) counts as having read it up to the join, so that a
// new member does not find the room's whole history unread.
const sqlReadUpTo = `INSERT INTO read_positions (user_id, room_id, seq) VALUES ($1, $2, $3)
ON CONFLICT (user_id, room_id) DO UPDATE SET seq = GREATEST(read_positions.seq, EXCLUDED.seq)`

// foldRead emits the statement of a read.marked fact.
func foldRead(f events.Stored, emit func(string, ...any)) error {
	d, err := events.DecodeData[events.ReadMarkedData](f.Fact)
	if err != nil {
		return err
	}
	if f.User == "" || f.Room == "" || d.Seq == 0 {
		return fmt.Errorf("read.marked without user, room or seq")
	}
	emit(sqlReadUpTo, f.User, f.Room, int64(d.Seq))
	return nil
}
