package gateway

import (
	"context"
	"net/http"
	"time"
)

// myRoomJSON is a room of the user's own list: the room, and how far the
// user has read it.
type myRoomJSON struct {
	roomJSON
	JoinedAt time.Time `json:"joinedAt"`
	// LastReadSeq is the room seq the user has read up to: their last
	// read.marked in the room or their joining, whichever is later.
	LastReadSeq uint64 `json:"lastReadSeq"`
	// UnreadCount counts the messages after LastReadSeq by others, not
	// deleted; MentionCount those of them that name the user (@username).
	UnreadCount  int `json:"unreadCount"`
	MentionCount int `json:"mentionCount"`
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

// handleMyRooms lists the rooms the user is a member of, in the order
// joined, each with the user's read position and unread and mention
// counts. It is the account's list: the same on every device.
func (s *Server) handleMyRooms(w http.ResponseWriter, r *http.Request) {
	rooms, err := s.myRooms(r.Context(), sessionOf(r).User)
	if err != nil {
		s.log.Warn("list the user's rooms", "err", err)
		s.fail(w, unavailable("your room list"))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"rooms": rooms})
}

func (s *Server) myRooms(ctx context.Context, user string) ([]myRoomJSON, error) {
	rows, err := s.pg.Query(ctx, myRoomsSelect, user, mentionPattern(user))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []myRoomJSON{}
	var members [][]string
	for rows.Next() {
		var (
			rj                myRoomJSON
			m                 []string
			unread, mentioned int64
		)
		if err := rows.Scan(&rj.ID, &rj.Name, &rj.Description, &rj.IsPrivate, &rj.HeadSeq, &rj.CreatedBy, &rj.CreatedAt,
			&rj.MemberCount, &m, &rj.JoinedAt, &rj.LastReadSeq, &unread, &mentioned); err != nil {
			return nil, err
		}
		rj.UnreadCount, rj.MentionCount = int(unread), int(mentioned)
		out = append(out, rj)
		members = append(members, m)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	online := s.onlineSet(ctx)
	for i := range out {
		for _, m := range members[i] {
			if online[m] {
				out[i].OnlineCount++
			}
		}
	}
	return out, nil
}
