package readmodel

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/chillin-chat/chillin/events"
)

// MyRoom is a room of a user's own list, with how far the user has read it.
type MyRoom struct {
	Room
	JoinedAt time.Time
	// LastReadSeq is the room seq the user has read up to: their last
	// read.marked in the room or their joining, whichever is later.
	LastReadSeq uint64
	// Unread counts, of the newest UnreadWindow messages after LastReadSeq,
	// those by others, not deleted; Mentions those of them that name the
	// user (@username). UnreadMore says more messages follow LastReadSeq
	// than were looked at: the counts are lower bounds.
	Unread, Mentions int
	UnreadMore       bool
}

// UnreadWindow is how many of the messages after a read position are
// looked at to count a room's unread messages and mentions: a member far
// behind costs the same as one a window behind.
const UnreadWindow = 100

// myRoomsSelect lists the rooms $1 is a member of, in the order joined,
// those after the membership ($3 joined_at, $4 room) when $3 is given, at
// most $5. $2 matches a mention of $1: @username not inside a longer name.
// Each room's counts look at its newest UnreadWindow messages after the
// position, and one more to tell whether there are more ($6 = the window).
const myRoomsSelect = `SELECT r.id, r.name, r.description, r.is_private, r.head_seq, r.created_by, r.created_at,
	(SELECT count(*) FROM room_members x WHERE x.room_id = r.id),
	COALESCE((SELECT array_agg(x.user_id) FROM room_members x WHERE x.room_id = r.id), '{}'),
	m.joined_at, COALESCE(p.seq, 0), u.unread, u.mentions, u.more
FROM room_members m
JOIN rooms r ON r.id = m.room_id
LEFT JOIN read_positions p ON p.user_id = m.user_id AND p.room_id = m.room_id
CROSS JOIN LATERAL (
	SELECT count(*) FILTER (WHERE g.n <= $6 AND g.theirs) AS unread,
		count(*) FILTER (WHERE g.n <= $6 AND g.theirs AND g.text ~* $2) AS mentions,
		count(*) > $6 AS more
	FROM (
		SELECT row_number() OVER (ORDER BY x.seq DESC) AS n, x.user_id <> m.user_id AND x.deleted_at IS NULL AS theirs, x.text
		FROM messages x
		WHERE x.room_id = m.room_id AND x.seq > COALESCE(p.seq, 0)
		ORDER BY x.seq DESC LIMIT $6 + 1
	) g
) u
WHERE m.user_id = $1 AND ($3::timestamptz IS NULL OR (m.joined_at, m.room_id) > ($3, $4))
ORDER BY m.joined_at, m.room_id
LIMIT $5`

// mentionPattern is the POSIX regular expression of a mention of user (a
// username: lowercase letters, digits, '_' and '-', none special there).
func mentionPattern(user string) string {
	return `(^|[^a-z0-9_-])@` + user + `($|[^a-z0-9_-])`
}

// MyRooms lists the rooms user is a member of, in the order joined, at most
// limit of them after the room cursor (one of the user's rooms), each with
// the user's read position and unread and mention counts; next is the
// cursor of the following page, "" after the last. A cursor that is not a
// room of the user (left since) is BAD_REQUEST: list from the start.
// Postgres only: the cache holds no read positions.
func (m *Model) MyRooms(ctx context.Context, user, cursor string, limit int) (rooms []MyRoom, next string, err error) {
	var after *time.Time
	if cursor != "" {
		var at time.Time
		err := m.pg.QueryRow(ctx, `SELECT joined_at FROM room_members WHERE user_id = $1 AND room_id = $2`, user, cursor).Scan(&at)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, "", events.Errorf(events.CodeBadRequest, "cursor: not one of your rooms (left since?); list from the start")
		}
		if err != nil {
			return nil, "", err
		}
		after = &at
	}
	rows, err := m.pg.Query(ctx, myRoomsSelect, user, mentionPattern(user), after, cursor, limit+1, UnreadWindow)
	if err != nil {
		return nil, "", err
	}
	defer rows.Close()
	out := []MyRoom{}
	for rows.Next() {
		var (
			r                 MyRoom
			unread, mentioned int64
		)
		if err := rows.Scan(&r.ID, &r.Name, &r.Description, &r.IsPrivate, &r.HeadSeq, &r.CreatedBy, &r.CreatedAt,
			&r.MemberCount, &r.Members, &r.JoinedAt, &r.LastReadSeq, &unread, &mentioned, &r.UnreadMore); err != nil {
			return nil, "", err
		}
		r.Unread, r.Mentions = int(unread), int(mentioned)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, "", err
	}
	if len(out) > limit {
		out, next = out[:limit], out[limit-1].ID
	}
	return out, next, nil
}
