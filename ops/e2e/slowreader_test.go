package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/chillin-chat/chillin/events"
	"github.com/chillin-chat/chillin/events/natstest"
	"github.com/chillin-chat/chillin/events/redistest"
	"github.com/chillin-chat/chillin/gateway"
	"github.com/chillin-chat/chillin/projector"
	"github.com/chillin-chat/chillin/schema/schematest"
	"github.com/chillin-chat/chillin/validator"
	"github.com/coder/websocket"
)

// The slow-reader attack of issue 17: one user's sockets ask room:sync
// (after 0, limit 500) of a room of 200 messages of 2,000 characters, over
// and over, and read nothing.
const (
	attackMessages = 200
	attackText     = 2000
	attackSockets  = 5
	attackSyncRate = 40 // per socket and second: under the frame limit of 50
	replyBudget    = 256 << 10
)

// attackRoom fills a room with the attack's messages, as alice; it returns
// the room and the room's head seq.
func attackRoom(s *system, alice string) (string, uint64) {
	s.t.Helper()
	room := s.createRoom(alice, "long messages")
	ca := s.dial(alice)
	ca.join(room, nil)
	text := strings.Repeat("a", attackText)
	for i := range attackMessages {
		ca.send(room, fmt.Sprint("long", i), text)
	}
	var head uint64
	for range attackMessages {
		head = ca.posted().Seq
	}
	return room, head
}

// room:sync answers within the reply budget and says complete: false while
// facts remain; asked again from where it stopped, it gives every fact once,
// in order, up to the head.
func TestSyncRepliesStayWithinTheirBudget(t *testing.T) {
	s := newSystem(t, withRateLimit(1_000_000), withFrameRate(1000))
	alice := s.register("alice")
	room, head := attackRoom(s, alice)
	c := s.dial(alice)
	c.join(room, nil)

	after, replies := uint64(0), 0
	for {
		c.refs++
		ref := fmt.Sprint("sync", c.refs)
		c.write(map[string]any{"type": "room:sync", "ref": ref, "data": map[string]any{"room": room, "after": after, "limit": 500}})
		var f frame
		for f = c.next(15 * time.Second); f.Type != "reply" || f.Ref != ref; f = c.next(15 * time.Second) {
		}
		if len(f.Data) > replyBudget {
			t.Fatalf("sync reply of %d bytes, budget %d", len(f.Data), replyBudget)
		}
		var r struct {
			OK       bool
			Events   []eventData
			HeadSeq  uint64
			Complete bool
		}
		if err := json.Unmarshal(f.Data, &r); err != nil || !r.OK {
			t.Fatalf("sync reply %.200s: %v", f.Data, err)
		}
		replies++
		if len(r.Events) == 0 {
			t.Fatalf("sync after %d: no events, complete %v, head %d", after, r.Complete, r.HeadSeq)
		}
		for _, ev := range r.Events {
			if ev.Seq != after+1 {
				t.Fatalf("sync: seq %d after %d", ev.Seq, after)
			}
			after = ev.Seq
		}
		if r.Complete != (after >= r.HeadSeq) {
			t.Fatalf("sync reply up to %d of head %d says complete %v", after, r.HeadSeq, r.Complete)
		}
		if r.Complete {
			break
		}
	}
	if after < head {
		t.Fatalf("syncs ended at seq %d, head %d", after, head)
	}
	// 200 messages of 2,000 characters are about 450 KB of events.
	if replies < 2 {
		t.Fatalf("the whole room came in %d reply", replies)
	}
	t.Logf("%d facts in %d replies", after, replies)
}

// slowClient is a socket that reads only when told to: the attack's
// sockets, whose frames wait in the gateway and the kernel.
type slowClient struct {
	ws         *websocket.Conn
	drainUntil atomic.Int64 // unix ns: until then it reads
	code       chan websocket.StatusCode
}

// dialSlow opens a slow socket whose kernel receive buffer is small, so that
// the gateway holds what it does not read sooner.
func dialSlow(t *testing.T, wsURL, token string) *slowClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	dialer := &net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var err error
		if cerr := c.Control(func(fd uintptr) {
			err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 16<<10)
		}); cerr != nil {
			return cerr
		}
		return err
	}}
	client := &http.Client{Transport: &http.Transport{DialContext: dialer.DialContext}}
	sc, err := dialSlowContext(ctx, wsURL, token, client)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { sc.ws.CloseNow() })
	return sc
}

