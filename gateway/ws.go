package gateway

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/chillin-chat/chillin/events"
	"github.com/chillin-chat/chillin/gateway/internal/hub"
	"github.com/chillin-chat/chillin/gateway/internal/wsconn"
	"github.com/coder/websocket"
	"github.com/nats-io/nuid"
)

// Limits of one socket.
const (
	maxFrame     = 16 << 10 // larger frames close the socket with 1009
	writeTimeout = 10 * time.Second
	joinTail     = 50   // facts sent on a join without `after`
	maxBackfill  = 1000 // further behind than this, a join gets a snapshot
	syncDefault  = 100  // room:sync page without `limit`
	syncMax      = 500
	closeFlood   = 4008
	closeAllWait = 5 * time.Second // bound on waiting for sockets to close at shutdown
	closeRevoked = 4001
)

func (c *conn) sendFrame(typ, ref string, data any) {
	b, err := json.Marshal(events.ServerFrame{Type: typ, Ref: ref, Data: data})
	if err != nil {
		c.s.log.Error("encode frame", "type", typ, "err", err)
		return
	}
	c.Send(b)
}

func (c *conn) reply(ref string, data map[string]any) {
	data["ok"] = true
	c.sendFrame("reply", ref, data)
}

func (c *conn) replyError(ref string, e *events.Error) {
	c.sendFrame("reply", ref, map[string]any{"ok": false, "error": e})
}

func (c *conn) frameError(ref, code, msg string) {
	c.sendFrame("error", ref, events.Error{Code: code, Message: msg})
}

func (c *conn) reject(ref, room, clientID string, e *events.Error) {
	c.sendFrame("rejected", ref, events.RejectedData{ClientID: clientID, Ref: ref, Room: room, Code: e.Code, Message: e.Message})
}

func (s *Server) handleWS(w http.ResponseWriter, r *http.Request) {
	sess, err := s.authenticate(r.Context(), r)
	if err != nil {
		s.fail(w, err)
		return
	}
	lease, ok := s.reserveSocket(r.Context(), sess.User)
	if !ok {
		s.fail(w, events.Errorf(events.CodeTooManySockets, "at most %d sockets per user; close one first", s.cfg.MaxSocketsPerUser))
		return
	}
	wc, err := wsconn.Accept(w, r, &websocket.AcceptOptions{OriginPatterns: s.cfg.AllowedOrigins}, s.socketConfig())
	if err != nil {
		s.releaseSocket(sess.User, lease)
		return // Accept has answered: 403 for a foreign origin, 400 for a bad handshake
	}
	c := newConn(s, sess, wc)
	c.lease = lease
	s.addConn(c)
	s.watchSession(c)
	s.metrics.conns.Inc()

	user, err := s.user(c.ctx, sess.User)
	if err != nil {
		user = userRecord{ID: sess.User, DisplayName: sess.User}
	}
	c.sendFrame("hello", "", map[string]any{
		"user": user.json(), "sessionExpiresAt": sess.ExpiresAt, "serverTime": time.Now().UTC(),
	})
	// The socket lives on in its own goroutine. This handler returns, and
	// with it the HTTP server's goroutine and request: an idle socket holds
	// one goroutine and little memory.
	go c.Serve(c)
}

type clientFrame struct {
	Type string          `json:"type"`
	Ref  string          `json:"ref"`
	Data json.RawMessage `json:"data"`
}

// Frame handles one frame the peer sent; false if it closed the socket.
func (c *conn) Frame(typ websocket.MessageType, b []byte) bool {
	if !c.limiter.Allow() {
		c.Close(closeFlood, "too many frames")
		return false
	}
	if typ != websocket.MessageText {
		c.frameError("", events.CodeBadFrame, "frames are JSON text")
		return true
	}
	var f clientFrame
	if err := json.Unmarshal(b, &f); err != nil || f.Type == "" {
		c.frameError("", events.CodeBadFrame, "a frame is a JSON object with a type")
		return true
	}
	c.handle(f)
	return true
}

