package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chillin-chat/chillin/events"
	"github.com/chillin-chat/chillin/events/natstest"
	"github.com/chillin-chat/chillin/events/objstore"
	"github.com/chillin-chat/chillin/events/objstore/objstoretest"
	"github.com/chillin-chat/chillin/events/password"
	"github.com/chillin-chat/chillin/events/ratelimit"
	"github.com/chillin-chat/chillin/events/redistest"
	"github.com/chillin-chat/chillin/gateway"
	"github.com/chillin-chat/chillin/projector"
	"github.com/chillin-chat/chillin/schema/schematest"
	"github.com/chillin-chat/chillin/ui"
	"github.com/chillin-chat/chillin/validator"
	"github.com/coder/websocket"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"
)

// fastHash keeps tests quick; the OWASP parameters are tested in events/password.
var fastHash = password.Params{Memory: 64, Time: 1, Threads: 1}

// system is a whole Chillin system started in-process on free ports: an
// embedded JetStream, a fresh database, a private Redis prefix, and services
// that a test can stop and start again.
type system struct {
	t       *testing.T
	ns      *server.Server // restartNATS replaces it
	natsURL string
	js      jetstream.JetStream
	pool    *pgxpool.Pool
	pgURL   string
	prefix  string
	log     *slog.Logger

	rateLimit    int
	rateLimits   ratelimit.Rules // nil: every kind's default, or rateLimit's if larger
	frameRate    float64
	presenceBeat time.Duration
	// With withStorage: a bucket of this system's own on the test S3 endpoint.
	storage      objstore.Config
	uploadExpiry time.Duration
	// With withStallableGatewayNATS: the gateways reach NATS through it.
	gatewayNATS *proxy
	// With withCommandLifetime: the gateways' command deadline and grace.
	commandLifetime, answerGrace time.Duration
	baseURL                      string
	wsURL                        string

	// The latest validator's and projector's stop functions.
	validatorStop, projectorStop func()

	// With withProxies, the services reach Postgres and Redis through
	// proxies the test can cut; the test itself reaches them directly.
	proxied              bool
	pgProxy, redisProxy  *proxy
	servicePG, serviceRD string
}

type sysOption func(*system)

// withProxies puts Postgres and Redis behind proxies the test can cut.
func withProxies() sysOption { return func(s *system) { s.proxied = true } }

// withCommandLifetime shortens the deadline gateways give commands, and the
// grace after it before they answer one that no decision reached.
func withCommandLifetime(lifetime, grace time.Duration) sysOption {
	return func(s *system) { s.commandLifetime, s.answerGrace = lifetime, grace }
}

// withStallableGatewayNATS has the gateways reach NATS through a proxy
// the test can stall (s.gatewayNATS).
func withStallableGatewayNATS() sysOption {
	return func(s *system) { s.gatewayNATS = newProxy(s.t, s.natsURL) }
}

func withRateLimit(n int) sysOption { return func(s *system) { s.rateLimit = n } }

// withRateLimits sets the per-user limits of the validator and the gateways.
func withRateLimits(rules ratelimit.Rules) sysOption { return func(s *system) { s.rateLimits = rules } }

// limits are the rules the services get: withRateLimits', or the defaults,
// each raised to withRateLimit's per 10 s where that is more (a test that
// sends a burst sends it of every kind).
func (s *system) limits() ratelimit.Rules {
	if s.rateLimits != nil {
		return s.rateLimits
	}
	rules := ratelimit.DefaultRules()
	for k, r := range rules {
		if s.rateLimit > r.Limit {
			rules[k] = ratelimit.Rule{Limit: s.rateLimit, Window: 10 * time.Second}
		}
	}
	return rules
}

// withPresenceBeat shortens the gateways' presence beat.
func withPresenceBeat(d time.Duration) sysOption { return func(s *system) { s.presenceBeat = d } }

// withFrameRate raises the gateway's per-socket flood limit, for bursts.
func withFrameRate(perSec float64) sysOption { return func(s *system) { s.frameRate = perSec } }

// withStorage gives the gateway and the validator media storage: a fresh
// bucket on the test S3 endpoint (MinIO from deps.sh), removed at the end,
// and upload forms valid for uploadExpiry (0: the gateway's default).
func withStorage(uploadExpiry time.Duration) sysOption {
	return func(s *system) {
		s.storage, _ = objstoretest.NewBucket(s.t)
		s.uploadExpiry = uploadExpiry
	}
}

