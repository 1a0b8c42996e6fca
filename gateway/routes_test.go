package gateway_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/chillin-chat/chillin/events/ratelimit"
	"github.com/chillin-chat/chillin/gateway"
)

// The REST routes of routes.go as docs/protocol.md describes them: status
// codes, error codes and bodies. See harness_test.go for what runs.

func testProbes(t *testing.T, e *env) {
	g := e.gateway(t, nil)
	r := g.do("GET", "/ready", "", nil, nil)
	var ready struct{ Status string }
	r.decode(t, &ready)
	if r.status != http.StatusOK || ready.Status != "ready" {
		t.Errorf("/ready: %d %s", r.status, r.body)
	}
	if r := g.do("GET", "/metrics", "", nil, nil); r.status != http.StatusOK || !strings.Contains(string(r.body), "chillin_gateway_") {
		t.Errorf("/metrics: %d, without the gateway's series", r.status)
	}

	// Postgres away (nothing listens on port 1): the gateway starts, lives,
	// and is not ready, naming what is down.
	away := e.gateway(t, func(c *gateway.Config) {
		c.PostgresURL = "postgres://postgres@127.0.0.1:1/none?sslmode=disable&connect_timeout=1"
	})
	if r := away.do("GET", "/health", "", nil, nil); r.status != http.StatusOK {
		t.Errorf("/health with Postgres away: %d %s", r.status, r.body)
	}
	r = away.do("GET", "/ready", "", nil, nil)
	var down struct {
		Status string
		Down   []string
	}
	r.decode(t, &down)
	if r.status != http.StatusServiceUnavailable || down.Status != "unavailable" || len(down.Down) != 1 || down.Down[0] != "postgres" {
		t.Errorf("/ready with Postgres away: %d %s; want 503 naming postgres alone", r.status, r.body)
	}
}

// Every authenticated route refuses a request without a live session with
// 401 UNAUTHENTICATED, before it reads anything else of it.
func testAuthRequired(t *testing.T, e *env) {
	g := e.gateway(t, nil)
	unknown := "alice." + strings.Repeat("A", 43) // well formed, never issued
	routes := []struct{ method, path string }{
		{"POST", "/api/auth/logout"}, {"POST", "/api/auth/logout-all"}, {"GET", "/api/auth/me"},
		{"GET", "/api/rooms"}, {"POST", "/api/rooms"}, {"GET", "/api/rooms/lobby"},
		{"GET", "/api/rooms/lobby/messages"}, {"GET", "/api/rooms/lobby/members"},
		{"POST", "/api/uploads"}, {"GET", "/api/files/a/x/y.png"}, {"PUT", "/api/auth/me/avatar"},
		// Checked after the session: a bad room id of a stranger is 401 too.
		{"GET", "/api/rooms/Not_A_Room"},
	}
	for _, rt := range routes {
		for name, token := range map[string]string{"no token": "", "malformed token": "not-a-token", "unknown session": unknown} {
			t.Run(rt.method+" "+rt.path+" "+name, func(t *testing.T) {
				wantError(t, "request", g.do(rt.method, rt.path, token, "{}", nil), http.StatusUnauthorized, "UNAUTHENTICATED")
			})
		}
	}
	wantError(t, "unknown API path", g.do("GET", "/api/nothing", "", nil, nil), http.StatusNotFound, "NOT_FOUND")
}

