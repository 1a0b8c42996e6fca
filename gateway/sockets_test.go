package gateway_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/redis/go-redis/v9"

	"github.com/chillin-chat/chillin/events/redistest"
	"github.com/chillin-chat/chillin/gateway"
)

// The WebSocket handshake (ws.go, sockets.go) and the first frames of a
// socket. See harness_test.go for what runs.

// dial opens a socket to g as token's user (none if ""), with an Origin
// header if origin is not "". On a refused handshake it returns the
// answer's status and error code.
func (g *gw) dial(t *testing.T, token, origin string) (ws *websocket.Conn, status int, code string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	h := http.Header{}
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	if origin != "" {
		h.Set("Origin", origin)
	}
	ws, resp, err := websocket.Dial(ctx, g.ws, &websocket.DialOptions{HTTPHeader: h})
	if err == nil {
		t.Cleanup(func() { ws.CloseNow() })
		return ws, resp.StatusCode, ""
	}
	if resp == nil {
		t.Fatalf("dial: %v", err)
	}
	if resp.Body != nil {
		b, _ := io.ReadAll(resp.Body)
		code = reply{body: b}.errorCode()
	}
	return nil, resp.StatusCode, code
}

// frame is a server frame as a client reads it.
type frame struct {
	Type string          `json:"type"`
	Ref  string          `json:"ref"`
	Data json.RawMessage `json:"data"`
}

// read reads the next frame of ws.
func read(t *testing.T, ws *websocket.Conn) frame {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, b, err := ws.Read(ctx)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	var f frame
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatalf("frame %s: %v", b, err)
	}
	return f
}

// readType reads frames of ws up to the first of type typ (skipping the
// room facts and presence a join brings).
func readType(t *testing.T, ws *websocket.Conn, typ string) frame {
	t.Helper()
	for range 100 {
		if f := read(t, ws); f.Type == typ {
			return f
		}
	}
	t.Fatalf("no %s frame in 100", typ)
	return frame{}
}

func send(t *testing.T, ws *websocket.Conn, s string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := ws.Write(ctx, websocket.MessageText, []byte(s)); err != nil {
		t.Fatalf("write: %v", err)
	}
}

