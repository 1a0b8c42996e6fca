package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/chillin-chat/chillin/events"
	"github.com/chillin-chat/chillin/events/password"
	"github.com/chillin-chat/chillin/gateway"
	"github.com/coder/websocket"
)

// authGateway starts one more gateway of s, configured like the system's
// own, then by tune; it trusts this machine as a proxy, so a test names
// the client's address in X-Forwarded-For. It returns the gateway's base
// and WebSocket URLs.
func (s *system) authGateway(tune func(*gateway.Config)) (baseURL, wsURL string) {
	s.t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		s.t.Fatal(err)
	}
	proxies, _ := gateway.ParseTrustedProxies("127.0.0.1")
	cfg := gateway.Config{
		Listener: ln, NATSURL: s.natsURL, PostgresURL: s.servicePG, RedisURL: s.serviceRD, RedisPrefix: s.prefix,
		Password: fastHash, PresenceBeat: s.presenceBeat, Logger: s.log.With("service", "gateway"),
		TrustedProxies: proxies,
	}
	tune(&cfg)
	s.service("gateway", func(ctx context.Context) error { return gateway.Run(ctx, cfg) })
	return "http://" + ln.Addr().String(), "ws://" + ln.Addr().String() + "/ws"
}

// answer is a REST answer as a throttled client sees it.
type answer struct {
	status     int
	retryAfter string
	code       string
	token      string
}

// call posts body to baseURL+path as a client at addr (X-Forwarded-For).
func call(t *testing.T, baseURL, path, addr, token string, body any) answer {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", baseURL+path, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	if addr != "" {
		req.Header.Set("X-Forwarded-For", addr)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out struct {
		Token string        `json:"token"`
		Error *events.Error `json:"error"`
	}
	_ = json.Unmarshal(raw, &out)
	a := answer{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After"), token: out.Token}
	if out.Error != nil {
		a.code = out.Error.Code
	}
	return a
}

// wantClosed waits for c to be closed with code, dropping its frames.
func wantClosed(t *testing.T, c *client, code websocket.StatusCode, within time.Duration) {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case _, ok := <-c.frames:
			if ok {
				continue
			}
			if err := <-c.closed; websocket.CloseStatus(err) != code {
				t.Fatalf("%s: socket closed with %v, want %d", c.user, err, code)
			}
			return
		case <-deadline:
			t.Fatalf("%s: socket still open after %v, want it closed with %d", c.user, within, code)
		}
	}
}

func login(t *testing.T, baseURL, addr, user, pw string) answer {
	t.Helper()
	return call(t, baseURL, "/api/auth/login", addr, "", map[string]string{"username": user, "password": pw})
}

// wantThrottled fails unless a is 429 TOO_MANY_ATTEMPTS with a Retry-After
// within the window.
func wantThrottled(t *testing.T, what string, a answer, window time.Duration) {
	t.Helper()
	secs, err := strconv.Atoi(a.retryAfter)
	if a.status != http.StatusTooManyRequests || a.code != "TOO_MANY_ATTEMPTS" || err != nil || secs < 1 || secs > int(window.Seconds()) {
		t.Fatalf("%s: %d %s Retry-After %q, want 429 TOO_MANY_ATTEMPTS with Retry-After of at most %v", what, a.status, a.code, a.retryAfter, window)
	}
}

// Wrong passwords are counted per account and address: the sixth from one
// address is refused, even with the right password, while the owner logs
// in from another address. Guesses from many addresses meet the account's
// own limit.
func TestLoginThrottle(t *testing.T) {
	s := newSystem(t)
	s.register("alice")
	base, _ := s.authGateway(func(c *gateway.Config) {
		c.Throttle.LoginPerAccount = gateway.Rule{Max: 9, Window: time.Minute}
	})
	const attacker, owner = "203.0.113.66", "198.51.100.7"
	for i := 1; i <= 5; i++ {
		if a := login(t, base, attacker, "alice", "guess-"+strconv.Itoa(i)); a.status != 401 || a.code != "INVALID_CREDENTIALS" {
			t.Fatalf("wrong password %d: %d %s", i, a.status, a.code)
		}
	}
	wantThrottled(t, "6th wrong password", login(t, base, attacker, "alice", "guess-6"), 15*time.Minute)
	wantThrottled(t, "right password from the guessing address", login(t, base, attacker, "alice", "password-alice"), 15*time.Minute)
	if a := login(t, base, owner, "alice", "password-alice"); a.status != 200 || a.token == "" {
		t.Fatalf("owner from another address: %d %s", a.status, a.code)
	}
	// The account has counted 7 attempts (the owner's success is taken
	// back): two more from fresh addresses pass, the third is refused.
	for i, addr := range []string{"192.0.2.1", "192.0.2.2"} {
		if a := login(t, base, addr, "alice", "spread-"+strconv.Itoa(i)); a.status != 401 {
			t.Fatalf("spread guess %d: %d %s", i, a.status, a.code)
		}
	}
	wantThrottled(t, "guesses spread over addresses", login(t, base, "192.0.2.3", "alice", "spread-3"), time.Minute)
	// Other accounts are not locked by alice's.
	s.register("bob")
	if a := login(t, base, "192.0.2.4", "bob", "password-bob"); a.status != 200 {
		t.Fatalf("bob: %d %s", a.status, a.code)
	}
}

