package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/sync/errgroup"
)

type options struct {
	URL, MetricsURL   string
	LagURL, LagView   string
	AuthURL, PprofURL string
	Clients, Users    int
	Rooms, Senders    int
	Rate              float64
	Duration, Drain   time.Duration
	Heartbeat         time.Duration
	SourceIPs, Size   int
	Concurrency       int
	Prefix            string
	JSON              bool
}

func (o *options) validate() error {
	if o.Users == 0 {
		o.Users = o.Clients
	}
	if o.Senders == 0 {
		o.Senders = o.Clients
	}
	if o.MetricsURL == "" {
		o.MetricsURL = strings.TrimRight(o.URL, "/") + "/metrics"
	}
	if o.AuthURL == "" {
		o.AuthURL = o.URL
	}
	if o.LagURL == "" {
		o.LagURL = o.MetricsURL
	}
	if o.Prefix == "" {
		b := make([]byte, 3)
		_, _ = rand.Read(b)
		o.Prefix = "load" + hex.EncodeToString(b)
	}
	switch {
	case o.Clients < 1 || o.Rooms < 1 || o.Users < 1:
		return errors.New("clients, users and rooms must be at least 1")
	case o.Users > o.Clients || o.Senders > o.Clients:
		return errors.New("users and senders are at most clients")
	case o.Rate < 0 || o.Duration <= 0:
		return errors.New("rate must be >= 0 and duration > 0")
	case o.Heartbeat < 0:
		return errors.New("heartbeat must be >= 0")
	case o.SourceIPs < 1 || o.SourceIPs > 250:
		return errors.New("source-ips is 1 to 250")
	case o.Size < 24 || o.Size > 2000:
		return errors.New("size is 24 to 2000 bytes")
	}
	return nil
}

// client is one load connection. Its counters are written by its own
// goroutines and read atomically by the reporter. Like the web app, it
// reconnects when its socket is lost (failover.go).
type client struct {
	idx      int
	run      string        // every clientId of this run starts with it: "<nonce>-"
	joined   chan struct{} // closed when the server answered the first room:join
	joinOnce sync.Once
	tag      string // this client's clientId prefix: run + "<idx>-"
	user     string
	room     string
	ip       int                            // source address 127.0.ip.1
	ws       atomic.Pointer[websocket.Conn] // the current socket; nil while reconnecting
	live     atomic.Bool                    // the current socket has joined the room: sends go out
	token    string                         // the session; only the connection's goroutine uses it after setup

	sent, accepted, delivered atomic.Int64
	errors                    atomic.Int64
	lastFrame                 atomic.Int64 // unix ns of the newest frame other than a heartbeat answer
	mu                        sync.Mutex
	latencies                 []int64 // µs, send→deliver, the first delivery of each message this client saw
	decided                   []int64 // µs, send→decided (the fact's time), for its own messages
	rejected                  map[string]int
	failover                  // guarded by mu
}