// The handshake is authenticated (401), checks the browser's Origin (403)
// and bounds the sockets of a user (429 TOO_MANY_SOCKETS), all before the
// upgrade; a refused handshake holds no slot.
func testSocketHandshake(t *testing.T, e *env) {
	g := e.gateway(t, func(c *gateway.Config) {
		c.MaxSocketsPerUser = 2
		c.AllowedOrigins = []string{"chat.example"}
	})
	pat := g.register("pat")

	if _, status, code := g.dial(t, "", ""); status != http.StatusUnauthorized || code != "UNAUTHENTICATED" {
		t.Errorf("no token: %d %s; want 401 UNAUTHENTICATED", status, code)
	}
	if _, status, code := g.dial(t, "pat."+strings.Repeat("A", 43), ""); status != http.StatusUnauthorized || code != "UNAUTHENTICATED" {
		t.Errorf("an unknown session: %d %s; want 401 UNAUTHENTICATED", status, code)
	}
	// More foreign handshakes than pat may hold sockets: each gives its
	// slot back.
	for _, origin := range []string{"https://evil.example", "http://chat.example.evil", "https://evil.example"} {
		if _, status, _ := g.dial(t, pat, origin); status != http.StatusForbidden {
			t.Errorf("origin %s: %d; want 403", origin, status)
		}
	}

	same := "http://" + strings.TrimPrefix(g.base, "http://")
	first, status, _ := g.dial(t, pat, same)
	if first == nil {
		t.Fatalf("same origin: %d", status)
	}
	hello := read(t, first)
	var h struct {
		User             struct{ ID string }
		SessionExpiresAt time.Time
	}
	if err := json.Unmarshal(hello.Data, &h); err != nil || hello.Type != "hello" || h.User.ID != "pat" || !h.SessionExpiresAt.After(time.Now()) {
		t.Errorf("first frame %s %s; want hello of pat", hello.Type, hello.Data)
	}
	if ws, status, _ := g.dial(t, pat, "https://chat.example"); ws == nil {
		t.Fatalf("an allowed origin: %d", status)
	}
	if _, status, code := g.dial(t, pat, ""); status != http.StatusTooManyRequests || code != "TOO_MANY_SOCKETS" {
		t.Errorf("a third socket: %d %s; want 429 TOO_MANY_SOCKETS", status, code)
	}
	if ws, status, _ := g.dial(t, g.register("quinn"), ""); ws == nil {
		t.Errorf("another user's socket: %d", status)
	}

	// A closed socket frees its slot.
	if err := first.Close(websocket.StatusNormalClosure, ""); err != nil {
		t.Logf("close: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		ws, status, code := g.dial(t, pat, "")
		if ws != nil {
			break
		}
		if status != http.StatusTooManyRequests || time.Now().After(deadline) {
			t.Fatalf("after a close: %d %s; want the slot back", status, code)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Frames are checked before anything reads them (docs/protocol.md,
// "Validation at the edge"); a join is decided by the validator.
func testSocketFrames(t *testing.T, e *env) {
	g := e.gateway(t, nil)
	rae := g.register("rae")
	if r := g.do("POST", "/api/rooms", rae, map[string]any{"name": "Porch"}, nil); r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	ws, status, _ := g.dial(t, rae, "")
	if ws == nil {
		t.Fatalf("dial: %d", status)
	}
	if f := read(t, ws); f.Type != "hello" {
		t.Fatalf("first frame %s", f.Type)
	}
	for _, tc := range []struct {
		name, frame, ref, code string
	}{
		{"not JSON", `hello`, "", "BAD_FRAME"},
		{"no type", `{"ref":"a"}`, "", "BAD_FRAME"},
		{"an unknown type", `{"type":"room:destroy","ref":"b"}`, "b", "UNKNOWN_TYPE"},
		{"a ref too long", `{"type":"heartbeat","ref":"` + strings.Repeat("r", 65) + `"}`, "", "BAD_FRAME"},
		{"a bad room id", `{"type":"room:join","ref":"c","data":{"room":"Porch"}}`, "c", "INVALID_ROOM"},
		{"a missing field", `{"type":"message:send","ref":"d","data":{"room":"porch","text":"hi"}}`, "d", "BAD_FRAME"},
		{"a field of the wrong type", `{"type":"room:sync","ref":"e","data":{"room":"porch","after":"0"}}`, "e", "BAD_FRAME"},
		{"a bad status", `{"type":"presence:set","ref":"f","data":{"status":"asleep"}}`, "f", "BAD_FRAME"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			send(t, ws, tc.frame)
			f := readType(t, ws, "error")
			var e struct{ Code string }
			if err := json.Unmarshal(f.Data, &e); err != nil || f.Ref != tc.ref || e.Code != tc.code {
				t.Errorf("error frame ref %q %s; want ref %q code %s", f.Ref, f.Data, tc.ref, tc.code)
			}
		})
	}

	send(t, ws, `{"type":"heartbeat","ref":"h","data":{"t":42}}`)
	if f := readType(t, ws, "heartbeat:ack"); f.Ref != "h" {
		t.Errorf("heartbeat answered with ref %q", f.Ref)
	}
	send(t, ws, `{"type":"room:join","ref":"j1","data":{"room":"nowhere"}}`)
	var refused struct {
		OK    bool
		Error struct{ Code string }
	}
	if f := readType(t, ws, "reply"); json.Unmarshal(f.Data, &refused) != nil || f.Ref != "j1" || refused.OK || refused.Error.Code != "NO_SUCH_ROOM" {
		t.Errorf("join of no room: ref %q %s; want NO_SUCH_ROOM", f.Ref, f.Data)
	}
	send(t, ws, `{"type":"room:join","ref":"j2","data":{"room":"porch"}}`)
	var joined struct {
		OK      bool
		HeadSeq uint64
		Room    struct{ ID string }
		Members []struct{ User string }
	}
	if f := readType(t, ws, "reply"); json.Unmarshal(f.Data, &joined) != nil || f.Ref != "j2" || !joined.OK || joined.Room.ID != "porch" ||
		joined.HeadSeq < 1 || len(joined.Members) != 1 || joined.Members[0].User != "rae" {
		t.Errorf("join: ref %q %s; want porch, its creator a member", f.Ref, f.Data)
	}
}

// Wrong room passwords are counted per user and room before the join
// reaches the validator: beyond the limit even the right one is refused
// with TOO_MANY_ATTEMPTS, saying when to come back.
func testRoomPasswordThrottled(t *testing.T, e *env) {
	g := e.gateway(t, func(c *gateway.Config) { c.Throttle.RoomPassword = gateway.Rule{Max: 2, Window: time.Minute} })
	if r := g.do("POST", "/api/rooms", g.register("wes"), map[string]any{"name": "Safe", "password": "secret-pw"}, nil); r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	ws, status, _ := g.dial(t, g.register("vic"), "")
	if ws == nil {
		t.Fatalf("dial: %d", status)
	}
	join := func(ref, pw string) (code string, retryAfterMs int64) {
		t.Helper()
		send(t, ws, `{"type":"room:join","ref":"`+ref+`","data":{"room":"safe","password":"`+pw+`"}}`)
		f := readType(t, ws, "reply")
		var d struct {
			OK    bool
			Error struct {
				Code         string
				RetryAfterMs int64
			}
		}
		if err := json.Unmarshal(f.Data, &d); err != nil || f.Ref != ref || d.OK {
			t.Fatalf("join %s: ref %q %s; want a refusal", ref, f.Ref, f.Data)
		}
		return d.Error.Code, d.Error.RetryAfterMs
	}
	for _, ref := range []string{"w1", "w2"} {
		if code, _ := join(ref, "guess-one"); code != "WRONG_PASSWORD" {
			t.Errorf("guess %s: %s; want WRONG_PASSWORD", ref, code)
		}
	}
	for _, pw := range []string{"guess-two", "secret-pw"} {
		if code, ms := join("w-"+pw, pw); code != "TOO_MANY_ATTEMPTS" || ms <= 0 || ms > 60_000 {
			t.Errorf("a join with %s after 2 wrong: %s retry in %d ms; want TOO_MANY_ATTEMPTS within the minute", pw, code, ms)
		}
	}
}

// A socket's hold on one of its user's slots is a lease in Redis that the
// gateway renews while the socket lives: a long-lived socket keeps its slot
// past the lease's first expiry, while the lease a gateway left when it
// died (here written as takeLease writes it) lapses and frees its slot.
func testSocketLeases(t *testing.T, e *env) {
	const lease = 1500 * time.Millisecond
	g := e.gateway(t, func(c *gateway.Config) {
		c.MaxSocketsPerUser = 2
		c.SocketLease = lease
	})
	kai := g.register("kai")
	rdb := redistest.Client(t)
	key := g.prefix + "sockets:kai"
	ctx := context.Background()
	// now is the time on Redis's clock, which leases run on.
	now := func() time.Time {
		t.Helper()
		now, err := rdb.Time(ctx).Result()
		if err != nil {
			t.Fatal(err)
		}
		return now
	}
	// held are the leases of the set that have not lapsed.
	held := func() []string {
		t.Helper()
		from := strconv.FormatInt(now().UnixMilli()+1, 10)
		m, err := rdb.ZRangeByScore(ctx, key, &redis.ZRangeBy{Min: from, Max: "+inf"}).Result()
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	dead := "gone.1"
	if err := rdb.ZAdd(ctx, key, redis.Z{Score: float64(now().Add(lease).UnixMilli()), Member: dead}).Err(); err != nil {
		t.Fatal(err)
	}

	if ws, status, _ := g.dial(t, kai, ""); ws == nil {
		t.Fatalf("a socket beside the dead gateway's: %d", status)
	}
	live := held()
	if len(live) != 2 {
		t.Fatalf("leases %v, want the dead gateway's and the socket's", live)
	}
	if _, status, code := g.dial(t, kai, ""); status != http.StatusTooManyRequests || code != "TOO_MANY_SOCKETS" {
		t.Fatalf("a socket while the dead gateway's lease holds: %d %s; want 429 TOO_MANY_SOCKETS", status, code)
	}

	time.Sleep(2 * lease) // past both leases' first expiry
	if got := held(); len(got) != 1 || got[0] == dead || !slices.Contains(live, got[0]) {
		t.Fatalf("leases held %v after %v; want the live socket's alone, renewed (had %v)", got, 2*lease, live)
	}
	if ws, status, _ := g.dial(t, kai, ""); ws == nil {
		t.Fatalf("a socket once the dead gateway's lease lapsed: %d", status)
	}
	if _, status, code := g.dial(t, kai, ""); status != http.StatusTooManyRequests || code != "TOO_MANY_SOCKETS" {
		t.Errorf("a third socket: %d %s; want 429 TOO_MANY_SOCKETS, the long-lived socket's slot still held", status, code)
	}
}