// newSystem starts NATS, Postgres (database) and one of each service.
func newSystem(t *testing.T, opts ...sysOption) *system {
	t.Helper()
	ns := natstest.Start(t)
	_, js := natstest.Connect(t, ns)
	pool, pgURL := schematest.NewDB(t)
	s := &system{
		t: t, ns: ns, natsURL: ns.ClientURL(), js: js, pool: pool, pgURL: pgURL,
		prefix: redistest.Prefix(t), rateLimit: 10,
		log: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	for _, o := range opts {
		o(s)
	}
	s.servicePG, s.serviceRD = s.pgURL, redistest.URL()
	if s.proxied {
		s.pgProxy, s.redisProxy = newProxy(t, s.pgURL), newProxy(t, redistest.URL())
		s.servicePG, s.serviceRD = s.pgProxy.url, s.redisProxy.url
	}
	s.startValidator()
	s.startProjector()
	s.startGateway()
	return s
}

// restartNATS stops the NATS server, waits down, and starts another on the
// same store and port; the services reconnect by themselves.
func (s *system) restartNATS(down time.Duration) {
	s.t.Helper()
	dir := s.ns.JetStreamConfig().StoreDir
	port := s.ns.Addr().(*net.TCPAddr).Port
	s.ns.Shutdown()
	s.ns.WaitForShutdown()
	time.Sleep(down)
	s.ns = natstest.StartAt(s.t, filepath.Dir(dir), port)
}

// testWriter sends logs to t.Log, so they show only for failing tests.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// service runs fn until the returned stop is called (or the test ends).
func (s *system) service(name string, fn func(ctx context.Context) error) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- fn(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil && ctx.Err() == nil {
					s.t.Errorf("%s: %v", name, err)
				}
			case <-time.After(30 * time.Second):
				s.t.Errorf("%s did not stop within 30s", name)
			}
		})
	}
	s.t.Cleanup(stop)
	// A service that fails at start fails the test at once.
	select {
	case err := <-done:
		s.t.Fatalf("%s stopped at start: %v", name, err)
	case <-time.After(50 * time.Millisecond):
	}
	return stop
}

func (s *system) startValidator() {
	s.validatorStop = s.service("validator", func(ctx context.Context) error {
		return validator.Run(ctx, validator.Config{
			NATSURL: s.natsURL, RedisURL: s.serviceRD, RedisPrefix: s.prefix,
			RateLimit: s.rateLimit, RateWindow: 10 * time.Second, RateLimits: s.limits(), Logger: s.log.With("service", "validator"),
			Storage: s.storage,
		})
	})
}

func (s *system) startProjector() {
	s.projectorStop = s.service("projector", func(ctx context.Context) error {
		return projector.Run(ctx, projector.Config{
			NATSURL: s.natsURL, PostgresURL: s.servicePG, RedisURL: s.serviceRD, RedisPrefix: s.prefix,
			Views: []string{"pg", "live", "cache"}, Logger: s.log.With("service", "projector"),
		})
	})
}

// startGateway starts a gateway; the first one is the system's own
// (s.baseURL, s.wsURL). It returns the new gateway's WebSocket URL and stop.
func (s *system) startGateway() (wsURL string, stop func()) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		s.t.Fatal(err)
	}
	wsURL = "ws://" + ln.Addr().String() + "/ws"
	if s.baseURL == "" {
		s.baseURL = "http://" + ln.Addr().String()
		s.wsURL = wsURL
	}
	natsURL := s.natsURL
	if s.gatewayNATS != nil {
		natsURL = s.gatewayNATS.url
	}
	return wsURL, s.service("gateway", func(ctx context.Context) error {
		return gateway.Run(ctx, gateway.Config{
			Listener: ln, NATSURL: natsURL, PostgresURL: s.servicePG, RedisURL: s.serviceRD, RedisPrefix: s.prefix,
			Password: fastHash, UI: ui.FS(), FrameRate: s.frameRate, FrameBurst: int(s.frameRate),
			PresenceBeat: s.presenceBeat, RateLimits: s.limits(), Logger: s.log.With("service", "gateway"),
			Storage: s.storage, UploadExpiry: s.uploadExpiry,
			CommandLifetime: s.commandLifetime, AnswerGrace: s.answerGrace,
			// Every test user registers from this machine's one address.
			Throttle: gateway.Throttle{RegisterPerAddress: gateway.Rule{Max: 1000, Window: time.Hour}},
		})
	})
}

// api calls the REST API; it returns the status and decodes the body into out.
func (s *system) api(method, path, token string, body, out any) int {
	s.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, s.baseURL+path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			s.t.Fatalf("%s %s: %d %s: %v", method, path, resp.StatusCode, b, err)
		}
	}
	return resp.StatusCode
}

