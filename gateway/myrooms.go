package gateway

import (
	"errors"
	"net/http"
	"time"

	"github.com/chillin-chat/chillin/events"
	"github.com/chillin-chat/chillin/gateway/internal/readmodel"
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
	// Both look at the newest readmodel.UnreadWindow messages after it;
	// UnreadMore says more follow it, so the counts are "at least".
	UnreadCount  int  `json:"unreadCount"`
	MentionCount int  `json:"mentionCount"`
	UnreadMore   bool `json:"unreadMore"`
}

// Pages of the user's own room list: each room's counts are a bounded
// query (readmodel.UnreadWindow), so a page bounds the whole.
const (
	myRoomPageDefault = 100
	myRoomPageMax     = 500
)

// handleMyRooms lists the rooms the user is a member of, in the order
// joined, a page at a time, each with the user's read position and unread
// and mention counts. It is the account's list: the same on every device.
func (s *Server) handleMyRooms(w http.ResponseWriter, r *http.Request) {
	limit, cursor := pageOf(r, myRoomPageDefault, myRoomPageMax)
	mine, next, err := s.reads.MyRooms(r.Context(), sessionOf(r).User, cursor, limit)
	if err != nil {
		if e := (*events.Error)(nil); errors.As(err, &e) {
			s.fail(w, e)
			return
		}
		s.log.Warn("list the user's rooms", "err", err)
		s.fail(w, readmodel.Unavailable("your room list"))
		return
	}
	rooms := make([]readmodel.Room, len(mine))
	for i, m := range mine {
		rooms[i] = m.Room
	}
	out := make([]myRoomJSON, len(mine))
	for i, rj := range s.roomsJSON(r.Context(), rooms) {
		m := mine[i]
		out[i] = myRoomJSON{roomJSON: rj, JoinedAt: m.JoinedAt, LastReadSeq: m.LastReadSeq,
			UnreadCount: m.Unread, MentionCount: m.Mentions, UnreadMore: m.UnreadMore}
	}
	body := map[string]any{"rooms": out}
	if next != "" {
		body["next"] = next
	}
	writeJSON(w, http.StatusOK, body)
}
