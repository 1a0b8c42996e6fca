package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/chillin-chat/chillin/events"
	"github.com/chillin-chat/chillin/events/opshttp"
	"github.com/chillin-chat/chillin/events/password"
	"github.com/chillin-chat/chillin/events/ratelimit"
	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nuid"
)

// Bounds of REST requests.
const (
	maxBody            = 64 << 10              // a request body, in bytes
	maxDisplayName     = events.MaxDisplayName // code points
	maxRoomName        = events.MaxRoomName
	maxRoomDescription = events.MaxRoomDescription
)

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/auth/register", s.handleRegister)
	mux.HandleFunc("POST /api/auth/login", s.handleLogin)
	mux.HandleFunc("POST /api/auth/logout", s.authed(s.handleLogout))
	mux.HandleFunc("POST /api/auth/logout-all", s.authed(s.handleLogoutAll))
	mux.HandleFunc("GET /api/auth/me", s.authed(s.handleMe))
	mux.HandleFunc("GET /api/me/rooms", s.authed(s.handleMyRooms))
	mux.HandleFunc("GET /api/rooms", s.authed(s.handleRooms))
	mux.HandleFunc("POST /api/rooms", s.authed(s.handleCreateRoom))
	mux.HandleFunc("GET /api/rooms/{room}", s.authed(s.handleRoom))
	mux.HandleFunc("GET /api/rooms/{room}/messages", s.authed(s.handleMessages))
	mux.HandleFunc("GET /api/rooms/{room}/members", s.authed(s.handleMembers))
	mux.HandleFunc("POST /api/uploads", s.authed(s.handleUpload))
	mux.HandleFunc("GET /api/files/{key...}", s.authed(s.handleFile))
	mux.HandleFunc("PUT /api/auth/me/avatar", s.authed(s.handleAvatar))
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, events.Errorf(events.CodeNotFound, "no such endpoint"))
	})
	mux.HandleFunc("GET /ws", s.handleWS)
	probes := []opshttp.Probe{
		opshttp.NATS(s.nc),
		{Name: "postgres", Check: s.pg.Ping},
		{Name: "redis", Check: func(ctx context.Context) error { return s.rdb.Ping(ctx).Err() }},
	}
	if s.media != nil {
		probes = append(probes, opshttp.Probe{Name: "storage", Check: s.media.store.Ping})
	}
	ops := opshttp.Handler(s.metrics.registry, probes)
	for _, path := range []string{"GET /health", "GET /ready", "GET /metrics"} {
		mux.Handle(path, ops)
	}
	if s.static != nil {
		mux.Handle("/", s.static)
	}
	return mux
}

type sessionKey struct{}

// authed runs h only for an authenticated request.
func (s *Server) authed(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sess, err := s.authenticate(r.Context(), r)
		if err != nil {
			s.fail(w, err)
			return
		}
		if e := checkRequest(r); e != nil {
			s.fail(w, e)
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), sessionKey{}, sess)))
	}
}

func sessionOf(r *http.Request) session { return r.Context().Value(sessionKey{}).(session) }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, e *events.Error) {
	writeJSON(w, status, map[string]any{"error": e})
}

// statusOf maps a user-facing error code to its HTTP status.
func statusOf(code string) int {
	switch code {
	case events.CodeUnauthenticated, events.CodeInvalidCredentials:
		return http.StatusUnauthorized
	case events.CodeForbidden, events.CodeNotMember, events.CodeWrongPassword:
		return http.StatusForbidden
	case events.CodeNotFound, events.CodeNoSuchRoom:
		return http.StatusNotFound
	case events.CodeUsernameTaken, events.CodeRoomExists:
		return http.StatusConflict
	case events.CodeTooManySockets:
		return http.StatusTooManyRequests
	case events.CodeUnavailable, events.CodeTimeout:
		return http.StatusServiceUnavailable
	case events.CodeInternal:
		return http.StatusInternalServerError
	}
	return http.StatusBadRequest
}

// fail answers with err's code, or a generic 500 for an internal error,
// which is logged and never shown.
func (s *Server) fail(w http.ResponseWriter, err error) {
	var e *events.Error
	if errors.As(err, &e) {
		writeError(w, statusOf(e.Code), e)
		return
	}
	s.log.Error("request failed", "err", err)
	writeError(w, http.StatusInternalServerError, events.Errorf(events.CodeInternal, "something went wrong on our side"))
}

// unavailable wraps a failed projection read into a clear 503.
func unavailable(what string) *events.Error {
	return events.Errorf(events.CodeUnavailable, "%s is temporarily unavailable; sending still works", what)
}