func testRegisterAndLogin(t *testing.T, e *env) {
	g := e.gateway(t, nil)

	r := g.do("POST", "/api/auth/register", "", map[string]string{"username": "Alice", "password": "password-1"}, nil)
	var reg struct {
		User struct {
			ID, Username, DisplayName string
			AvatarURL                 *string
		}
		Token string
	}
	r.decode(t, &reg)
	if r.status != http.StatusCreated || reg.User.ID != "alice" || reg.User.Username != "alice" || reg.User.DisplayName != "Alice" ||
		reg.User.AvatarURL != nil || !strings.HasPrefix(reg.Token, "alice.") {
		t.Fatalf("register: %d %s", r.status, r.body)
	}
	cookie := sessionCookie(t, r)
	if cookie.Value != reg.Token || !cookie.HttpOnly || cookie.SameSite != http.SameSiteLaxMode || cookie.Path != "/" {
		t.Errorf("session cookie %+v", cookie)
	}
	if cc := r.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q on a session answer", cc)
	}

	// The token works as a bearer token and as the cookie.
	for name, h := range map[string]http.Header{
		"bearer": {"Authorization": {"Bearer " + reg.Token}},
		"cookie": {"Cookie": {cookie.Name + "=" + cookie.Value}},
	} {
		r := g.do("GET", "/api/auth/me", "", nil, h)
		var me struct {
			User struct{ ID, DisplayName string }
		}
		r.decode(t, &me)
		if r.status != http.StatusOK || me.User.ID != "alice" || me.User.DisplayName != "Alice" {
			t.Errorf("me by %s: %d %s", name, r.status, r.body)
		}
	}

	wantError(t, "a taken username, in other case", g.do("POST", "/api/auth/register", "",
		map[string]string{"username": "ALICE", "password": "password-2"}, nil), http.StatusConflict, "USERNAME_TAKEN")

	r = g.do("POST", "/api/auth/login", "", map[string]string{"username": "alice", "password": "password-1"}, nil)
	var login struct {
		User  struct{ ID string }
		Token string
	}
	r.decode(t, &login)
	if r.status != http.StatusOK || login.User.ID != "alice" || login.Token == "" || login.Token == reg.Token {
		t.Fatalf("login: %d %s", r.status, r.body)
	}
	if sessionCookie(t, r).Value != login.Token {
		t.Error("login set no cookie of its token")
	}
	wantError(t, "a wrong password", g.do("POST", "/api/auth/login", "",
		map[string]string{"username": "alice", "password": "password-2"}, nil), http.StatusUnauthorized, "INVALID_CREDENTIALS")
	wantError(t, "an unknown user", g.do("POST", "/api/auth/login", "",
		map[string]string{"username": "nobody", "password": "password-1"}, nil), http.StatusUnauthorized, "INVALID_CREDENTIALS")
	wantError(t, "not a username", g.do("POST", "/api/auth/login", "",
		map[string]string{"username": "a b", "password": "password-1"}, nil), http.StatusUnauthorized, "INVALID_CREDENTIALS")
	wantError(t, "login with bad JSON", g.do("POST", "/api/auth/login", "", `{"username":`, nil), http.StatusBadRequest, "BAD_REQUEST")
}

func testRegisterRefusesBadInput(t *testing.T, e *env) {
	g := e.gateway(t, nil)
	for _, tc := range []struct {
		name string
		body string
		code string
	}{
		{"bad JSON", `{"username":"bob",`, "BAD_REQUEST"},
		{"not an object", `["bob"]`, "BAD_REQUEST"},
		{"an unknown field", `{"username":"bob","password":"password-1","admin":true}`, "BAD_REQUEST"},
		{"a username too short", `{"username":"b","password":"password-1"}`, "INVALID_USERNAME"},
		{"a username with a space", `{"username":"bo b","password":"password-1"}`, "INVALID_USERNAME"},
		{"a username starting with '-'", `{"username":"-bob","password":"password-1"}`, "INVALID_USERNAME"},
		{"a password too short", `{"username":"bob","password":"1234567"}`, "INVALID_PASSWORD"},
		{"a password too long", `{"username":"bob","password":"` + strings.Repeat("p", 257) + `"}`, "INVALID_PASSWORD"},
		{"a display name with a newline", `{"username":"bob","password":"password-1","displayName":"Bo\nb"}`, "INVALID_NAME"},
		{"a display name with NUL", `{"username":"bob","password":"password-1","displayName":"Bo\u0000b"}`, "INVALID_NAME"},
		{"a display name with a bidi override", `{"username":"bob","password":"password-1","displayName":"Bo\u202eb"}`, "INVALID_NAME"},
		{"a display name too long", `{"username":"bob","password":"password-1","displayName":"` + strings.Repeat("é", 65) + `"}`, "INVALID_NAME"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, "register", g.do("POST", "/api/auth/register", "", tc.body, nil), http.StatusBadRequest, tc.code)
		})
	}
	// None of them took the name.
	g.register("bob")
}