type authAnswer struct {
	User struct {
		ID string `json:"id"`
	} `json:"user"`
	Token string `json:"token"`
	Error *events.Error
}

// register creates a user and returns its token.
func (s *system) register(user string) string {
	s.t.Helper()
	var a authAnswer
	if code := s.api("POST", "/api/auth/register", "", map[string]string{"username": user, "password": "password-" + user}, &a); code != http.StatusCreated {
		s.t.Fatalf("register %s: %d %+v", user, code, a.Error)
	}
	return a.Token
}

// createRoom creates a public room as token's user.
func (s *system) createRoom(token, name string) string {
	s.t.Helper()
	var out struct {
		Room  struct{ ID string } `json:"room"`
		Error *events.Error
	}
	if code := s.api("POST", "/api/rooms", token, map[string]any{"name": name}, &out); code != http.StatusCreated {
		s.t.Fatalf("create room %s: %d %+v", name, code, out.Error)
	}
	return out.Room.ID
}

// frame is a server frame as a client reads it.
type frame struct {
	Type string          `json:"type"`
	Ref  string          `json:"ref"`
	Data json.RawMessage `json:"data"`
}

type eventData struct {
	Room string          `json:"room"`
	Seq  uint64          `json:"seq"`
	ID   uint64          `json:"id"`
	Kind string          `json:"kind"`
	User string          `json:"user"`
	Data json.RawMessage `json:"data"`
}

type messageData struct {
	ID       uint64 `json:"id"`
	Seq      uint64 `json:"seq"`
	User     string `json:"user"`
	Text     string `json:"text"`
	ClientID string `json:"clientId"`
}

// client is a WebSocket client that reads every frame into a queue.
type client struct {
	t      *testing.T
	user   string
	ws     *websocket.Conn
	frames chan frame // everything but ephemeral updates
	eph    chan frame // typing:update and presence:update
	self   chan frame // room:joined, room:left and room:read: about the user's own rooms
	closed chan error
	refs   int
}

func (s *system) dial(token string) *client {
	s.t.Helper()
	return s.dialAt(s.wsURL, token)
}

// dialAt connects to the gateway at wsURL.
func (s *system) dialAt(wsURL, token string) *client {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, resp, err := websocket.Dial(ctx, wsURL, &websocket.DialOptions{
		HTTPHeader: http.Header{"Authorization": {"Bearer " + token}},
	})
	if err != nil {
		code := 0
		if resp != nil {
			code = resp.StatusCode
		}
		s.t.Fatalf("dial: %d %v", code, err)
	}
	ws.SetReadLimit(1 << 20)
	c := &client{t: s.t, ws: ws, frames: make(chan frame, 100000), eph: make(chan frame, 10000), self: make(chan frame, 10000), closed: make(chan error, 1)}
	go func() {
		for {
			_, b, err := ws.Read(context.Background())
			if err != nil {
				c.closed <- err
				close(c.frames)
				return
			}
			var f frame
			if err := json.Unmarshal(b, &f); err != nil {
				c.closed <- fmt.Errorf("bad frame %s: %w", b, err)
				close(c.frames)
				return
			}
			if f.Type == "typing:update" || f.Type == "presence:update" {
				c.eph <- f
				continue
			}
			if f.Type == "room:joined" || f.Type == "room:left" || f.Type == "room:read" {
				c.self <- f
				continue
			}
			c.frames <- f
		}
	}()
	s.t.Cleanup(func() { ws.Close(websocket.StatusNormalClosure, "") })
	hello := c.next(10 * time.Second)
	if hello.Type != "hello" {
		s.t.Fatalf("first frame %s, want hello", hello.Type)
	}
	var h struct {
		User struct{ ID string } `json:"user"`
	}
	_ = json.Unmarshal(hello.Data, &h)
	c.user = h.User.ID
	return c
}

func (c *client) write(v any) {
	c.t.Helper()
	b, _ := json.Marshal(v)
	c.writeRaw(b)
}