func runLoad(ctx context.Context, o options, progress io.Writer) (*result, error) {
	base, authBase := strings.TrimRight(o.URL, "/"), strings.TrimRight(o.AuthURL, "/")
	httpc := &http.Client{Timeout: 60 * time.Second}
	fmt.Fprintf(progress, "setup: %d users, %d rooms, %d clients\n", o.Users, o.Rooms, o.Clients)

	tokens := make([]string, o.Users)
	if err := parallel(ctx, o.Concurrency, o.Users, func(i int) error {
		t, err := account(ctx, httpc, authBase, fmt.Sprintf("%s-u%d", o.Prefix, i))
		tokens[i] = t
		return err
	}); err != nil {
		return nil, fmt.Errorf("users: %w", err)
	}
	rooms := make([]string, o.Rooms)
	for i := range rooms {
		id, err := createRoom(ctx, httpc, base, tokens[0], fmt.Sprintf("%s-r%d", o.Prefix, i))
		if err != nil {
			return nil, fmt.Errorf("rooms: %w", err)
		}
		rooms[i] = id
	}

	procsIdle, procsErr := gatewayProcesses(ctx, httpc, o.MetricsURL, o.PprofURL)
	nw := &network{wsURL: "ws" + strings.TrimPrefix(base, "http") + "/ws", authBase: authBase, httpc: httpc}
	clients := make([]*client, o.Clients)
	nonce := make([]byte, 4)
	_, _ = rand.Read(nonce)
	for i := range clients {
		run := hex.EncodeToString(nonce) + "-"
		clients[i] = &client{idx: i, run: run, tag: run + strconv.Itoa(i) + "-", joined: make(chan struct{}), ip: i % o.SourceIPs,
			user: fmt.Sprintf("%s-u%d", o.Prefix, i%o.Users), token: tokens[i%o.Users],
			room: rooms[i%o.Rooms], rejected: map[string]int{}}
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var readers sync.WaitGroup
	if err := parallel(ctx, o.Concurrency, o.Clients, func(i int) error {
		c := clients[i]
		ws, _, err := c.dial(runCtx, nw)
		if err != nil {
			return err
		}
		c.ws.Store(ws)
		readers.Add(1)
		go func() {
			defer readers.Done()
			c.serve(runCtx, nw, ws)
		}()
		if o.Heartbeat > 0 {
			readers.Add(1)
			go func() {
				defer readers.Done()
				c.heartbeat(runCtx, o.Heartbeat)
			}()
		}
		return c.join(runCtx, ws)
	}); err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	// Every join is answered (its backfill queued) before the setup settles.
	joinWait := time.NewTimer(2 * time.Minute)
	defer joinWait.Stop()
	for _, c := range clients {
		select {
		case <-c.joined:
		case <-joinWait.C:
			return nil, fmt.Errorf("client %d: no answer to room:join within 2 minutes", c.idx)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	settleStart := time.Now()
	busy := func(ctx context.Context) bool {
		n, err := backlog(ctx, httpc, o.LagURL)
		return err == nil && n > 0
	}
	if err := settle(ctx, clients, busy, settleQuiet, settleMax); err != nil {
		return nil, err
	}
	fmt.Fprintf(progress, "setup traffic settled in %s\n", time.Since(settleStart).Round(10*time.Millisecond))
	procsConnected, _ := gatewayProcesses(ctx, httpc, o.MetricsURL, "")
	connsJoined := gatewayConnections(ctx, httpc, o.MetricsURL)

	lagBefore, lagErr := projectionLag(ctx, httpc, o.LagURL, o.LagView)
	if lagErr != nil && urls(o.LagURL) != nil {
		fmt.Fprintf(progress, "projection lag not measured: %v\n", lagErr)
	}
	fmt.Fprintf(progress, "sending: %d senders × %.2f msg/s for %s\n", o.Senders, o.Rate, o.Duration)
	start, cpuStart := time.Now(), ownCPU()
	stopSend := make(chan struct{})
	var senders sync.WaitGroup
	if o.Rate > 0 {
		for _, c := range clients[:o.Senders] {
			senders.Add(1)
			go func() {
				defer senders.Done()
				c.send(runCtx, stopSend, o.Rate, o.Size)
			}()
		}
	}
	report := time.NewTicker(time.Second)
	deadline := time.After(o.Duration)
	var last snapshot
	// Each second's deliveries, for its p99; marks holds where each
	// client's latencies stood at the last progress line.
	var (
		second []int64
		p99s   []float64
		marks  = make([]int, len(clients))
	)
	fresh(clients, marks, nil) // what arrived before sending started is not the run's
	sending := true
	var drainUntil <-chan time.Time
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-deadline:
			close(stopSend)
			sending = false
			drainUntil = time.After(o.Drain)
		case <-drainUntil:
			break loop
		case <-report.C:
			now := take(clients)
			second = fresh(clients, marks, second[:0])
			p99 := quantiles(second)["p99"]
			p99s = append(p99s, p99)
			fmt.Fprintf(progress, "%5.0fs  sent %8d  accepted %7.0f/s  delivered %9.0f/s  p99 %6.2f ms  rejected %d  errors %d\n",
				time.Since(start).Seconds(), now.sent, float64(now.accepted-last.accepted), float64(now.delivered-last.delivered),
				p99, now.rejected, now.errors)
			last = now
		}
	}
	report.Stop()
	senders.Wait()
	if ctx.Err() == nil && take(clients).losses > 0 {
		// A client that lost its socket has had until now to come back
		// and take its backfill: what it has not received then, it missed.
		if err := rejoined(ctx, clients, settleMax, progress); err != nil {
			return nil, err
		}
		if err := settle(ctx, clients, busy, settleQuiet, settleMax); err != nil {
			return nil, err
		}
	}
	cpuEnd := ownCPU()
	procsEnd, procsEndErr := gatewayProcesses(ctx, httpc, o.MetricsURL, "")
	connsEnd := gatewayConnections(ctx, httpc, o.MetricsURL)
	// Memory is read at the end, every client still connected: what the
	// connections hold, not what setting them up left behind.
	memEnd, memEndErr := procsEnd, procsEndErr
	if o.PprofURL != "" {
		memEnd, memEndErr = gatewayProcesses(ctx, httpc, o.MetricsURL, o.PprofURL)
	}
	var lagAfter lagHistogram
	if lagErr == nil {
		lagAfter, lagErr = projectionLag(ctx, httpc, o.LagURL, o.LagView)
	}
	elapsed := o.Duration
	if sending {
		elapsed = time.Since(start)
	}
	cancel()
	for _, c := range clients {
		// At once, without a close handshake each: the clients are many.
		// A client reconnecting now closes its new socket itself (serve).
		if ws := c.ws.Load(); ws != nil {
			ws.CloseNow()
		}
	}
	readers.Wait()

	res := summarize(o, clients, elapsed)
	res.GatewayClients = gatewayClientsOf(urls(o.MetricsURL), connsJoined, connsEnd)
	res.P99PerSecondMs = p99s
	if lagErr == nil {
		res.LagView, res.LagMs = o.LagView, lagQuantiles(lagBefore, lagAfter)
	}
	if procsErr == nil && memEndErr == nil && memEnd.rss > procsIdle.rss {
		res.GatewayBytesPerConn = (memEnd.rss - procsIdle.rss) / float64(o.Clients)
	}
	if procsErr == nil && memEndErr == nil && o.PprofURL != "" {
		res.GatewayGoBytesPerConn = (memEnd.goBytes - procsIdle.goBytes) / float64(o.Clients)
	}
	if res.Delivered > 0 {
		res.LoadCPUPerFrameUs = float64((cpuEnd - cpuStart).Microseconds()) / float64(res.Delivered)
		if procsErr == nil && procsEndErr == nil {
			res.GatewayCPUPerFrameUs = (procsEnd.cpuSeconds - procsConnected.cpuSeconds) * 1e6 / float64(res.Delivered)
		}
	}
	return res, nil
}

// Setup is over once no client got a frame for settleQuiet and the consumers
// have caught up, or after settleMax.
const (
	settleQuiet = time.Second
	settleMax   = time.Minute
)

// settle waits until the setup's own traffic has reached the clients (the
// backfill of each join, a room's recent history, and the joins and presence
// of the other clients), and until busy reports that the services' consumers
// have caught up (with what the setup, or an earlier run against the same
// system, left them). Sending into that traffic would measure the setup, not
// the load.
func settle(ctx context.Context, clients []*client, busy func(context.Context) bool, quiet, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		var newest int64
		for _, c := range clients {
			newest = max(newest, c.lastFrame.Load())
		}
		if time.Now().After(deadline) || time.Since(time.Unix(0, newest)) >= quiet && !busy(ctx) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(quiet / 10):
		}
	}
}