func testLogout(t *testing.T, e *env) {
	g := e.gateway(t, nil)
	first := g.register("carol")
	r := g.do("POST", "/api/auth/logout", first, nil, nil)
	if r.status != http.StatusNoContent {
		t.Fatalf("logout: %d %s", r.status, r.body)
	}
	if c := sessionCookie(t, r); c.Value != "" || c.MaxAge >= 0 {
		t.Errorf("logout left cookie %+v; want it cleared", c)
	}
	wantError(t, "a logged-out token", g.do("GET", "/api/auth/me", first, nil, nil), http.StatusUnauthorized, "UNAUTHENTICATED")

	login := func() string {
		r := g.do("POST", "/api/auth/login", "", map[string]string{"username": "carol", "password": "password-carol"}, nil)
		var a struct{ Token string }
		r.decode(t, &a)
		if r.status != http.StatusOK {
			t.Fatalf("login: %d %s", r.status, r.body)
		}
		return a.Token
	}
	a, b := login(), login()
	// A socket of a session logout-all ends is closed here at once, 4001.
	ws, status, _ := g.dial(t, b, "")
	if ws == nil {
		t.Fatalf("dial: %d", status)
	}
	if f := read(t, ws); f.Type != "hello" {
		t.Fatalf("first frame %s", f.Type)
	}
	r = g.do("POST", "/api/auth/logout-all", a, nil, nil)
	var all struct{ Revoked int }
	r.decode(t, &all)
	if r.status != http.StatusOK || all.Revoked != 2 {
		t.Fatalf("logout-all: %d %s; want the 2 live sessions revoked", r.status, r.body)
	}
	for _, tok := range []string{a, b} {
		wantError(t, "a session after logout-all", g.do("GET", "/api/auth/me", tok, nil, nil), http.StatusUnauthorized, "UNAUTHENTICATED")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		if _, _, err := ws.Read(ctx); err != nil {
			if websocket.CloseStatus(err) != 4001 {
				t.Errorf("socket after logout-all: %v; want closed with 4001", err)
			}
			break
		}
	}
}

func testCreateRoom(t *testing.T, e *env) {
	g := e.gateway(t, nil)
	dave := g.register("dave")

	r := g.do("POST", "/api/rooms", dave, map[string]any{"name": "  Tea Time ", "description": "cups"}, nil)
	var created struct {
		Room struct {
			ID, Name, Description, CreatedBy string
			IsPrivate                        bool
			MemberCount                      int
			HeadSeq                          uint64
		}
	}
	r.decode(t, &created)
	if c := created.Room; r.status != http.StatusCreated || c.ID != "tea-time" || c.Name != "Tea Time" || c.Description != "cups" ||
		c.CreatedBy != "dave" || c.IsPrivate || c.MemberCount != 1 || c.HeadSeq != 1 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	wantError(t, "a room of the same id", g.do("POST", "/api/rooms", dave, map[string]any{"name": "tea   time!"}, nil),
		http.StatusConflict, "ROOM_EXISTS")

	// The room is read from the log (no projection runs here).
	r = g.do("GET", "/api/rooms/tea-time", dave, nil, nil)
	var got struct {
		Room struct{ ID, Name, CreatedBy string }
	}
	r.decode(t, &got)
	if r.status != http.StatusOK || got.Room.ID != "tea-time" || got.Room.Name != "Tea Time" || got.Room.CreatedBy != "dave" {
		t.Errorf("get the new room: %d %s", r.status, r.body)
	}

	r = g.do("POST", "/api/rooms", dave, map[string]any{"name": "Vault", "password": "secret-pw"}, nil)
	var vault struct{ Room struct{ IsPrivate bool } }
	r.decode(t, &vault)
	if r.status != http.StatusCreated || !vault.Room.IsPrivate {
		t.Errorf("a room with a password: %d %s; want it private", r.status, r.body)
	}

	for _, tc := range []struct {
		name string
		body string
		code string
	}{
		{"bad JSON", `{"name":`, "BAD_REQUEST"},
		{"an unknown field", `{"name":"x","owner":"eve"}`, "BAD_REQUEST"},
		{"no name", `{"name":"  "}`, "INVALID_ROOM_NAME"},
		{"a name without a letter or digit", `{"name":"!!!"}`, "INVALID_ROOM_NAME"},
		{"a name with a tab", `{"name":"tea\ttime"}`, "INVALID_ROOM_NAME"},
		{"a name with a bidi isolate", `{"name":"tea\u2066time"}`, "INVALID_ROOM_NAME"},
		{"a name too long", `{"name":"` + strings.Repeat("n", 101) + `"}`, "INVALID_ROOM_NAME"},
		{"a description with a control character", `{"name":"ok","description":"a\u0007b"}`, "INVALID_NAME"},
		{"a description too long", `{"name":"ok","description":"` + strings.Repeat("d", 501) + `"}`, "INVALID_NAME"},
		{"private without a password", `{"name":"ok","isPrivate":true}`, "INVALID_PASSWORD"},
		{"a password too short", `{"name":"ok","password":"1234567"}`, "INVALID_PASSWORD"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, "create", g.do("POST", "/api/rooms", dave, tc.body, nil), http.StatusBadRequest, tc.code)
		})
	}
}

