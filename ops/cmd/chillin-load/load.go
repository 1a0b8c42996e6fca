package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
)

// runLoad runs one load: it sets up users, rooms and connected clients,
// waits for the setup's traffic to settle, sends for o.Duration, drains,
// and measures the gateways around the sending.
func runLoad(ctx context.Context, o options, progress io.Writer) (*result, error) {
	r := &loadRun{o: o, progress: progress, httpc: &http.Client{Timeout: 60 * time.Second}}
	r.base, r.authBase = strings.TrimRight(o.URL, "/"), strings.TrimRight(o.AuthURL, "/")
	tokens, rooms, err := r.accounts(ctx)
	if err != nil {
		return nil, err
	}
	var m measures
	m.idle, m.idleErr = gatewayProcesses(ctx, r.httpc, o.MetricsURL, o.PprofURL)
	r.newClients(tokens, rooms)
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	if err := r.connect(ctx, runCtx); err != nil {
		return nil, err
	}
	if err := r.settleSetup(ctx); err != nil {
		return nil, err
	}
	r.measureConnected(ctx, &m)
	s := r.send(ctx, runCtx)
	if err := r.recoverLosses(ctx); err != nil {
		return nil, err
	}
	r.measureEnd(ctx, &m)
	if s.interrupted {
		s.elapsed = time.Since(s.start)
	}
	cancel()
	r.disconnect()
	return r.result(s, m), nil
}

// loadRun is one run's state, handed from one step of runLoad to the next.
type loadRun struct {
	o              options
	progress       io.Writer
	httpc          *http.Client
	base, authBase string
	clients        []*client
	readers        sync.WaitGroup // each client's socket and heartbeat goroutines
}

// measures are what is read of the gateways and the projector around the
// sending.
type measures struct {
	idle           processTotals // before any client connected
	idleErr        error
	connected      processTotals // every client connected and settled
	connsJoined    []*float64
	lagBefore      lagHistogram
	lagErr         error
	cpuStart       time.Duration // this process's own, when sending began
	cpuEnd         time.Duration
	end, mem       processTotals // after the drain; mem with a collection first (-pprof)
	endErr, memErr error
	connsEnd       []*float64
	lagAfter       lagHistogram
}

// accounts registers (or logs in) the users and creates the rooms.
func (r *loadRun) accounts(ctx context.Context) (tokens, rooms []string, err error) {
	o := r.o
	fmt.Fprintf(r.progress, "setup: %d users, %d rooms, %d clients\n", o.Users, o.Rooms, o.Clients)
	tokens = make([]string, o.Users)
	if err := parallel(ctx, o.Concurrency, o.Users, func(i int) error {
		t, err := account(ctx, r.httpc, r.authBase, fmt.Sprintf("%s-u%d", o.Prefix, i))
		tokens[i] = t
		return err
	}); err != nil {
		return nil, nil, fmt.Errorf("users: %w", err)
	}
	rooms = make([]string, o.Rooms)
	for i := range rooms {
		id, err := createRoom(ctx, r.httpc, r.base, tokens[0], fmt.Sprintf("%s-r%d", o.Prefix, i))
		if err != nil {
			return nil, nil, fmt.Errorf("rooms: %w", err)
		}
		rooms[i] = id
	}
	return tokens, rooms, nil
}

// newClients makes the clients, spread over the users, rooms and source
// addresses.
func (r *loadRun) newClients(tokens, rooms []string) {
	o := r.o
	r.clients = make([]*client, o.Clients)
	nonce := make([]byte, 4)
	_, _ = rand.Read(nonce)
	for i := range r.clients {
		run := hex.EncodeToString(nonce) + "-"
		r.clients[i] = &client{idx: i, run: run, tag: run + strconv.Itoa(i) + "-", joined: make(chan struct{}), ip: i % o.SourceIPs,
			user: fmt.Sprintf("%s-u%d", o.Prefix, i%o.Users), token: tokens[i%o.Users],
			room: rooms[i%o.Rooms], rejected: map[string]int{}}
	}
}