// parallel runs fn(0..n-1) on at most k goroutines and returns the first error.
func parallel(ctx context.Context, k, n int, fn func(i int) error) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(k)
	for i := 0; i < n; i++ {
		if ctx.Err() != nil {
			break
		}
		g.Go(func() error { return fn(i) })
	}
	return g.Wait()
}

func postJSON(ctx context.Context, c *http.Client, url, token string, body any) (int, []byte, error) {
	b, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, "POST", url, bytes.NewReader(b))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	return resp.StatusCode, out, err
}

// account registers a user, or logs in if it exists, and returns its token.
func account(ctx context.Context, c *http.Client, base, user string) (string, error) {
	creds := map[string]string{"username": user, "password": "load-" + user}
	code, body, err := postJSON(ctx, c, base+"/api/auth/register", "", creds)
	if err == nil && code == http.StatusConflict {
		code, body, err = postJSON(ctx, c, base+"/api/auth/login", "", creds)
	}
	if err != nil {
		return "", err
	}
	if code != http.StatusCreated && code != http.StatusOK {
		return "", fmt.Errorf("%s: %d %s", user, code, body)
	}
	var a struct{ Token string }
	if err := json.Unmarshal(body, &a); err != nil || a.Token == "" {
		return "", fmt.Errorf("%s: no token in %s", user, body)
	}
	return a.Token, nil
}

func createRoom(ctx context.Context, c *http.Client, base, token, name string) (string, error) {
	code, body, err := postJSON(ctx, c, base+"/api/rooms", token, map[string]any{"name": name})
	if err != nil {
		return "", err
	}
	if code != http.StatusCreated && code != http.StatusConflict {
		return "", fmt.Errorf("%s: %d %s", name, code, body)
	}
	return strings.ToLower(name), nil
}

