package readmodel

import (
	"context"
	"time"
)

// MyRoom is a room of a user's own list, with how far the user has read it.
type MyRoom struct {
	Room
	JoinedAt time.Time
	// LastReadSeq is the room seq the user has read up to: their last
	// read.marked in the room or their joining, whichever is later.
	LastReadSeq uint64
	// Unread counts the messages after LastReadSeq by others, not deleted;
	// Mentions those of them that name the user (@username).
	Unread, Mentions int
}

// myRoomsSelect lists the rooms $1 is a member of, in the order joined.
// $2 matches a mention of $1: @username not inside a longer name.
const myRoomsSelect = `SELECT r.id, r.name, r.description, r.is_private, r.head_seq, r.created_by, r.created_at,
	(SELECT count(*) FROM room_members x WHERE x.room_id = r.id),
	COALESCE((SELECT array_agg(x.user_id) FROM room_members x WHERE x.room_id = r.id), '{}'),
	m.joined_at, COALESCE(p.seq, 0), u.unread, u.mentions
FROM room_members m
JOIN rooms r ON r.id = m.room_id
LEFT JOIN read_positions p ON p.user_id = m.user_id AND p.room_id = m.room_id
CROSS JOIN LATERAL (
	SELECT count(*) AS unread, count(*) FILTER (WHERE g.text ~* $2) AS mentions
	FROM messages g
	WHERE g.room_id = m.room_id AND g.seq > COALESCE(p.seq, 0) AND g.user_id <> m.user_id AND g.deleted_at IS NULL
) u
WHERE m.user_id = $1
ORDER BY m.joined_at, r.id`

// mentionPattern is the POSIX regular expression of a mention of user (a
// username: lowercase letters, digits, '_' and '-', none special there).
func mentionPattern(user string) string {
	return `(^|[^a-z0-9_-])@` + user + `($|[^a-z0-9_-])`
}

// MyRooms lists the rooms user is a member of, in the order joined, each
// with the user's read position and unread and mention counts. Postgres
// only: the cache holds no read positions.
func (m *Model) MyRooms(ctx context.Context, user string) ([]MyRoom, error) {
	rows, err := m.pg.Query(ctx, myRoomsSelect, user, mentionPattern(user))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []MyRoom{}
	for rows.Next() {
		var (
			r                 MyRoom
			unread, mentioned int64
		)
		if err := rows.Scan(&r.ID, &r.Name, &r.Description, &r.IsPrivate, &r.HeadSeq, &r.CreatedBy, &r.CreatedAt,
			&r.MemberCount, &r.Members, &r.JoinedAt, &r.LastReadSeq, &unread, &mentioned); err != nil {
			return nil, err
		}
		r.Unread, r.Mentions = int(unread), int(mentioned)
		out = append(out, r)
	}
	return out, rows.Err()
}