func decodeBody(r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return events.Errorf(events.CodeBadRequest, "invalid JSON body: %v", err)
	}
	return nil
}

type userJSON struct {
	ID          string    `json:"id"`
	Username    string    `json:"username"`
	DisplayName string    `json:"displayName"`
	AvatarURL   *string   `json:"avatarUrl"`
	CreatedAt   time.Time `json:"createdAt"`
}

func (u userRecord) json() userJSON {
	var avatar *string
	if u.AvatarKey != "" {
		a := "/api/files/" + u.AvatarKey
		avatar = &a
	}
	return userJSON{ID: u.ID, Username: u.ID, DisplayName: u.DisplayName, AvatarURL: avatar, CreatedAt: u.CreatedAt}
}

func (s *Server) setSessionCookie(w http.ResponseWriter, token string, expires time.Time) {
	http.SetCookie(w, &http.Cookie{
		Name: cookieName, Value: token, Path: "/", Expires: expires, MaxAge: int(time.Until(expires).Seconds()),
		HttpOnly: true, Secure: s.cfg.SecureCookies, SameSite: http.SameSiteLaxMode,
	})
}

type credentials struct {
	Username    string `json:"username"`
	Password    string `json:"password"`
	DisplayName string `json:"displayName"`
}

func (s *Server) handleRegister(w http.ResponseWriter, r *http.Request) {
	var c credentials
	if err := decodeBody(r, &c); err != nil {
		s.fail(w, err)
		return
	}
	id := events.NormalizeUsername(c.Username)
	c.DisplayName = strings.TrimSpace(c.DisplayName)
	switch {
	case !events.ValidUsername(id):
		s.fail(w, events.Errorf(events.CodeInvalidUsername, "a username is 2 to 32 letters, digits, '_' or '-', starting with a letter or digit"))
		return
	case utf8.RuneCountInString(c.Password) < 8 || len(c.Password) > 256:
		s.fail(w, events.Errorf(events.CodeInvalidPassword, "a password is 8 to 256 characters"))
		return
	}
	if e := events.CheckName("displayName", c.DisplayName, maxDisplayName); e != nil {
		s.fail(w, e)
		return
	}
	if c.DisplayName == "" {
		c.DisplayName = strings.TrimSpace(c.Username)
	}
	if wait := s.attempt(r.Context(), s.registerCounter(clientAddr(r, s.cfg.TrustedProxies))); wait > 0 {
		s.failThrottled(w, tooManyAttempts(wait))
		return
	}
	var hash string
	err := s.hashing(r.Context(), func() (err error) {
		hash, err = password.Hash(c.Password, s.cfg.Password)
		return err
	})
	if err != nil {
		s.failThrottled(w, err)
		return
	}
	u := userRecord{ID: id, DisplayName: c.DisplayName, PasswordHash: hash, CreatedAt: time.Now().UTC()}
	if err := s.register(r.Context(), u); err != nil {
		s.fail(w, err)
		return
	}
	s.log.Info("user registered", "user", id)
	s.answerSession(w, r, u, http.StatusCreated)
}

func (s *Server) answerSession(w http.ResponseWriter, r *http.Request, u userRecord, status int) {
	token, sess, err := s.startSession(r.Context(), u.ID)
	if err != nil {
		s.fail(w, err)
		return
	}
	s.setSessionCookie(w, token, sess.ExpiresAt)
	writeJSON(w, status, map[string]any{"user": u.json(), "token": token})
}

func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	var c credentials
	if err := decodeBody(r, &c); err != nil {
		s.fail(w, err)
		return
	}
	bad := events.Errorf(events.CodeInvalidCredentials, "wrong username or password")
	id := events.NormalizeUsername(c.Username)
	if !events.ValidUsername(id) || c.Password == "" || len(c.Password) > 256 {
		s.fail(w, bad)
		return
	}
	// Every attempt counts until it succeeds: concurrent guesses are
	// bounded like sequential ones.
	addr := clientAddr(r, s.cfg.TrustedProxies)
	if wait := s.attempt(r.Context(), s.loginCounters(id, addr)...); wait > 0 {
		s.failThrottled(w, tooManyAttempts(wait))
		return
	}
	u, found, err := s.userFromLog(r.Context(), id)
	if err != nil {
		s.fail(w, err)
		return
	}
	var ok bool
	err = s.hashing(r.Context(), func() (err error) {
		if !found {
			// Spend the same time as a real check, so timing does not
			// tell which usernames exist.
			_, _ = password.Verify(c.Password, s.dummyHash())
			return nil
		}
		ok, err = s.checkPassword(r.Context(), u, c.Password)
		return err
	})
	if err != nil {
		s.failThrottled(w, err)
		return
	}
	if !ok {
		s.fail(w, bad)
		return
	}
	s.loginSucceeded(r.Context(), id, addr)
	s.answerSession(w, r, u, http.StatusOK)
}

