package gateway_test

// The route tests (routes_test.go, sockets_test.go) run the gateway as it
// is deployed: gateway.Run on a loopback listener, against an in-process
// JetStream (events/natstest), a fresh database (schema/schematest) and a
// Redis key prefix of each gateway's own (events/redistest).
//
// What the gateway asks the validator (a registration, a session, a room)
// is decided by the real validator, run in process with validator.Run. The
// validator module depends on events alone, not on the projector, so it
// costs the gateway module a test dependency and nothing else; a stand-in
// answering the command subjects would be a second copy of the
// validator's decisions to keep in step by hand, and would let a change of
// the command contract pass here. No projector runs: the projections
// (Postgres, the Redis cache) hold only what a test writes into them, and
// the gateway reads the rest from the log, as it does before a projection
// has caught up.

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chillin-chat/chillin/events/natstest"
	"github.com/chillin-chat/chillin/events/password"
	"github.com/chillin-chat/chillin/events/redistest"
	"github.com/chillin-chat/chillin/gateway"
	"github.com/chillin-chat/chillin/schema/schematest"
	"github.com/chillin-chat/chillin/validator"
	"github.com/jackc/pgx/v5/pgxpool"
)

// fastHash keeps registrations and logins quick; the OWASP parameters are
// tested in events/password.
var fastHash = password.Params{Memory: 64, Time: 1, Threads: 1}

// TestGateway runs the route and socket tests as subtests sharing one
// NATS server, database and validator, which take most of a second to
// start; each subtest starts gateways of its own (with their own Redis
// prefix), and uses usernames and room ids no other subtest uses.
func TestGateway(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, *env)
	}{
		{"Probes", testProbes},
		{"AuthRequired", testAuthRequired},
		{"RegisterAndLogin", testRegisterAndLogin},
		{"RegisterRefusesBadInput", testRegisterRefusesBadInput},
		{"Logout", testLogout},
		{"CreateRoom", testCreateRoom},
		{"CreateRoomRateLimited", testCreateRoomRateLimited},
		{"RoomListPages", testRoomListPages},
		{"RoomReads", testRoomReads},
		{"HistoryEvents", testHistoryEvents},
		{"MyRoomsPages", testMyRoomsPages},
		{"LoginThrottled", testLoginThrottled},
		{"RegisterThrottledPerClientAddress", testRegisterThrottledPerClientAddress},
		{"SocketHandshake", testSocketHandshake},
		{"SocketLeases", testSocketLeases},
		{"SocketFrames", testSocketFrames},
		{"DroppedSocket", testDroppedSocket},
		{"RoomPasswordThrottled", testRoomPasswordThrottled},
		{"FilesWithoutStorage", testFilesWithoutStorage},
		{"Files", testFiles},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, e) })
	}
}

// env is what the gateways of TestGateway share: NATS, a database and a
// validator.
type env struct {
	natsURL string
	pool    *pgxpool.Pool
	pgURL   string
}

// newEnv starts NATS, a fresh database and a validator, all stopped when
// the test ends.
func newEnv(t *testing.T) *env {
	t.Helper()
	ns := natstest.Start(t)
	pool, pgURL := schematest.NewDB(t)
	e := &env{natsURL: ns.ClientURL(), pool: pool, pgURL: pgURL}
	prefix := redistest.Prefix(t)
	service(t, "validator", func(ctx context.Context) error {
		return validator.Run(ctx, validator.Config{
			NATSURL: e.natsURL, RedisURL: redistest.URL(), RedisPrefix: prefix, Workers: 8,
			Logger: testLog(t).With("service", "validator"),
		})
	})
	return e
}

// testLog is a logger of warnings and errors into t's log.
func testLog(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// testWriter sends logs to t.Log, so they show only for failing tests.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// service runs fn until the test ends; an error it returns on its own fails
// the test.
func service(t *testing.T, name string, fn func(ctx context.Context) error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- fn(ctx) }()
	var once sync.Once
	t.Cleanup(func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("%s: %v", name, err)
				}
			case <-time.After(30 * time.Second):
				t.Errorf("%s did not stop within 30s", name)
			}
		})
	})
}

// gw is one running gateway.
type gw struct {
	t      *testing.T
	base   string // http://host:port
	ws     string // ws://host:port/ws
	prefix string // its Redis prefix
}

// gateway starts a gateway on e's NATS and database, with a Redis prefix of
// its own, configured by tune (which may be nil), until t ends. Every client
// of a test comes from 127.0.0.1, so registrations are not throttled unless
// tune says so.
func (e *env) gateway(t *testing.T, tune func(*gateway.Config)) *gw {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := gateway.Config{
		Listener: ln, NATSURL: e.natsURL, PostgresURL: e.pgURL, RedisURL: redistest.URL(),
		RedisPrefix: redistest.Prefix(t), Password: fastHash, Logger: testLog(t).With("service", "gateway"),
		Throttle: gateway.Throttle{RegisterPerAddress: gateway.Rule{Max: 1000, Window: time.Hour}},
	}
	if tune != nil {
		tune(&cfg)
	}
	service(t, "gateway", func(ctx context.Context) error { return gateway.Run(ctx, cfg) })
	g := &gw{t: t, base: "http://" + ln.Addr().String(), ws: "ws://" + ln.Addr().String() + "/ws", prefix: cfg.RedisPrefix}
	// The listener exists before Run serves it: a request waits in its
	// backlog. /health answers once the gateway serves.
	if r := g.do("GET", "/health", "", nil, nil); r.status != http.StatusOK {
		t.Fatalf("gateway /health: %d %s", r.status, r.body)
	}
	return g
}

// reply is a REST answer.
type reply struct {
	status int
	header http.Header
	body   []byte
}

// errorCode is the code of the answer's error envelope, "" if none.
func (r reply) errorCode() string {
	var env struct {
		Error *struct{ Code string } `json:"error"`
	}
	if json.Unmarshal(r.body, &env) != nil || env.Error == nil {
		return ""
	}
	return env.Error.Code
}

// decode decodes the body into v or fails the test.
func (r reply) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("answer %d %s: %v", r.status, r.body, err)
	}
}

// do sends a request; body is sent as it is when it is a string or []byte,
// else as JSON.
func (g *gw) do(method, path, token string, body any, header http.Header) reply {
	g.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			g.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, g.base+path, rd)
	if err != nil {
		g.t.Fatal(err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	// Redirects (file downloads) are answers of their own.
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		g.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		g.t.Fatalf("%s %s: %v", method, path, err)
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: b}
}

// register registers user (password "password-<user>") and returns its
// token.
func (g *gw) register(user string) string {
	g.t.Helper()
	r := g.do("POST", "/api/auth/register", "", map[string]string{"username": user, "password": "password-" + user}, nil)
	if r.status != http.StatusCreated {
		g.t.Fatalf("register %s: %d %s", user, r.status, r.body)
	}
	var a struct{ Token string }
	r.decode(g.t, &a)
	if a.Token == "" {
		g.t.Fatalf("register %s: no token in %s", user, r.body)
	}
	return a.Token
}

// wantError fails the test unless r is status with the error code.
func wantError(t *testing.T, what string, r reply, status int, code string) {
	t.Helper()
	if r.status != status || r.errorCode() != code {
		t.Errorf("%s: %d %s; want %d %s", what, r.status, r.body, status, code)
	}
}