// network is what a client needs to connect, and to log in again.
type network struct {
	wsURL, authBase string
	httpc           *http.Client
}

// dial opens a WebSocket from the client's source address with its token;
// on a refused handshake it also returns the HTTP status.
func (c *client) dial(ctx context.Context, nw *network) (*websocket.Conn, int, error) {
	dialer := &net.Dialer{Timeout: 10 * time.Second, LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, byte(c.ip), 1)}}
	hc := &http.Client{Transport: &http.Transport{DialContext: dialer.DialContext}}
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	ws, resp, err := websocket.Dial(dctx, nw.wsURL, &websocket.DialOptions{
		HTTPClient: hc, HTTPHeader: http.Header{"Authorization": {"Bearer " + c.token}},
	})
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		return nil, status, fmt.Errorf("client %d: %w", c.idx, err)
	}
	ws.SetReadLimit(1 << 20)
	return ws, 0, nil
}

func write(ctx context.Context, ws *websocket.Conn, b []byte) error {
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return ws.Write(wctx, websocket.MessageText, b)
}

// join joins the client's room on ws: the first time for the recent
// history, after a lost socket with after = the last room seq it saw, as
// the web app does, so that the server sends exactly what it missed.
func (c *client) join(ctx context.Context, ws *websocket.Conn) error {
	data := map[string]any{"room": c.room}
	c.mu.Lock()
	if c.resume {
		data["after"] = c.lastSeq
	}
	c.mu.Unlock()
	b, _ := json.Marshal(map[string]any{"type": "room:join", "ref": "join", "data": data})
	return write(ctx, ws, b)
}

// phasedTimer fires first at a random point within interval, so that the
// clients' periodic frames do not beat in step. The phase is drawn at full
// resolution: with a few hundred possible phases, thousands of clients would
// send in bursts, several at the same instant.
func phasedTimer(interval time.Duration) *time.Timer {
	return time.NewTimer(mrand.N(interval))
}

// heartbeat sends a `heartbeat` frame every interval, as the web app does,
// from a random phase, until ctx ends.
func (c *client) heartbeat(ctx context.Context, interval time.Duration) {
	timer := phasedTimer(interval)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		timer.Reset(interval)
		ws := c.ws.Load()
		if ws == nil {
			continue // reconnecting
		}
		b := []byte(`{"type":"heartbeat","data":{"t":` + strconv.FormatInt(time.Now().UnixMilli(), 10) + `}}`)
		// A failed write is a lost socket: its reader sees it too, and
		// the client reconnects.
		_ = write(ctx, ws, b)
	}
}