// dummyHash is a valid hash of nothing anyone knows, for constant-time login.
func (s *Server) dummyHash() string {
	s.dummyOnce.Do(func() { s.dummy, _ = password.Hash(nuid.Next(), s.cfg.Password) })
	return s.dummy
}

func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) {
	if err := s.endSession(r.Context(), sessionOf(r), sessionOf(r).ID); err != nil {
		s.fail(w, err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: s.cfg.SecureCookies, SameSite: http.SameSiteLaxMode})
	w.WriteHeader(http.StatusNoContent)
}

// handleLogoutAll revokes every session of the user, this one included,
// and so closes all their sockets on every gateway.
func (s *Server) handleLogoutAll(w http.ResponseWriter, r *http.Request) {
	n, err := s.endAllSessions(r.Context(), sessionOf(r))
	if err != nil {
		s.fail(w, err)
		return
	}
	s.log.Info("logged out everywhere", "user", sessionOf(r).User, "sessions", n)
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: s.cfg.SecureCookies, SameSite: http.SameSiteLaxMode})
	writeJSON(w, http.StatusOK, map[string]any{"revoked": n})
}

func (s *Server) handleMe(w http.ResponseWriter, r *http.Request) {
	u, err := s.user(r.Context(), sessionOf(r).User)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"user": u.json()})
}

// user returns a user's profile from Postgres, or from the log when the
// projection does not have it (yet) or is down.
func (s *Server) user(ctx context.Context, id string) (userRecord, error) {
	u := userRecord{ID: id}
	var avatar *string
	err := s.pg.QueryRow(ctx, `SELECT display_name, avatar_key, created_at FROM users WHERE id = $1`, id).
		Scan(&u.DisplayName, &avatar, &u.CreatedAt)
	if err == nil {
		if avatar != nil {
			u.AvatarKey = *avatar
		}
		return u, nil
	}
	u, found, lerr := s.userFromLog(ctx, id)
	if lerr != nil {
		return userRecord{}, lerr
	}
	if !found {
		return userRecord{}, events.Errorf(events.CodeNotFound, "no such user")
	}
	return u, nil
}

type roomJSON struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	IsPrivate   bool      `json:"isPrivate"`
	MemberCount int       `json:"memberCount"`
	OnlineCount int       `json:"onlineCount"`
	HeadSeq     uint64    `json:"headSeq"`
	CreatedBy   string    `json:"createdBy"`
	CreatedAt   time.Time `json:"createdAt"`
}

const roomSelect = `SELECT r.id, r.name, r.description, r.is_private, r.head_seq, r.created_by, r.created_at,
	(SELECT count(*) FROM room_members m WHERE m.room_id = r.id),
	COALESCE((SELECT array_agg(m.user_id) FROM room_members m WHERE m.room_id = r.id), '{}')
	FROM rooms r`