// A gateway that does not trust the peer ignores X-Forwarded-For: a
// client cannot spread guesses by naming addresses of its own.
func TestLoginThrottleIgnoresUntrustedForwardedFor(t *testing.T) {
	s := newSystem(t)
	s.register("alice")
	for i := 1; i <= 5; i++ {
		if a := login(t, s.baseURL, "203.0.113."+strconv.Itoa(i), "alice", "guess"); a.status != 401 {
			t.Fatalf("wrong password %d: %d %s", i, a.status, a.code)
		}
	}
	wantThrottled(t, "6th guess under a 6th forged address", login(t, s.baseURL, "203.0.113.6", "alice", "guess"), 15*time.Minute)
}

func TestRegisterThrottle(t *testing.T) {
	s := newSystem(t)
	base, _ := s.authGateway(func(c *gateway.Config) {
		c.Throttle.RegisterPerAddress = gateway.Rule{Max: 2, Window: time.Hour}
	})
	reg := func(addr, user string) answer {
		return call(t, base, "/api/auth/register", addr, "", map[string]string{"username": user, "password": "password-" + user})
	}
	for _, u := range []string{"u1", "u2"} {
		if a := reg("203.0.113.9", u); a.status != 201 {
			t.Fatalf("register %s: %d %s", u, a.status, a.code)
		}
	}
	wantThrottled(t, "3rd registration from one address", reg("203.0.113.9", "u3"), time.Hour)
	if a := reg("203.0.113.10", "u3"); a.status != 201 {
		t.Fatalf("register from another address: %d %s", a.status, a.code)
	}
}

// One hashing slot: concurrent logins beyond it wait a moment, then are
// refused with 503 SERVER_BUSY and Retry-After instead of queueing.
func TestHashingBound(t *testing.T) {
	s := newSystem(t)
	slow := password.Params{Memory: 8 << 10, Time: 40, Threads: 1} // tens of ms a hash
	base, _ := s.authGateway(func(c *gateway.Config) {
		c.Password = slow
		c.Throttle.HashConcurrency = 1
		c.Throttle.HashWait = time.Millisecond
	})
	if a := call(t, base, "/api/auth/register", "192.0.2.50", "", map[string]string{"username": "alice", "password": "password-alice"}); a.status != 201 {
		t.Fatalf("register: %d %s", a.status, a.code)
	}
	const n = 8
	answers := make([]answer, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers[i] = login(t, base, "192.0.2."+strconv.Itoa(i+1), "alice", "password-alice")
		}()
	}
	wg.Wait()
	ok, busy := 0, 0
	for _, a := range answers {
		switch {
		case a.status == 200:
			ok++
		case a.status == 503 && a.code == "SERVER_BUSY" && a.retryAfter == "1":
			busy++
		default:
			t.Fatalf("login: %d %s Retry-After %q", a.status, a.code, a.retryAfter)
		}
	}
	if ok == 0 || busy == 0 {
		t.Fatalf("%d logged in, %d refused as busy; want some of each", ok, busy)
	}
}

func TestRoomPasswordTooShort(t *testing.T) {
	s := newSystem(t)
	alice := s.register("alice")
	var out struct{ Error *events.Error }
	if code := s.api("POST", "/api/rooms", alice, map[string]any{"name": "Vault", "isPrivate": true, "password": "1234567"}, &out); code != 400 || out.Error == nil || out.Error.Code != "INVALID_PASSWORD" {
		t.Fatalf("7-character room password: %d %+v", code, out.Error)
	}
	if code := s.api("POST", "/api/rooms", alice, map[string]any{"name": "Vault", "isPrivate": true, "password": "12345678"}, nil); code != 201 {
		t.Fatalf("8-character room password: %d", code)
	}
}

