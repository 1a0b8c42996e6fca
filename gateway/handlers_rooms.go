package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/chillin-chat/chillin/events"
	"github.com/chillin-chat/chillin/events/password"
	"github.com/chillin-chat/chillin/events/ratelimit"
	"github.com/chillin-chat/chillin/gateway/internal/readmodel"
)

// Pages of the room list and of a room's members: `limit` is the page size,
// `cursor` the `next` of the page before.
const (
	roomPageDefault   = 1000
	memberPageDefault = 100
	memberPageMax     = 500
)

// pageOf reads a list request's limit (checkRequest bounded it) and cursor.
func pageOf(r *http.Request, def, max int) (limit int, cursor string) {
	limit = def
	if v := r.URL.Query().Get("limit"); v != "" {
		limit, _ = strconv.Atoi(v)
	}
	return min(limit, max), r.URL.Query().Get("cursor")
}

// handleRooms lists the rooms in the order they were created, a page at a
// time, those whose name or id contains q when given. A page that has more
// after it carries `next`, the cursor of the following page.
func (s *Server) handleRooms(w http.ResponseWriter, r *http.Request) {
	limit, cursor := pageOf(r, roomPageDefault, maxPageLimit)
	rooms, next, err := s.reads.Rooms(r.Context(), strings.TrimSpace(r.URL.Query().Get("q")), cursor, limit)
	if err != nil {
		s.fail(w, err)
		return
	}
	out := map[string]any{"rooms": s.roomsJSON(r.Context(), rooms)}
	if next != "" {
		out["next"] = next
	}
	writeJSON(w, http.StatusOK, out)
}

// room returns one room as clients see it.
func (s *Server) room(ctx context.Context, id string) (roomJSON, error) {
	rm, err := s.reads.Room(ctx, id)
	if err != nil {
		return roomJSON{}, err
	}
	return s.roomsJSON(ctx, []readmodel.Room{rm})[0], nil
}

// readableRoom returns a room whose history and members user may read.
func (s *Server) readableRoom(ctx context.Context, id, user string) (readmodel.Room, error) {
	rm, err := s.reads.Room(ctx, id)
	if err != nil {
		return readmodel.Room{}, err
	}
	return rm, s.reads.CanRead(ctx, rm, user)
}

func (s *Server) handleRoom(w http.ResponseWriter, r *http.Request) {
	rj, err := s.room(r.Context(), r.PathValue("room"))
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"room": rj})
}

type createRoom struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	IsPrivate   bool   `json:"isPrivate"`
	Password    string `json:"password"`
}

func (s *Server) handleCreateRoom(w http.ResponseWriter, r *http.Request) {
	var c createRoom
	if err := decodeBody(r, &c); err != nil {
		s.fail(w, err)
		return
	}
	c.Name, c.Description = strings.TrimSpace(c.Name), strings.TrimSpace(c.Description)
	id := events.RoomIDFromName(c.Name)
	if e := events.CheckName("name", c.Name, maxRoomName); e != nil {
		e.Code = events.CodeInvalidRoomName
		s.fail(w, e)
		return
	}
	if e := events.CheckName("description", c.Description, maxRoomDescription); e != nil {
		s.fail(w, e)
		return
	}
	switch {
	case id == "":
		s.fail(w, events.Errorf(events.CodeInvalidRoomName, "a room name is at most 100 characters with at least one letter or digit"))
		return
	case c.IsPrivate && c.Password == "":
		s.fail(w, events.Errorf(events.CodeInvalidPassword, "a private room needs a password"))
		return
	case c.Password != "" && (utf8.RuneCountInString(c.Password) < minRoomPassword || len(c.Password) > 256):
		s.fail(w, events.Errorf(events.CodeInvalidPassword, "a room password is 8 to 256 characters"))
		return
	}
	if e := s.allow(r.Context(), sessionOf(r).User, ratelimit.RoomCreate, id); e != nil {
		tooMany(w, e)
		return
	}
	data := events.RoomCreatedData{Name: c.Name, Description: c.Description, IsPrivate: c.IsPrivate || c.Password != ""}
	if data.IsPrivate {
		err := s.hashing(r.Context(), func() (err error) {
			data.PasswordHash, err = password.Hash(c.Password, s.cfg.Password)
			return err
		})
		if err != nil {
			s.failThrottled(w, err)
			return
		}
	}
	sess := sessionOf(r)
	user := sess.User
	now := time.Now().UTC()
	// Create only if absent: the validator appends room.created with the
	// room's expected last sequence 0, so two creators cannot both win.
	err := s.ask(r.Context(), events.CmdRoomCreate, user, sess.ID, id, events.RoomCreate{
		Name: data.Name, Description: data.Description, IsPrivate: data.IsPrivate, PasswordHash: data.PasswordHash,
	})
	if err != nil {
		if e := (*events.Error)(nil); !errors.As(err, &e) {
			s.log.Warn("create room", "room", id, "err", err)
		}
		s.fail(w, err)
		return
	}
	s.log.Info("room created", "room", id, "user", user)
	rj := roomJSON{ID: id, Name: c.Name, Description: c.Description, IsPrivate: data.IsPrivate, MemberCount: 1,
		HeadSeq: 1, CreatedBy: user, CreatedAt: now}
	if s.onlineSet(r.Context())[user] {
		rj.OnlineCount = 1
	}
	writeJSON(w, http.StatusCreated, map[string]any{"room": rj})
}