func dialSlowContext(ctx context.Context, wsURL, token string, client *http.Client) (*slowClient, error) {
	ws, _, err := websocket.Dial(ctx, wsURL, &websocket.DialOptions{HTTPClient: client, HTTPHeader: http.Header{"Authorization": {"Bearer " + token}}})
	if err != nil {
		return nil, err
	}
	ws.SetReadLimit(1 << 20)
	sc := &slowClient{ws: ws, code: make(chan websocket.StatusCode, 1)}
	go sc.read()
	return sc, nil
}

// read reads while told to, until the socket ends, and reports its close
// code (-1 when it ended without a close frame).
func (sc *slowClient) read() {
	for {
		for time.Now().UnixNano() > sc.drainUntil.Load() {
			time.Sleep(5 * time.Millisecond)
		}
		if _, _, err := sc.ws.Read(context.Background()); err != nil {
			sc.code <- websocket.CloseStatus(err)
			return
		}
	}
}

func (sc *slowClient) drain(d time.Duration) { sc.drainUntil.Store(time.Now().Add(d).UnixNano()) }

// attack sends the attack's frames until ctx ends or a write fails.
func (sc *slowClient) attack(ctx context.Context, room string) {
	join, _ := json.Marshal(map[string]any{"type": "room:join", "ref": "j", "data": map[string]any{"room": room}})
	sync, _ := json.Marshal(map[string]any{"type": "room:sync", "ref": "s", "data": map[string]any{"room": room, "after": 0, "limit": 500}})
	if sc.ws.Write(ctx, websocket.MessageText, join) != nil {
		return
	}
	tick := time.NewTicker(time.Second / attackSyncRate)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if sc.ws.Write(ctx, websocket.MessageText, sync) != nil {
				return
			}
		}
	}
}

// gatewayMetric reads one series of the gateway's /metrics.
func (s *system) gatewayMetric(name string) float64 { return scrapeMetric(s.t, s.baseURL, name) }

func scrapeMetric(tb testing.TB, baseURL, name string) float64 {
	resp, err := http.Get(baseURL + "/metrics")
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			n, _ := strconv.ParseFloat(v, 64)
			return n
		}
	}
	return 0
}