// Rooms created beyond the per-user limit are refused with 429
// RATE_LIMITED and Retry-After.
func testCreateRoomRateLimited(t *testing.T, e *env) {
	g := e.gateway(t, func(c *gateway.Config) {
		c.RateLimits = ratelimit.Rules{ratelimit.RoomCreate: {Limit: 1, Window: time.Hour}}
	})
	erin := g.register("erin")
	if r := g.do("POST", "/api/rooms", erin, map[string]any{"name": "first"}, nil); r.status != http.StatusCreated {
		t.Fatalf("first room: %d %s", r.status, r.body)
	}
	r := g.do("POST", "/api/rooms", erin, map[string]any{"name": "second"}, nil)
	wantError(t, "second room", r, http.StatusTooManyRequests, "RATE_LIMITED")
	if s, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || s < 1 || s > 3600 {
		t.Errorf("Retry-After %q; want 1 to 3600 seconds", r.header.Get("Retry-After"))
	}
	// Another user has a window of their own.
	if r := g.do("POST", "/api/rooms", g.register("frank"), map[string]any{"name": "second"}, nil); r.status != http.StatusCreated {
		t.Errorf("another user's room: %d %s", r.status, r.body)
	}
}

// The room list and the member list page through what the projection
// holds; rows are written here as the projector would.
func testRoomListPages(t *testing.T, e *env) {
	g := e.gateway(t, nil)
	tok := g.register("gina")
	ctx := context.Background()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	names := []string{"Alpha", "Beta", "Gamma", "Delta", "Epsilon"}
	for i, name := range names {
		id := strings.ToLower(name)
		if _, err := e.pool.Exec(ctx, `INSERT INTO rooms (id, name, created_by, created_at, head_seq, last_fact_id) VALUES ($1, $2, 'gina', $3, 1, $4)`,
			id, name, start.Add(time.Duration(i)*time.Minute), i+1); err != nil {
			t.Fatal(err)
		}
	}
	for _, u := range []string{"m1", "m2", "m3", "m4", "m5"} {
		if _, err := e.pool.Exec(ctx, `INSERT INTO room_members (room_id, user_id, joined_at) VALUES ('alpha', $1, $2)`, u, start); err != nil {
			t.Fatal(err)
		}
	}

	type page struct {
		Rooms []struct {
			ID          string
			MemberCount int
		}
		Next *string
	}
	list := func(query string) page {
		t.Helper()
		r := g.do("GET", "/api/rooms"+query, tok, nil, nil)
		var p page
		r.decode(t, &p)
		if r.status != http.StatusOK {
			t.Fatalf("GET /api/rooms%s: %d %s", query, r.status, r.body)
		}
		return p
	}
	ids := func(p page) string {
		var out []string
		for _, r := range p.Rooms {
			out = append(out, r.ID)
		}
		return strings.Join(out, ",")
	}

	if p := list(""); ids(p) != "alpha,beta,gamma,delta,epsilon" || p.Next != nil || p.Rooms[0].MemberCount != 5 {
		t.Errorf("whole list: %s next %v, alpha with %d members", ids(p), p.Next, p.Rooms[0].MemberCount)
	}
	var got []string
	cursor := ""
	for range len(names) {
		p := list("?limit=2" + cursor)
		got = append(got, ids(p))
		if p.Next == nil {
			break
		}
		if len(p.Rooms) != 2 || *p.Next != p.Rooms[1].ID {
			t.Fatalf("page %s: next %v; want the last room's id", ids(p), *p.Next)
		}
		cursor = "&cursor=" + url.QueryEscape(*p.Next)
	}
	if strings.Join(got, "|") != "alpha,beta|gamma,delta|epsilon" {
		t.Errorf("pages of 2: %q", got)
	}
	if p := list("?q=" + url.QueryEscape("TA") + "&limit=1"); ids(p) != "beta" || p.Next == nil || *p.Next != "beta" {
		t.Errorf("q=TA limit=1: %s next %v; want beta then more", ids(p), p.Next)
	}
	if p := list("?q=ta&cursor=beta"); ids(p) != "delta" || p.Next != nil {
		t.Errorf("q=ta after beta: %s next %v", ids(p), p.Next)
	}
	if p := list("?q=nothing-like-it"); ids(p) != "" || p.Rooms == nil {
		t.Errorf("no match: %s; want an empty list, not null", ids(p))
	}
	// q is text: SQL wildcards in it match themselves only.
	for _, q := range []string{"%", "_", "a%a", `\`} {
		if p := list("?q=" + url.QueryEscape(q)); ids(p) != "" {
			t.Errorf("q=%s: %s; want no room", q, ids(p))
		}
	}

	// The members of alpha, two at a time.
	got = nil
	cursor = ""
	for range 5 {
		r := g.do("GET", "/api/rooms/alpha/members?limit=2"+cursor, tok, nil, nil)
		var p struct {
			Members []struct{ User, DisplayName, Status string }
			Next    *string
		}
		r.decode(t, &p)
		if r.status != http.StatusOK {
			t.Fatalf("members: %d %s", r.status, r.body)
		}
		var us []string
		for _, m := range p.Members {
			us = append(us, m.User)
			if m.DisplayName != m.User || m.Status != "offline" {
				t.Errorf("member %+v: want its id as its name (no profile), offline", m)
			}
		}
		got = append(got, strings.Join(us, ","))
		if p.Next == nil {
			break
		}
		cursor = "&cursor=" + *p.Next
	}
	if strings.Join(got, "|") != "m1,m2|m3,m4|m5" {
		t.Errorf("member pages of 2: %q", got)
	}

	for _, tc := range []struct{ path, code string }{
		{"/api/rooms?limit=0", "BAD_REQUEST"},
		{"/api/rooms?limit=1001", "BAD_REQUEST"},
		{"/api/rooms?limit=ten", "BAD_REQUEST"},
		{"/api/rooms?limit=1&limit=2", "BAD_REQUEST"},
		{"/api/rooms?cursor=Not!A!Cursor", "BAD_REQUEST"},
		{"/api/rooms?q=" + url.QueryEscape("a\nb"), "BAD_REQUEST"},
		{"/api/rooms?q=" + strings.Repeat("q", 101), "BAD_REQUEST"},
		{"/api/rooms/alpha/members?limit=-1", "BAD_REQUEST"},
		{"/api/rooms/alpha/members?cursor=%20", "BAD_REQUEST"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			wantError(t, "list", g.do("GET", tc.path, tok, nil, nil), http.StatusBadRequest, tc.code)
		})
	}
}

func testRoomReads(t *testing.T, e *env) {
	g := e.gateway(t, nil)
	owner, other := g.register("hana"), g.register("ivan")
	for _, body := range []map[string]any{{"name": "open"}, {"name": "closed", "password": "secret-pw"}} {
		if r := g.do("POST", "/api/rooms", owner, body, nil); r.status != http.StatusCreated {
			t.Fatalf("create %v: %d %s", body, r.status, r.body)
		}
	}

	r := g.do("GET", "/api/rooms/open/messages", other, nil, nil)
	var hist struct {
		Messages []any
		HasMore  *bool
	}
	r.decode(t, &hist)
	if r.status != http.StatusOK || hist.Messages == nil || len(hist.Messages) != 0 || hist.HasMore == nil || *hist.HasMore {
		t.Errorf("history of a new room: %d %s; want no messages, hasMore false", r.status, r.body)
	}
	if r := g.do("GET", "/api/rooms/open/members", other, nil, nil); r.status != http.StatusOK || !strings.Contains(string(r.body), `"members":[]`) {
		t.Errorf("members of a room no projection holds: %d %s", r.status, r.body)
	}
	for _, tc := range []struct {
		path   string
		status int
		code   string
	}{
		{"/api/rooms/Open", 400, "INVALID_ROOM"},
		{"/api/rooms/-open", 400, "INVALID_ROOM"},
		{"/api/rooms/" + strings.Repeat("r", 65), 400, "INVALID_ROOM"},
		{"/api/rooms/no%2Fsuch/messages", 400, "INVALID_ROOM"},
		{"/api/rooms/nowhere", 404, "NO_SUCH_ROOM"},
		{"/api/rooms/nowhere/messages", 404, "NO_SUCH_ROOM"},
		{"/api/rooms/open/messages?limit=0", 400, "BAD_REQUEST"},
		{"/api/rooms/open/messages?limit=101", 400, "BAD_REQUEST"},
		{"/api/rooms/open/messages?before=0", 400, "BAD_REQUEST"},
		{"/api/rooms/open/messages?before=x", 400, "BAD_REQUEST"},
		// A room one may not read is refused as such, before its query.
		{"/api/rooms/closed/messages", 403, "NOT_MEMBER"},
		{"/api/rooms/closed/messages?limit=101", 403, "NOT_MEMBER"},
		{"/api/rooms/closed/members", 403, "NOT_MEMBER"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			wantError(t, "read", g.do("GET", tc.path, other, nil, nil), tc.status, tc.code)
		})
	}
}

// sessionCookie is the session cookie an answer sets.
func sessionCookie(t *testing.T, r reply) *http.Cookie {
	t.Helper()
	for _, c := range (&http.Response{Header: r.header}).Cookies() {
		if c.Name == "chillin_session" {
			return c
		}
	}
	t.Fatalf("no session cookie in %v", r.header)
	return nil
}

// throttled fails the test unless r is 429 TOO_MANY_ATTEMPTS with a
// Retry-After of 1 to max seconds, which the body's retryAfterMs agrees
// with.
func throttled(t *testing.T, what string, r reply, max int) {
	t.Helper()
	wantError(t, what, r, http.StatusTooManyRequests, "TOO_MANY_ATTEMPTS")
	s, err := strconv.Atoi(r.header.Get("Retry-After"))
	var body struct{ Error struct{ RetryAfterMs int64 } }
	r.decode(t, &body)
	if err != nil || s < 1 || s > max || body.Error.RetryAfterMs <= 0 || (body.Error.RetryAfterMs+999)/1000 != int64(s) {
		t.Errorf("%s: Retry-After %q, retryAfterMs %d; want 1 to %d s, agreeing", what, r.header.Get("Retry-After"), body.Error.RetryAfterMs, max)
	}
}

func testLoginThrottled(t *testing.T, e *env) {
	g := e.gateway(t, func(c *gateway.Config) {
		c.Throttle.LoginPerAccountAddress = gateway.Rule{Max: 2, Window: time.Minute}
	})
	g.register("jane")
	login := func(pw string) reply {
		return g.do("POST", "/api/auth/login", "", map[string]string{"username": "jane", "password": pw}, nil)
	}
	if r := login("password-jane"); r.status != http.StatusOK {
		t.Fatalf("login: %d %s", r.status, r.body)
	}
	// A successful login is taken back: two guesses still fit.
	for i := range 2 {
		wantError(t, fmt.Sprintf("guess %d", i+1), login("wrong-password"), http.StatusUnauthorized, "INVALID_CREDENTIALS")
	}
	throttled(t, "third guess", login("wrong-password"), 60)
	throttled(t, "the right password from the guessing address", login("password-jane"), 60)
}

func testRegisterThrottledPerClientAddress(t *testing.T, e *env) {
	register := func(g *gw, user, addr string) reply {
		return g.do("POST", "/api/auth/register", "", map[string]string{"username": user, "password": "password-1"},
			http.Header{"X-Forwarded-For": {addr}})
	}
	one := gateway.Rule{Max: 1, Window: time.Hour}

	// Behind a trusted proxy, the forwarded address counts.
	proxies, err := gateway.ParseTrustedProxies("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	behind := e.gateway(t, func(c *gateway.Config) { c.Throttle.RegisterPerAddress, c.TrustedProxies = one, proxies })
	if r := register(behind, "kim", "198.51.100.1"); r.status != http.StatusCreated {
		t.Fatalf("first registration: %d %s", r.status, r.body)
	}
	if r := register(behind, "lee", "198.51.100.2"); r.status != http.StatusCreated {
		t.Errorf("a registration from another address: %d %s", r.status, r.body)
	}
	throttled(t, "a second registration from one address", register(behind, "max", "198.51.100.1"), 3600)

	// From anyone else the header is the client's word, and ignored.
	direct := e.gateway(t, func(c *gateway.Config) { c.Throttle.RegisterPerAddress = one })
	if r := register(direct, "ned", "198.51.100.3"); r.status != http.StatusCreated {
		t.Fatalf("first registration: %d %s", r.status, r.body)
	}
	throttled(t, "a registration claiming another address", register(direct, "oda", "198.51.100.4"), 3600)
}