func (c *client) writeRaw(b []byte) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.ws.Write(ctx, websocket.MessageText, b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

func (c *client) next(timeout time.Duration) frame {
	c.t.Helper()
	select {
	case f, ok := <-c.frames:
		if !ok {
			c.t.Fatalf("%s: socket closed: %v", c.user, <-c.closed)
		}
		return f
	case <-time.After(timeout):
		c.t.Fatalf("%s: no frame within %s", c.user, timeout)
	}
	return frame{}
}

// request sends a frame with a fresh ref and returns its reply, queueing the
// frames that arrive before it.
func (c *client) request(typ string, data any) (reply map[string]any, before []frame) {
	c.t.Helper()
	c.refs++
	ref := fmt.Sprint("r", c.refs)
	c.write(map[string]any{"type": typ, "ref": ref, "data": data})
	for {
		f := c.next(15 * time.Second)
		if f.Type == "reply" && f.Ref == ref {
			_ = json.Unmarshal(f.Data, &reply)
			return reply, before
		}
		before = append(before, f)
	}
}

// join joins a room and returns the reply and the backfill events that follow
// it (read until the room's head seq).
func (c *client) join(room string, after *uint64) (map[string]any, []eventData) {
	c.t.Helper()
	data := map[string]any{"room": room}
	if after != nil {
		data["after"] = *after
	}
	reply, _ := c.request("room:join", data)
	if reply["ok"] != true {
		c.t.Fatalf("%s join %s: %v", c.user, room, reply)
	}
	head := uint64(reply["headSeq"].(float64))
	from := uint64(0)
	if after != nil {
		from = *after
	} else if head > 50 {
		from = head - 50
	}
	var evs []eventData
	for len(evs) < int(head-min(from, head)) {
		evs = append(evs, c.event())
	}
	return reply, evs
}

// event returns the next event frame, failing on anything else.
func (c *client) event() eventData {
	c.t.Helper()
	f := c.next(15 * time.Second)
	if f.Type != "event" {
		c.t.Fatalf("%s: got %s frame %s, want an event", c.user, f.Type, f.Data)
	}
	var ev eventData
	if err := json.Unmarshal(f.Data, &ev); err != nil {
		c.t.Fatal(err)
	}
	return ev
}

func (c *client) send(room, clientID, text string) {
	c.write(sendFrame(room, clientID, text))
}

// trySend is send for goroutines, which must not call t.Fatal: it returns
// the write's error.
func (c *client) trySend(room, clientID, text string) error {
	b, _ := json.Marshal(sendFrame(room, clientID, text))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return c.ws.Write(ctx, websocket.MessageText, b)
}

func sendFrame(room, clientID, text string) map[string]any {
	return map[string]any{"type": "message:send", "data": map[string]any{"room": room, "clientId": clientID, "text": text}}
}

// posted returns the next message.posted event's message, skipping other
// room events.
func (c *client) posted() messageData {
	c.t.Helper()
	for {
		f := c.next(15 * time.Second)
		if f.Type != "event" {
			c.t.Fatalf("%s: got %s frame %s, want message.posted", c.user, f.Type, f.Data)
		}
		var ev eventData
		_ = json.Unmarshal(f.Data, &ev)
		if ev.Kind != events.MessagePosted {
			continue
		}
		var m messageData
		_ = json.Unmarshal(ev.Data, &m)
		if m.ID != ev.ID || m.Seq != ev.Seq || m.User != ev.User {
			c.t.Fatalf("message object disagrees with its event: %s", f.Data)
		}
		return m
	}
}

// quiet asserts that no frame arrives within d.
func (c *client) quiet(d time.Duration) {
	c.t.Helper()
	select {
	case f, ok := <-c.frames:
		if ok {
			c.t.Fatalf("%s: unexpected %s frame %s", c.user, f.Type, f.Data)
		}
	case <-time.After(d):
	}
}

// pgMessages returns the messages of a room in Postgres, by seq.
func (s *system) pgMessages(room string) []messageData {
	s.t.Helper()
	rows, err := s.pool.Query(context.Background(), `SELECT id, seq, user_id, text, client_id FROM messages WHERE room_id = $1 ORDER BY seq`, room)
	if err != nil {
		s.t.Fatal(err)
	}
	defer rows.Close()
	var out []messageData
	for rows.Next() {
		var m messageData
		if err := rows.Scan(&m.ID, &m.Seq, &m.User, &m.Text, &m.ClientID); err != nil {
			s.t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

// eventually polls cond every 50ms until it holds or d passes.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, d)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// flushRedisSessions deletes this system's cached sessions, as a Redis
// restart would.
func (s *system) flushRedisSessions() { s.flushRedis("sess:*") }

// flushRedis deletes this system's Redis keys matching pattern (after the
// prefix): what a FLUSHALL does to this system, without touching others.
func (s *system) flushRedis(pattern string) {
	s.t.Helper()
	opts, err := redis.ParseURL(redistest.URL())
	if err != nil {
		s.t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	ctx := context.Background()
	keys, err := rdb.Keys(ctx, s.prefix+pattern).Result()
	if err != nil {
		s.t.Fatal(err)
	}
	if len(keys) > 0 {
		rdb.Del(ctx, keys...)
	}
}