// The attack's sockets are closed with 1008 soon after they start, while
// another user in the same room keeps chatting and syncing. The sockets
// attack one after another: a socket that reads nothing hears its close code
// only if it starts reading within the gateway's grace, and the test learns
// of a close from the gateway's metrics, which must then name that socket.
func TestSlowReadersAreClosed(t *testing.T) {
	// A bound for a loaded machine and the race detector (there about 3 s;
	// unloaded, about a second: logged).
	const closeWithin = 10 * time.Second
	s := newSystem(t, withRateLimit(1_000_000), withFrameRate(1000))
	alice, bob := s.register("alice"), s.register("bob")
	room, _ := attackRoom(s, alice)
	cb := s.dial(bob)
	cb.join(room, nil)
	closes := s.gatewayMetric("chillin_gateway_slow_closes_total")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Bob's conversation goes on meanwhile: each message he sends comes
	// back to him within a few seconds.
	bobDone := make(chan error, 1)
	go func() { bobDone <- bobChats(ctx, cb, room) }()

	for i := range attackSockets {
		sc := dialSlow(t, s.wsURL, alice)
		start := time.Now()
		attackCtx, stop := context.WithCancel(ctx)
		go sc.attack(attackCtx, room)
		for s.gatewayMetric("chillin_gateway_slow_closes_total") == closes {
			if time.Since(start) > closeWithin {
				t.Fatalf("slow socket %d not closed within %v", i, closeWithin)
			}
			time.Sleep(20 * time.Millisecond)
		}
		closed := time.Since(start)
		closes++
		sc.drain(time.Minute)
		select {
		case code := <-sc.code:
			if code != websocket.StatusPolicyViolation {
				t.Fatalf("slow socket %d ended with %v, want 1008", i, code)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("slow socket %d: no end of the socket 10s after it was closed", i)
		}
		stop()
		t.Logf("slow socket %d closed after %v", i, closed)
	}
	cancel()
	if err := <-bobDone; err != nil {
		t.Fatal(err)
	}
	if n := s.gatewayMetric("chillin_gateway_slow_closes_total"); n != closes {
		t.Fatalf("%v slow closes counted, want %v", n, closes)
	}

	// Bob still reads the room whole.
	reply, _ := cb.request("room:sync", map[string]any{"room": room, "after": 0, "limit": 10})
	if reply["ok"] != true || len(reply["events"].([]any)) != 10 || reply["complete"] != false {
		t.Fatalf("bob's sync after the attack: %v", reply)
	}
}

// bobChats sends a message every 50 ms until ctx ends; each must come back
// within 5 s. It reads cb's frames itself (and is the only one to).
func bobChats(ctx context.Context, cb *client, room string) error {
	for n := 0; ctx.Err() == nil; n++ {
		id := fmt.Sprint("bob", n)
		cb.send(room, id, "still here")
		timeout := time.After(5 * time.Second)
		for got := false; !got; {
			select {
			case f, ok := <-cb.frames:
				if !ok {
					return fmt.Errorf("bob's socket closed: %v", <-cb.closed)
				}
				var ev struct {
					Kind string
					Data messageData
				}
				_ = json.Unmarshal(f.Data, &ev)
				got = f.Type == "event" && ev.Kind == events.MessagePosted && ev.Data.ClientID == id
			case <-timeout:
				return fmt.Errorf("bob's message %s did not come back within 5s", id)
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil
}

// BenchmarkSlowReaderMemory runs the slow-reader attack against the
// services in this process (NATS, validator, projector and gateway, as the
// all-in-one runs them) for 10 s and reports the process's peak resident
// memory growth over what it held before the attack (VmRSS, sampled every
// 100 ms; the attack's own clients read nothing and hold little). Sockets
// the gateway closes are opened again at once, so five attack throughout.
//
//	source var/deps.env && go test -run '^$' -bench SlowReaderMemory -benchtime 1x ./ops/e2e/
func BenchmarkSlowReaderMemory(b *testing.B) {
	for range b.N {
		b.StopTimer()
		sys := startBenchSystem(b)
		alice := sys.register("alice")
		room := sys.attackRoom(alice)
		runtime.GC()
		before := vmRSS(b)
		closesBefore := sys.metric("chillin_gateway_slow_closes_total")
		b.StartTimer()
		peak, opened := slowReaderAttack(sys.wsURL, alice, room, 10*time.Second, func() int64 { return vmRSS(b) })
		b.StopTimer()
		b.ReportMetric(float64(peak-before)/(1<<20), "peak-rss-growth-MiB")
		b.ReportMetric(float64(opened), "sockets")
		b.ReportMetric(sys.metric("chillin_gateway_slow_closes_total")-closesBefore, "slow-closes")
		sys.stop()
	}
}

// slowReaderAttack keeps attackSockets slow sockets of one user attacking
// room for d, opening a new one whenever the gateway cuts one off (its
// writes fail), and samples rss. It
// returns the peak sample and how many sockets it opened.
func slowReaderAttack(wsURL, token, room string, d time.Duration, rss func() int64) (peak, opened int64) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var wg sync.WaitGroup
	var n atomic.Int64
	for range attackSockets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				sc, err := dialSlowContext(ctx, wsURL, token, nil)
				if err != nil {
					time.Sleep(10 * time.Millisecond)
					continue
				}
				n.Add(1)
				sc.attack(ctx, room) // until the gateway cuts it off
				sc.ws.CloseNow()
			}
		}()
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for ctx.Err() == nil {
		peak = max(peak, rss())
		<-tick.C
	}
	wg.Wait()
	return peak, n.Load()
}

// vmRSS is this process's resident memory in bytes.
func vmRSS(tb testing.TB) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		tb.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				tb.Fatal(err)
			}
			return kb << 10
		}
	}
	tb.Fatal("no VmRSS in /proc/self/status")
	return 0
}