// historyPage reads a history request's limit and before (MaxInt64 when
// absent).
func historyPage(r *http.Request) (limit int, before int64, err error) {
	limit, before = 50, 1<<63-1
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			return 0, 0, events.Errorf(events.CodeBadRequest, "limit is a number from 1 to 100")
		}
		limit = n
	}
	if v := r.URL.Query().Get("before"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			return 0, 0, events.Errorf(events.CodeBadRequest, "before is a message id")
		}
		before = n
	}
	return limit, before, nil
}

func (s *Server) handleMessages(w http.ResponseWriter, r *http.Request) {
	ctx, room, user := r.Context(), r.PathValue("room"), sessionOf(r).User
	limit, before, err := historyPage(r)
	if err != nil {
		// A room the reader may not read is refused as such first.
		if _, rerr := s.readableRoom(ctx, room, user); rerr != nil {
			err = rerr
		}
		s.fail(w, err)
		return
	}
	msgs, more, err := s.reads.History(ctx, room, user, before, limit)
	if err != nil {
		s.fail(w, err)
		return
	}
	msgs, more = fitHistory(msgs, more)
	out := map[string]any{"messages": msgs, "hasMore": more}
	ectx, cancel := context.WithTimeout(ctx, historyEventsWait)
	evs, err := s.reads.RoomEvents(ectx, room, historyFrom(msgs, more, before), before, historyEventsMax)
	cancel()
	if err != nil {
		// The cache answered the messages while Postgres is away: the
		// page goes without its membership lines rather than not at all.
		s.log.Warn("history events", "room", room, "err", err)
	} else {
		out["messages"], out["hasMore"], out["events"] = fitHistoryEvents(msgs, more, evs)
	}
	writeJSON(w, http.StatusOK, out)
}

// historyEventsMax bounds the membership events (room.created,
// member.joined, member.left) of one history page; historyEventsWait the
// wait for them, so that a Postgres that hangs does not hold up a page the
// cache answered.
const (
	historyEventsMax  = 100
	historyEventsWait = time.Second
)

// historyFrom is the lowest fact id whose membership events belong to a
// page of messages (oldest first) read below before: those older than its
// oldest message come with the next page, unless none is older. The pages
// of a room thus share out its events, each exactly once.
func historyFrom(msgs []events.Message, more bool, before int64) int64 {
	switch {
	case !more:
		return 0
	case len(msgs) == 0:
		return before
	}
	return int64(msgs[0].ID)
}

// fitHistoryEvents keeps a page's messages and membership events (both
// oldest first) within the reply budget: the events take their bytes
// first, the newest messages that fit the rest stay (see fitHistory), and
// the events older than the oldest message left go with the next page.
func fitHistoryEvents(msgs []events.Message, more bool, evs []events.EventData) ([]events.Message, bool, []events.EventData) {
	b, err := json.Marshal(evs)
	if err != nil || len(evs) == 0 {
		return msgs, more, evs
	}
	if n := fitJSONFromEnd(msgs, replyBudget-replyFrame-len(b)); n < len(msgs) {
		msgs, more = msgs[len(msgs)-n:], true
		from := uint64(1<<63 - 1)
		if len(msgs) > 0 {
			from = msgs[0].ID
		}
		evs = slices.DeleteFunc(evs, func(e events.EventData) bool { return e.ID < from })
	}
	return msgs, more, evs
}

// members returns a page of a room's members: at most limit of them, in
// user id order, after the user id cursor, within budget bytes of JSON;
// next is the cursor of the following page, "" after the last.
func (s *Server) members(ctx context.Context, room, cursor string, limit, budget int) (page []memberJSON, next string, err error) {
	out, err := s.memberRows(ctx, room, cursor, limit+1)
	if err != nil {
		return nil, "", err
	}
	more := len(out) > limit
	if more {
		out = out[:limit]
	}
	if n := fitJSON(out, budget); n < len(out) {
		out, more = out[:n], true
	}
	if more && len(out) > 0 {
		next = out[len(out)-1].User
	}
	return out, next, nil
}

// memberRows reads at most limit members of room after the user id cursor,
// with their status.
func (s *Server) memberRows(ctx context.Context, room, cursor string, limit int) ([]memberJSON, error) {
	rows, err := s.reads.Members(ctx, room, cursor, limit)
	if err != nil {
		return nil, err
	}
	online := s.onlineSet(ctx)
	out := make([]memberJSON, len(rows))
	var here []string
	for i, m := range rows {
		out[i] = memberJSON{User: m.User, DisplayName: m.DisplayName, Status: "offline"}
		if m.AvatarKey != "" {
			a := "/api/files/" + m.AvatarKey
			out[i].AvatarURL = &a
		}
		if online[m.User] {
			here = append(here, m.User)
		}
	}
	status := s.statusOf(ctx, here)
	for i, m := range out {
		if st, ok := status[m.User]; ok {
			out[i].Status = st
		}
	}
	return out, nil
}

func (s *Server) handleMembers(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	rj, err := s.readableRoom(ctx, r.PathValue("room"), sessionOf(r).User)
	if err != nil {
		s.fail(w, err)
		return
	}
	limit, cursor := pageOf(r, memberPageDefault, memberPageMax)
	members, next, err := s.members(ctx, rj.ID, cursor, limit, replyBudget-replyFrame)
	if err != nil {
		s.log.Warn("members", "room", rj.ID, "err", err)
		s.fail(w, readmodel.Unavailable("the member list"))
		return
	}
	out := map[string]any{"members": members}
	if next != "" {
		out["next"] = next
	}
	writeJSON(w, http.StatusOK, out)
}