// connect dials every client, starts its reader (and heartbeat) under
// runCtx, joins its room and waits until every join is answered (its
// backfill queued).
func (r *loadRun) connect(ctx, runCtx context.Context) error {
	o := r.o
	nw := &network{wsURL: "ws" + strings.TrimPrefix(r.base, "http") + "/ws", authBase: r.authBase, httpc: r.httpc}
	if err := parallel(ctx, o.Concurrency, o.Clients, func(i int) error {
		c := r.clients[i]
		ws, _, err := c.dial(runCtx, nw)
		if err != nil {
			return err
		}
		c.ws.Store(ws)
		r.readers.Go(func() { c.serve(runCtx, nw, ws) })
		if o.Heartbeat > 0 {
			r.readers.Go(func() { c.heartbeat(runCtx, o.Heartbeat) })
		}
		return c.join(runCtx, ws)
	}); err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	joinWait := time.NewTimer(2 * time.Minute)
	defer joinWait.Stop()
	for _, c := range r.clients {
		select {
		case <-c.joined:
		case <-joinWait.C:
			return fmt.Errorf("client %d: no answer to room:join within 2 minutes", c.idx)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// busy reports whether the services' consumers still have a backlog.
func (r *loadRun) busy(ctx context.Context) bool {
	n, err := backlog(ctx, r.httpc, r.o.LagURL)
	return err == nil && n > 0
}

// settleSetup waits for the setup's own traffic to settle (settle).
func (r *loadRun) settleSetup(ctx context.Context) error {
	start := time.Now()
	if err := settle(ctx, r.clients, r.busy, settleQuiet, settleMax); err != nil {
		return err
	}
	fmt.Fprintf(r.progress, "setup traffic settled in %s\n", time.Since(start).Round(10*time.Millisecond))
	return nil
}

// measureConnected reads the gateways with every client connected, and the
// projection lag before sending.
func (r *loadRun) measureConnected(ctx context.Context, m *measures) {
	o := r.o
	m.connected, _ = gatewayProcesses(ctx, r.httpc, o.MetricsURL, "")
	m.connsJoined = gatewayConnections(ctx, r.httpc, o.MetricsURL)
	m.lagBefore, m.lagErr = projectionLag(ctx, r.httpc, o.LagURL, o.LagView)
	if m.lagErr != nil && urls(o.LagURL) != nil {
		fmt.Fprintf(r.progress, "projection lag not measured: %v\n", m.lagErr)
	}
	m.cpuStart = ownCPU()
}

// sending is what the sending step leaves for the result.
type sending struct {
	start       time.Time
	interrupted bool          // ctx ended while the senders were sending
	elapsed     time.Duration // o.Duration, or until the result if interrupted
	p99s        []float64     // each second's p99, ms
}

// send has the senders send for o.Duration, then waits o.Drain for the
// last deliveries, printing a progress line each second.
func (r *loadRun) send(ctx, runCtx context.Context) sending {
	o, clients := r.o, r.clients
	fmt.Fprintf(r.progress, "sending: %d senders × %.2f msg/s for %s\n", o.Senders, o.Rate, o.Duration)
	start := time.Now()
	stopSend := make(chan struct{})
	var senders sync.WaitGroup
	if o.Rate > 0 {
		for _, c := range clients[:o.Senders] {
			senders.Go(func() { c.send(runCtx, stopSend, o.Rate, o.Size) })
		}
	}
	report := time.NewTicker(time.Second)
	defer report.Stop()
	deadline := time.After(o.Duration)
	var last snapshot
	// Each second's deliveries, for its p99; marks holds where each
	// client's latencies stood at the last progress line.
	var (
		second []int64
		out    = sending{elapsed: o.Duration}
		marks  = make([]int, len(clients))
	)
	fresh(clients, marks, nil) // what arrived before sending started is not the run's
	stillSending := true
	var drainUntil <-chan time.Time
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-deadline:
			close(stopSend)
			stillSending = false
			drainUntil = time.After(o.Drain)
		case <-drainUntil:
			break loop
		case <-report.C:
			now := take(clients)
			second = fresh(clients, marks, second[:0])
			p99 := quantiles(second)["p99"]
			out.p99s = append(out.p99s, p99)
			fmt.Fprintf(r.progress, "%5.0fs  sent %8d  accepted %7.0f/s  delivered %9.0f/s  p99 %6.2f ms  rejected %d  errors %d\n",
				time.Since(start).Seconds(), now.sent, float64(now.accepted-last.accepted), float64(now.delivered-last.delivered),
				p99, now.rejected, now.errors)
			last = now
		}
	}
	out.start, out.interrupted = start, stillSending
	senders.Wait()
	return out
}

// recoverLosses gives a client that lost its socket until now to come back
// and take its backfill: what it has not received then, it missed.
func (r *loadRun) recoverLosses(ctx context.Context) error {
	if ctx.Err() != nil || take(r.clients).losses == 0 {
		return nil
	}
	if err := rejoined(ctx, r.clients, settleMax, r.progress); err != nil {
		return err
	}
	return settle(ctx, r.clients, r.busy, settleQuiet, settleMax)
}

// measureEnd reads the gateways and the projection lag after the drain.
func (r *loadRun) measureEnd(ctx context.Context, m *measures) {
	o := r.o
	m.cpuEnd = ownCPU()
	m.end, m.endErr = gatewayProcesses(ctx, r.httpc, o.MetricsURL, "")
	m.connsEnd = gatewayConnections(ctx, r.httpc, o.MetricsURL)
	// Memory is read at the end, every client still connected: what the
	// connections hold, not what setting them up left behind.
	m.mem, m.memErr = m.end, m.endErr
	if o.PprofURL != "" {
		m.mem, m.memErr = gatewayProcesses(ctx, r.httpc, o.MetricsURL, o.PprofURL)
	}
	if m.lagErr == nil {
		m.lagAfter, m.lagErr = projectionLag(ctx, r.httpc, o.LagURL, o.LagView)
	}
}

// disconnect closes every socket at once, without a close handshake each
// (the clients are many), and waits for the clients' goroutines. A client
// reconnecting now closes its new socket itself (serve); runCtx is over.
func (r *loadRun) disconnect() {
	for _, c := range r.clients {
		if ws := c.ws.Load(); ws != nil {
			ws.CloseNow()
		}
	}
	r.readers.Wait()
}

// result sums the clients up and adds what was measured of the services.
func (r *loadRun) result(s sending, m measures) *result {
	o := r.o
	res := summarize(o, r.clients, s.elapsed)
	res.GatewayClients = gatewayClientsOf(urls(o.MetricsURL), m.connsJoined, m.connsEnd)
	res.P99PerSecondMs = s.p99s
	if m.lagErr == nil {
		res.LagView, res.LagMs = o.LagView, lagQuantiles(m.lagBefore, m.lagAfter)
	}
	if m.idleErr == nil && m.memErr == nil && m.mem.rss > m.idle.rss {
		res.GatewayBytesPerConn = (m.mem.rss - m.idle.rss) / float64(o.Clients)
	}
	if m.idleErr == nil && m.memErr == nil && o.PprofURL != "" {
		res.GatewayGoBytesPerConn = (m.mem.goBytes - m.idle.goBytes) / float64(o.Clients)
	}
	if res.Delivered > 0 {
		res.LoadCPUPerFrameUs = float64((m.cpuEnd - m.cpuStart).Microseconds()) / float64(res.Delivered)
		if m.idleErr == nil && m.endErr == nil {
			res.GatewayCPUPerFrameUs = (m.end.cpuSeconds - m.connected.cpuSeconds) * 1e6 / float64(res.Delivered)
		}
	}
	return res
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