// send sends rate messages per second until stop, each text starting with
// its send time in Unix nanoseconds. While the client has no joined socket
// (it is reconnecting) its turns pass unsent, as the web app cannot send
// then either.
func (c *client) send(ctx context.Context, stop <-chan struct{}, rate float64, size int) {
	interval := time.Duration(float64(time.Second) / rate)
	timer := phasedTimer(interval)
	defer timer.Stop()
	pad := strings.Repeat("x", size)
	prefix := []byte(`{"type":"message:send","data":{"room":"` + c.room + `","clientId":"` + c.tag)
	var buf []byte
	for n := 0; ; n++ {
		select {
		case <-stop:
			return
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		timer.Reset(interval)
		ws := c.ws.Load()
		if ws == nil || !c.live.Load() {
			continue
		}
		ts := strconv.FormatInt(time.Now().UnixNano(), 10)
		buf = append(buf[:0], prefix...)
		buf = strconv.AppendInt(buf, int64(n), 10)
		buf = append(buf, `","text":"t=`...)
		buf = append(buf, ts...)
		buf = append(buf, ' ')
		buf = append(buf, pad[:size-len(ts)-3]...)
		buf = append(buf, `"}}`...)
		if err := write(ctx, ws, buf); err != nil {
			continue // the socket is lost: its reader reconnects
		}
		c.sent.Add(1)
	}
}

// factTime reads the fact's time ("at", set when the validator decided it)
// from an event frame.
func factTime(b []byte) (int64, bool) {
	i := bytes.Index(b, atMarker)
	if i < 0 {
		return 0, false
	}
	rest := b[i+len(atMarker):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return 0, false
	}
	t, err := time.Parse(time.RFC3339Nano, string(rest[:j]))
	if err != nil {
		return 0, false
	}
	return t.UnixNano(), true
}

var (
	atMarker     = []byte(`"at":"`)
	typeEvent    = []byte(`{"type":"event"`)
	seqMarker    = []byte(`"seq":`)
	kindPosted   = []byte(`"kind":"message.posted"`)
	textMarker   = []byte(`"text":"t=`)
	typeReject   = []byte(`{"type":"rejected"`)
	joinReply    = []byte(`{"type":"reply","ref":"join"`)
	heartbeatAck = []byte(`{"type":"heartbeat:ack"`)
	codeMarker   = []byte(`"code":"`)
	clientIDKey  = []byte(`"clientId":"`)
)

// read hands every frame of ws to c.frame until the socket ends, and
// returns why it ended. It does not decode whole frames: the load tool's own
// cost per frame counts against the same cores.
func (c *client) read(ws *websocket.Conn) error {
	var buf bytes.Buffer // reused: a frame's bytes are not kept past its turn
	for {
		// Not ctx: a read with a cancellable context costs a callback
		// registration per frame. The reads end when the socket is closed.
		_, r, err := ws.Reader(context.Background())
		if err == nil {
			buf.Reset()
			_, err = buf.ReadFrom(r)
		}
		if err != nil {
			return err
		}
		c.frame(buf.Bytes(), time.Now().UnixNano())
	}
}

// frame counts one frame received at now (unix ns): deliveries of this
// run's messages (the first of each room seq; a repeat is a duplicate, see
// failover.go), their latency, the answers to the client's own sends, and
// the join's answer.
func (c *client) frame(b []byte, now int64) {
	if !bytes.HasPrefix(b, heartbeatAck) {
		c.lastFrame.Store(now)
	}
	switch {
	case bytes.HasPrefix(b, typeEvent):
		seq, ok := intAfter(b, seqMarker)
		if !ok {
			return
		}
		c.mu.Lock()
		c.lastSeq = max(c.lastSeq, seq)
		c.mu.Unlock()
		if !bytes.Contains(b, kindPosted) {
			return
		}
		k := bytes.Index(b, clientIDKey)
		if k < 0 || !bytes.HasPrefix(b[k+len(clientIDKey):], []byte(c.run)) {
			return // not sent by this run (an earlier run's, sent on joining)
		}
		sent, ok := intAfter(b, textMarker)
		if !ok {
			return
		}
		id := b[k+len(clientIDKey):]
		own := bytes.HasPrefix(id, []byte(c.tag))
		var n uint64
		if own {
			n, _ = intAfter(id, []byte(c.tag))
		}
		c.mu.Lock()
		first, answer := c.received(seq, own, n)
		if first {
			c.latencies = append(c.latencies, (now-int64(sent))/1000)
		}
		c.mu.Unlock()
		if !first {
			return
		}
		c.delivered.Add(1)
		if answer {
			c.accepted.Add(1)
			if at, ok := factTime(b); ok {
				c.mu.Lock()
				c.decided = append(c.decided, (at-int64(sent))/1000)
				c.mu.Unlock()
			}
		}
	case bytes.HasPrefix(b, joinReply):
		var r struct {
			Data struct {
				OK       bool   `json:"ok"`
				HeadSeq  uint64 `json:"headSeq"`
				Snapshot bool   `json:"snapshot"`
			} `json:"data"`
		}
		if err := json.Unmarshal(b, &r); err != nil || !r.Data.OK {
			c.errors.Add(1)
			c.joinOnce.Do(func() { close(c.joined) })
			if ws := c.ws.Load(); ws != nil {
				ws.CloseNow() // joined nowhere: reconnect and join again
			}
			return
		}
		c.mu.Lock()
		c.rejoined(r.Data.HeadSeq, r.Data.Snapshot, time.Unix(0, now))
		c.mu.Unlock()
		c.live.Store(true)
		c.joinOnce.Do(func() { close(c.joined) })
	case bytes.HasPrefix(b, typeReject):
		code := "UNKNOWN"
		if i := bytes.Index(b, codeMarker); i >= 0 {
			rest := b[i+len(codeMarker):]
			if j := bytes.IndexByte(rest, '"'); j >= 0 {
				code = string(rest[:j])
			}
		}
		c.mu.Lock()
		c.rejected[code]++
		c.mu.Unlock()
	}
}

// intAfter reads the decimal number that follows the first marker in b.
func intAfter(b, marker []byte) (uint64, bool) {
	i := bytes.Index(b, marker)
	if i < 0 {
		return 0, false
	}
	rest := b[i+len(marker):]
	j := 0
	for j < len(rest) && j < 20 && rest[j] >= '0' && rest[j] <= '9' {
		j++
	}
	n, err := strconv.ParseUint(string(rest[:j]), 10, 64)
	return n, err == nil
}