// benchSystem is the services of newSystem for a benchmark, which the test
// harness (made for *testing.T) cannot serve.
type benchSystem struct {
	tb      testing.TB
	baseURL string
	wsURL   string
	stop    func()
}

func startBenchSystem(tb testing.TB) *benchSystem {
	ns := natstest.Start(tb)
	_, pgURL := schematest.NewDB(tb)
	prefix, rd := redistest.Prefix(tb), redistest.URL()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	lg := slog.New(slog.DiscardHandler)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	run := func(name string, fn func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fn(ctx); err != nil && ctx.Err() == nil {
				tb.Errorf("%s: %v", name, err)
			}
		}()
	}
	run("validator", func(ctx context.Context) error {
		return validator.Run(ctx, validator.Config{NATSURL: ns.ClientURL(), RedisURL: rd, RedisPrefix: prefix,
			RateLimit: 1_000_000, RateWindow: 10 * time.Second, Logger: lg})
	})
	run("projector", func(ctx context.Context) error {
		return projector.Run(ctx, projector.Config{NATSURL: ns.ClientURL(), PostgresURL: pgURL, RedisURL: rd, RedisPrefix: prefix,
			Views: []string{"pg", "live", "cache"}, Logger: lg})
	})
	run("gateway", func(ctx context.Context) error {
		return gateway.Run(ctx, gateway.Config{Listener: ln, NATSURL: ns.ClientURL(), PostgresURL: pgURL, RedisURL: rd,
			RedisPrefix: prefix, Password: fastHash, FrameRate: 1000, FrameBurst: 1000, Logger: lg})
	})
	var once sync.Once
	stop := func() { once.Do(func() { cancel(); wg.Wait() }) }
	tb.Cleanup(stop)
	sys := &benchSystem{tb: tb, baseURL: "http://" + ln.Addr().String(), wsURL: "ws://" + ln.Addr().String() + "/ws", stop: stop}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get(sys.baseURL + "/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			tb.Fatal("the system is not ready after 10s")
		}
	}
	return sys
}

func (sys *benchSystem) post(path, token string, body, out any) {
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", sys.baseURL+path, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		sys.tb.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 || json.NewDecoder(resp.Body).Decode(out) != nil {
		sys.tb.Fatalf("POST %s: %d", path, resp.StatusCode)
	}
}

func (sys *benchSystem) register(user string) string {
	var a authAnswer
	sys.post("/api/auth/register", "", map[string]string{"username": user, "password": "password-" + user}, &a)
	return a.Token
}

// attackRoom is the package's attackRoom for a benchSystem.
func (sys *benchSystem) attackRoom(token string) string {
	var out struct {
		Room struct{ ID string } `json:"room"`
	}
	sys.post("/api/rooms", token, map[string]any{"name": "long messages"}, &out)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, sys.wsURL, &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + token}}})
	if err != nil {
		sys.tb.Fatal(err)
	}
	defer ws.CloseNow()
	ws.SetReadLimit(1 << 20)
	write := func(v any) {
		b, _ := json.Marshal(v)
		if err := ws.Write(ctx, websocket.MessageText, b); err != nil {
			sys.tb.Fatal(err)
		}
	}
	write(map[string]any{"type": "room:join", "ref": "j", "data": map[string]any{"room": out.Room.ID}})
	text := strings.Repeat("a", attackText)
	for i := range attackMessages {
		write(map[string]any{"type": "message:send", "data": map[string]any{"room": out.Room.ID, "clientId": fmt.Sprint("long", i), "text": text}})
	}
	for posted := 0; posted < attackMessages; {
		_, b, err := ws.Read(ctx)
		if err != nil {
			sys.tb.Fatalf("posting the attack's messages: %v", err)
		}
		var f struct {
			Type string
			Data struct{ Kind string }
		}
		_ = json.Unmarshal(b, &f)
		if f.Type == "rejected" {
			sys.tb.Fatalf("posting the attack's messages: %s", b)
		}
		if f.Type == "event" && f.Data.Kind == events.MessagePosted {
			posted++
		}
	}
	return out.Room.ID
}

// metric reads one series of the gateway's /metrics.
func (sys *benchSystem) metric(name string) float64 { return scrapeMetric(sys.tb, sys.baseURL, name) }