func (s *Server) scanRooms(ctx context.Context, rows pgx.Rows) ([]roomJSON, error) {
	defer rows.Close()
	var out []roomJSON
	var members [][]string
	for rows.Next() {
		var rj roomJSON
		var m []string
		if err := rows.Scan(&rj.ID, &rj.Name, &rj.Description, &rj.IsPrivate, &rj.HeadSeq, &rj.CreatedBy, &rj.CreatedAt, &rj.MemberCount, &m); err != nil {
			return nil, err
		}
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

// withOnline fills in the online counts of cached rooms: their members
// who have a live socket.
func (s *Server) withOnline(ctx context.Context, cached []cachedRoom) []roomJSON {
	online := s.onlineSet(ctx)
	out := make([]roomJSON, len(cached))
	for i, c := range cached {
		out[i] = c.room
		for _, m := range c.members {
			if online[m] {
				out[i].OnlineCount++
			}
		}
	}
	return out
}

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

// likePattern is a LIKE pattern matching q anywhere, q's own wildcards escaped.
func likePattern(q string) string {
	return "%" + strings.NewReplacer(`\`, `\\`, "%", `\%`, "_", `\_`).Replace(q) + "%"
}

// handleRooms lists the rooms in the order they were created, a page at a
// time, those whose name or id contains q when given. A page that has more
// after it carries `next`, the cursor of the following page.
func (s *Server) handleRooms(w http.ResponseWriter, r *http.Request) {
	limit, cursor := pageOf(r, roomPageDefault, maxPageLimit)
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	if q == "" && cursor == "" {
		// The cache holds the whole list, up to maxRoomList: it answers
		// when that fits in one page.
		if cached, err := s.cache.rooms(r.Context()); err == nil && len(cached) < maxRoomList && len(cached) <= limit {
			writeJSON(w, http.StatusOK, map[string]any{"rooms": s.withOnline(r.Context(), cached)})
			return
		}
	}
	pattern := ""
	if q != "" {
		pattern = likePattern(q)
	}
	rows, err := s.pg.Query(r.Context(), roomSelect+`
		WHERE ($1 = '' OR r.name ILIKE $1 OR r.id LIKE lower($1))
		AND ($2 = '' OR (r.created_at, r.id) > (SELECT c.created_at, c.id FROM rooms c WHERE c.id = $2))
		ORDER BY r.created_at, r.id LIMIT $3`, pattern, cursor, limit+1)
	if err != nil {
		s.log.Warn("list rooms", "err", err)
		s.fail(w, unavailable("the room list"))
		return
	}
	rooms, err := s.scanRooms(r.Context(), rows)
	if err != nil {
		s.log.Warn("list rooms", "err", err)
		s.fail(w, unavailable("the room list"))
		return
	}
	if rooms == nil {
		rooms = []roomJSON{}
	}
	out := map[string]any{"rooms": rooms}
	if len(rooms) > limit {
		out["rooms"] = rooms[:limit]
		out["next"] = rooms[limit-1].ID
	}
	writeJSON(w, http.StatusOK, out)
}

// room returns one room from the cache, else Postgres, or from the log when
// neither has seen it yet.
func (s *Server) room(ctx context.Context, id string) (roomJSON, error) {
	if !events.ValidRoomID(id) {
		return roomJSON{}, events.Errorf(events.CodeNoSuchRoom, "no such room")
	}
	if cached, err := s.cache.room(ctx, id); err == nil {
		return s.withOnline(ctx, []cachedRoom{cached})[0], nil
	}
	rows, err := s.pg.Query(ctx, roomSelect+` WHERE r.id = $1`, id)
	if err == nil {
		rooms, err := s.scanRooms(ctx, rows)
		if err == nil && len(rooms) == 1 {
			return rooms[0], nil
		}
	}
	facts, head, err := events.ReadRoom(ctx, s.js, s.evt, id, 0, 1)
	if err != nil {
		return roomJSON{}, err
	}
	if len(facts) == 0 || facts[0].Type != events.RoomCreated {
		return roomJSON{}, events.Errorf(events.CodeNoSuchRoom, "no such room")
	}
	d, err := events.DecodeData[events.RoomCreatedData](facts[0].Fact)
	if err != nil {
		return roomJSON{}, err
	}
	rj := roomJSON{ID: id, Name: d.Name, Description: d.Description, IsPrivate: d.IsPrivate, HeadSeq: head,
		CreatedBy: facts[0].User, CreatedAt: facts[0].At, MemberCount: 1}
	if s.onlineSet(ctx)[rj.CreatedBy] {
		rj.OnlineCount = 1
	}
	return rj, nil
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

// canRead reports whether user may read a room's history and members:
// anyone for a public room, members for a private one.
func (s *Server) canRead(ctx context.Context, rj roomJSON, user string) error {
	if !rj.IsPrivate {
		return nil
	}
	var one int
	err := s.pg.QueryRow(ctx, `SELECT 1 FROM room_members WHERE room_id = $1 AND user_id = $2`, rj.ID, user).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		return events.Errorf(events.CodeNotMember, "join this room first")
	}
	if err != nil {
		return unavailable("history")
	}
	return nil
}

// isMember reports whether the projection holds user as a member of room;
// false when it cannot tell.
func (s *Server) isMember(ctx context.Context, room, user string) bool {
	var one int
	return s.pg.QueryRow(ctx, `SELECT 1 FROM room_members WHERE room_id = $1 AND user_id = $2`, room, user).Scan(&one) == nil
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
	ctx := r.Context()
	limit, before, pageErr := historyPage(r)
	if pageErr == nil && events.ValidRoomID(r.PathValue("room")) {
		// The cache answers only what it holds completely, for a reader
		// allowed to read; Postgres answers the rest, and every refusal.
		msgs, more, err := s.cache.history(ctx, r.PathValue("room"), sessionOf(r).User, before, limit)
		if err == nil {
			msgs, more = fitHistory(msgs, more)
			writeJSON(w, http.StatusOK, map[string]any{"messages": msgs, "hasMore": more})
			return
		}
	}
	rj, err := s.room(ctx, r.PathValue("room"))
	if err != nil {
		s.fail(w, err)
		return
	}
	if err := s.canRead(ctx, rj, sessionOf(r).User); err != nil {
		s.fail(w, err)
		return
	}
	if pageErr != nil {
		s.fail(w, pageErr)
		return
	}
	msgs, more, err := s.history(ctx, rj.ID, before, limit)
	if err != nil {
		s.log.Warn("history", "room", rj.ID, "err", err)
		s.fail(w, unavailable("history"))
		return
	}
	msgs, more = fitHistory(msgs, more)
	writeJSON(w, http.StatusOK, map[string]any{"messages": msgs, "hasMore": more})
}

// history returns the newest limit messages of a room with id < before,
// oldest first.
func (s *Server) history(ctx context.Context, room string, before int64, limit int) ([]events.Message, bool, error) {
	rows, err := s.pg.Query(ctx, `
		SELECT m.id, m.seq, m.user_id, m.text, m.client_id, m.reply_to, m.created_at, m.edited_at, m.deleted_at IS NOT NULL,
			COALESCE((SELECT json_agg(json_build_object('key', a.key, 'name', a.name, 'contentType', a.content_type, 'size', a.size) ORDER BY a.position)
				FROM attachments a WHERE a.message_id = m.id), '[]'),
			COALESCE((SELECT json_object_agg(e.emoji, e.users) FROM
				(SELECT emoji, json_agg(user_id ORDER BY created_at, user_id) AS users FROM reactions WHERE message_id = m.id GROUP BY emoji) e), '{}')
		FROM messages m WHERE m.room_id = $1 AND m.id < $2 ORDER BY m.id DESC LIMIT $3`, room, before, limit+1)
	if err != nil {
		return nil, false, err
	}
	defer rows.Close()
	msgs := []events.Message{}
	for rows.Next() {
		m := events.Message{Room: room}
		var replyTo *int64
		var atts, reactions []byte
		if err := rows.Scan(&m.ID, &m.Seq, &m.User, &m.Text, &m.ClientID, &replyTo, &m.CreatedAt, &m.EditedAt, &m.Deleted, &atts, &reactions); err != nil {
			return nil, false, err
		}
		if replyTo != nil {
			id := uint64(*replyTo)
			m.ReplyTo = &id
		}
		if err := json.Unmarshal(atts, &m.Attachments); err != nil {
			return nil, false, err
		}
		if err := json.Unmarshal(reactions, &m.Reactions); err != nil {
			return nil, false, err
		}
		msgs = append(msgs, m)
	}
	if err := rows.Err(); err != nil {
		return nil, false, err
	}
	more := len(msgs) > limit
	if more {
		msgs = msgs[:limit]
	}
	for i, j := 0, len(msgs)-1; i < j; i, j = i+1, j-1 {
		msgs[i], msgs[j] = msgs[j], msgs[i]
	}
	return msgs, more, nil
}

type memberJSON struct {
	User        string  `json:"user"`
	DisplayName string  `json:"displayName"`
	AvatarURL   *string `json:"avatarUrl"`
	Status      string  `json:"status"`
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
	rows, err := s.pg.Query(ctx, `SELECT m.user_id, COALESCE(u.display_name, m.user_id), u.avatar_key
		FROM room_members m LEFT JOIN users u ON u.id = m.user_id WHERE m.room_id = $1 AND m.user_id > $2
		ORDER BY m.user_id LIMIT $3`, room, cursor, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	online := s.onlineSet(ctx)
	out := []memberJSON{}
	for rows.Next() {
		var m memberJSON
		var avatar *string
		if err := rows.Scan(&m.User, &m.DisplayName, &avatar); err != nil {
			return nil, err
		}
		if avatar != nil {
			a := "/api/files/" + *avatar
			m.AvatarURL = &a
		}
		m.Status = "offline"
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var here []string
	for _, m := range out {
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
	rj, err := s.room(ctx, r.PathValue("room"))
	if err != nil {
		s.fail(w, err)
		return
	}
	if err := s.canRead(ctx, rj, sessionOf(r).User); err != nil {
		s.fail(w, err)
		return
	}
	limit, cursor := pageOf(r, memberPageDefault, memberPageMax)
	members, next, err := s.members(ctx, rj.ID, cursor, limit, replyBudget-replyFrame)
	if err != nil {
		s.log.Warn("members", "room", rj.ID, "err", err)
		s.fail(w, unavailable("the member list"))
		return
	}
	out := map[string]any{"members": members}
	if next != "" {
		out["next"] = next
	}
	writeJSON(w, http.StatusOK, out)
}