func (c *conn) handle(f clientFrame) {
	handler, ok := frameHandlers[f.Type]
	if !ok {
		c.s.metrics.framesIn.WithLabelValues("unknown").Inc()
		c.frameError(truncate(f.Ref, maxRefLen), "UNKNOWN_TYPE", "unknown frame type "+strconv.Quote(truncate(f.Type, 32)))
		return
	}
	c.s.metrics.framesIn.WithLabelValues(f.Type).Inc()
	if e := checkRef(f.Ref); e != nil {
		c.frameError("", e.Code, e.Message)
		return
	}
	fields, e := decodeFrame(f.Type, f.Data)
	if e != nil {
		c.frameError(f.Ref, e.Code, e.Message)
		return
	}
	if roomScoped(f.Type) && !c.inRoom(*fields.Room) {
		c.refuseNotMember(f.Type, f.Ref, fields)
		return
	}
	if err := handler(c, f); err != nil {
		c.frameError(f.Ref, "MISSING_FIELD", err.Error())
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// frameHandlers handle the client frames, by type.
var frameHandlers = map[string]func(*conn, clientFrame) error{
	"room:join":       (*conn).onJoin,
	"room:leave":      (*conn).onLeave,
	"room:sync":       (*conn).onSync,
	"message:send":    (*conn).onSend,
	"message:edit":    (*conn).onEdit,
	"message:delete":  (*conn).onDelete,
	"reaction:add":    onReaction(events.CmdReactionAdd),
	"reaction:remove": onReaction(events.CmdReactionRemove),
	"heartbeat":       (*conn).onHeartbeat,
	"typing:start":    onTyping(true),
	"typing:stop":     onTyping(false),
	"presence:set":    (*conn).onPresence,
	"room:read":       (*conn).onRead,
}

// decodeData decodes a frame's data; a field error names what is wrong.
func decodeData(f clientFrame, v any) error {
	if len(f.Data) == 0 {
		return errors.New("data is required")
	}
	if err := json.Unmarshal(f.Data, v); err != nil {
		return errors.New("data: " + err.Error())
	}
	return nil
}

func (c *conn) command(typ, room, ref string, data any) (events.Command, error) {
	now := time.Now()
	cmd, err := events.NewCommand(typ, nuid.Next(), c.sess.User, c.sess.ID, room, now, data)
	cmd.Conn, cmd.Ref, cmd.Reply = c.id, ref, events.ReplySubject(c.id)
	cmd.Deadline = now.Add(c.s.cfg.CommandLifetime).UTC()
	return cmd, err
}

// askMembership appends a room.join or room.leave and waits for the
// validator's decision; on failure it answers the frame and reports false.
func (c *conn) askMembership(typ, room, ref string, data any) (events.Outcome, bool) {
	cmd, err := c.command(typ, room, ref, data)
	var o events.Outcome
	if err == nil {
		o, err = c.s.appendAndWait(c.ctx, cmd)
	}
	if err == nil && o.Error != nil {
		err = o.Error
	}
	if err != nil {
		c.replyError(ref, c.s.userError(err))
		return o, false
	}
	return o, true
}

func (c *conn) onJoin(f clientFrame) error {
	var d struct {
		Room     string  `json:"room"`
		Password string  `json:"password"`
		After    *uint64 `json:"after"`
	}
	if err := decodeData(f, &d); err != nil {
		return err
	}
	// From before the join is decided, the hub keeps a leave of the user
	// told meanwhile (in another tab): a join it overtakes does not
	// subscribe.
	defer c.s.hub.Expect(d.Room, c)()
	if d.Password != "" && !c.admitRoomPassword(f.Ref, d.Room) {
		return nil
	}
	o, ok := c.askMembership(events.CmdRoomJoin, d.Room, f.Ref, events.RoomJoin{Password: d.Password})
	if !ok {
		return nil
	}
	if d.Password != "" {
		c.roomPasswordAccepted(d.Room)
	}
	room, err := c.s.room(c.ctx, d.Room)
	if err != nil {
		c.replyError(f.Ref, c.s.userError(err))
		return nil
	}
	// The first page of members; GET /api/rooms/{room}/members?cursor=
	// membersNext serves the rest.
	members, next, err := c.s.members(c.ctx, d.Room, "", memberPageDefault, joinMembersBudget)
	if err != nil {
		members = []memberJSON{} // Postgres is away: the list is for display only
	}
	// The projection may not have applied this join yet: the joiner is a
	// member whatever it says.
	if err == nil && !slices.ContainsFunc(members, func(m memberJSON) bool { return m.User == c.sess.User }) &&
		(next == "" || !c.s.reads.IsMember(c.ctx, d.Room, c.sess.User)) {
		me, err := c.s.user(c.ctx, c.sess.User)
		if err != nil {
			me = userRecord{ID: c.sess.User, DisplayName: c.sess.User}
		}
		members = append(members, memberJSON{User: me.ID, DisplayName: me.DisplayName, AvatarURL: me.json().AvatarURL,
			Status: c.s.statusOf(c.ctx, []string{me.ID})[me.ID]})
		room.MemberCount++
	}
	online := []string{}
	for _, m := range members {
		if m.Status == "online" {
			online = append(online, m.User)
		}
	}
	if room.HeadSeq < o.HeadSeq {
		room.HeadSeq = o.HeadSeq
	}
	if c.rooms[d.Room] {
		c.s.hub.Leave(d.Room, c) // a rejoin restarts delivery from the asked position
		delete(c.rooms, d.Room)
	}
	// Too far behind to replay: send the latest facts and say so; the client
	// reloads history over REST.
	snapshot := d.After != nil && o.HeadSeq > *d.After+maxBackfill
	if snapshot {
		d.After = nil
	}
	answer := map[string]any{"room": room, "headSeq": o.HeadSeq, "members": members, "online": online, "snapshot": snapshot}
	if next != "" {
		answer["membersNext"] = next
	}
	c.reply(f.Ref, answer)
	_, err = c.s.hub.Join(c.ctx, d.Room, c, d.After, joinTail, o.HeadSeq)
	if errors.Is(err, hub.ErrLeft) {
		// The user left the room elsewhere after this join was decided:
		// the socket is as one the leave dropped (it gets, or got, the
		// room:left), and not in c.rooms.
		c.stopTyping(d.Room)
		return nil
	}
	if err != nil {
		c.s.log.Warn("join backfill", "room", d.Room, "user", c.sess.User, "err", err)
		delete(c.rooms, d.Room)
		c.Close(websocket.StatusTryAgainLater, "could not read the room; reconnect")
		return nil
	}
	c.rooms[d.Room] = true
	return nil
}

func (c *conn) onLeave(f clientFrame) error {
	var d struct {
		Room string `json:"room"`
	}
	if err := decodeData(f, &d); err != nil {
		return err
	}
	if _, ok := c.askMembership(events.CmdRoomLeave, d.Room, f.Ref, events.RoomLeave{}); !ok {
		return nil
	}
	if c.rooms[d.Room] {
		c.stopTyping(d.Room)
		c.s.hub.Leave(d.Room, c)
		delete(c.rooms, d.Room)
	}
	c.reply(f.Ref, map[string]any{})
	return nil
}

func (c *conn) onSync(f clientFrame) error {
	var d struct {
		Room  string  `json:"room"`
		After *uint64 `json:"after"`
		Limit int     `json:"limit"`
	}
	if err := decodeData(f, &d); err != nil {
		return err
	}
	limit := d.Limit
	if limit <= 0 {
		limit = syncDefault
	}
	limit = min(limit, syncMax)
	evs, head, last, err := c.s.syncEvents(c.ctx, d.Room, *d.After, limit, replyBudget-replyFrame)
	switch {
	case errors.Is(err, errEncodeFact):
		c.s.log.Error("sync", "room", d.Room, "err", err)
		c.replyError(f.Ref, events.Errorf(events.CodeInternal, "the room could not be read"))
		return nil
	case err != nil:
		c.s.log.Warn("sync", "room", d.Room, "err", err)
		c.replyError(f.Ref, events.Errorf(events.CodeUnavailable, "the room could not be read; try again"))
		return nil
	}
	c.reply(f.Ref, map[string]any{"room": d.Room, "events": evs, "headSeq": head, "complete": last >= head})
	return nil
}

// sendCommand appends a message or reaction command of a room the socket is
// in (handle checked it). Its answer is its fact, which reaches this socket
// through the room, or a `rejected` frame.
func (c *conn) sendCommand(f clientFrame, typ, room, clientID string, data any) error {
	cmd, err := c.command(typ, room, f.Ref, data)
	if err != nil {
		return err
	}
	c.s.hold(c, cmd, f.Ref, room, clientID)
	err = c.s.appendCommand(c.ctx, cmd)
	if err == nil || errors.Is(err, errMaybeQueued) {
		// Answered by its fact or refusal, or once it can no longer be
		// decided (answers.go).
		return nil
	}
	if c.s.settle(cmd.ID) != nil {
		c.reject(f.Ref, room, clientID, c.s.userError(err))
	}
	return nil
}

func (c *conn) onSend(f clientFrame) error {
	var d struct {
		Room        string              `json:"room"`
		ClientID    string              `json:"clientId"`
		Text        *string             `json:"text"`
		Attachments []events.Attachment `json:"attachments"`
		ReplyTo     uint64              `json:"replyTo"`
	}
	if err := decodeData(f, &d); err != nil {
		return err
	}
	return c.sendCommand(f, events.CmdMessageSend, d.Room, d.ClientID,
		events.MessageSend{Text: *d.Text, ClientID: d.ClientID, Attachments: d.Attachments, ReplyTo: d.ReplyTo})
}

func (c *conn) onEdit(f clientFrame) error {
	var d struct {
		Room string  `json:"room"`
		ID   uint64  `json:"id"`
		Text *string `json:"text"`
	}
	if err := decodeData(f, &d); err != nil {
		return err
	}
	return c.sendCommand(f, events.CmdMessageEdit, d.Room, "", events.MessageEdit{ID: d.ID, Text: *d.Text})
}

func (c *conn) onDelete(f clientFrame) error {
	var d struct {
		Room string `json:"room"`
		ID   uint64 `json:"id"`
	}
	if err := decodeData(f, &d); err != nil {
		return err
	}
	return c.sendCommand(f, events.CmdMessageDelete, d.Room, "", events.MessageDelete{ID: d.ID})
}

func onReaction(typ string) func(*conn, clientFrame) error {
	return func(c *conn, f clientFrame) error {
		var d struct {
			Room  string `json:"room"`
			ID    uint64 `json:"id"`
			Emoji string `json:"emoji"`
		}
		if err := decodeData(f, &d); err != nil {
			return err
		}
		return c.sendCommand(f, typ, d.Room, "", events.ReactionChange{ID: d.ID, Emoji: d.Emoji})
	}
}

func (c *conn) onHeartbeat(f clientFrame) error {
	var d struct {
		T json.RawMessage `json:"t"`
	}
	if len(f.Data) > 0 {
		if err := json.Unmarshal(f.Data, &d); err != nil {
			return errors.New("data: " + err.Error())
		}
	}
	c.sendFrame("heartbeat:ack", f.Ref, map[string]any{"t": d.T, "serverTime": time.Now().UTC()})
	return nil
}

// userError returns err as shown to a user: its own code, or a generic one.
func (s *Server) userError(err error) *events.Error {
	var e *events.Error
	if errors.As(err, &e) {
		return e
	}
	s.log.Error("socket request failed", "err", err)
	return events.Errorf(events.CodeInternal, "something went wrong on our side")
}