// Wrong room passwords are counted per user and room at the gateway: once
// spent, a join with a password is refused before the validator hashes it.
func TestRoomPasswordThrottle(t *testing.T) {
	s := newSystem(t)
	alice, bob, carol := s.register("alice"), s.register("bob"), s.register("carol")
	if code := s.api("POST", "/api/rooms", alice, map[string]any{"name": "Vault", "isPrivate": true, "password": "open-sesame"}, nil); code != 201 {
		t.Fatalf("create: %d", code)
	}
	b := s.dial(bob)
	join := func(c *client, pw string) map[string]any {
		reply, _ := c.request("room:join", map[string]any{"room": "vault", "password": pw})
		return reply
	}
	errCode := func(reply map[string]any) string {
		e, _ := reply["error"].(map[string]any)
		code, _ := e["code"].(string)
		return code
	}
	for i := 1; i <= 5; i++ {
		if r := join(b, "guess-"+strconv.Itoa(i)); errCode(r) != "WRONG_PASSWORD" {
			t.Fatalf("guess %d: %v", i, r)
		}
	}
	r := join(b, "guess-6")
	e, _ := r["error"].(map[string]any)
	if r["ok"] != false || errCode(r) != "TOO_MANY_ATTEMPTS" || e["retryAfterMs"] == nil || e["retryAfterMs"].(float64) <= 0 {
		t.Fatalf("6th guess: %v", r)
	}
	if r := join(b, "open-sesame"); errCode(r) != "TOO_MANY_ATTEMPTS" {
		t.Fatalf("right password after the guesses: %v", r)
	}
	// Another user is not held back by bob's guesses.
	if r := join(s.dial(carol), "open-sesame"); r["ok"] != true {
		t.Fatalf("carol: %v", r)
	}
}

// A session ends at its absolute lifetime however much it is used: its
// socket closes with 4001 and its token stops working.
func TestSessionAbsoluteLifetime(t *testing.T) {
	s := newSystem(t)
	s.register("alice")
	base, wsURL := s.authGateway(func(c *gateway.Config) { c.SessionMaxAge = 3 * time.Second })
	// The session starts during the login (at a whole second), however
	// long the login takes: measured from before it, the socket lives at
	// least 2 s.
	started := time.Now()
	a := login(t, base, "", "alice", "password-alice")
	if a.status != 200 {
		t.Fatalf("login: %d %s", a.status, a.code)
	}
	c := s.dialAt(wsURL, a.token)
	wantClosed(t, c, 4001, 10*time.Second)
	if d := time.Since(started); d < 2*time.Second || d > 10*time.Second {
		t.Fatalf("socket closed after %v, want about 3s", d)
	}
	if code := call(t, base, "/api/auth/logout", "", a.token, nil).status; code != 401 {
		t.Fatalf("token past its lifetime: %d", code)
	}
}

// Log out everywhere: every session of the user is revoked and their
// sockets close, on every gateway.
func TestLogoutAll(t *testing.T) {
	s := newSystem(t)
	first := s.register("alice")
	bob := s.register("bob")
	_, otherWS := s.authGateway(func(*gateway.Config) {})
	second := login(t, s.baseURL, "", "alice", "password-alice").token
	c1, c2, cb := s.dial(first), s.dialAt(otherWS, second), s.dial(bob)
	a := call(t, s.baseURL, "/api/auth/logout-all", "", first, nil)
	if a.status != 200 {
		t.Fatalf("logout-all: %d %s", a.status, a.code)
	}
	for _, c := range []*client{c1, c2} {
		wantClosed(t, c, 4001, 10*time.Second)
	}
	for _, tok := range []string{first, second} {
		if code := s.api("GET", "/api/auth/me", tok, nil, nil); code != 401 {
			t.Fatalf("revoked token: %d", code)
		}
	}
	cb.write(map[string]any{"type": "heartbeat", "data": map[string]any{"t": 1}})
	if f := cb.next(5 * time.Second); f.Type != "heartbeat:ack" {
		t.Fatalf("bob's socket: %s", f.Type)
	}
}

// A revocation closes sockets even when its live message never comes: the
// gateway rechecks its sockets' sessions against the session store.
func TestRevokedSessionRecheckedWithoutLiveMessage(t *testing.T) {
	s := newSystem(t)
	alice := s.register("alice")
	_, wsURL := s.authGateway(func(c *gateway.Config) { c.SessionRecheck = 200 * time.Millisecond })
	c := s.dialAt(wsURL, alice)
	s.projectorStop() // nobody publishes the revocation's live message
	if code := s.api("POST", "/api/auth/logout", alice, nil, nil); code != 204 {
		t.Fatalf("logout: %d", code)
	}
	wantClosed(t, c, 4001, 10*time.Second)
}
