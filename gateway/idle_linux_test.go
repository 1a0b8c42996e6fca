package gateway

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"

	"github.com/chillin-chat/chillin/gateway/internal/wsconn/wsconntest"

	"github.com/coder/websocket"

	"github.com/chillin-chat/chillin/events/redistest"
	"github.com/chillin-chat/chillin/gateway/internal/wsconn"
)

// idleServer is a gateway with the idle poller and no NATS or Postgres: its
// sockets answer heartbeats, which is all these tests need.
func idleServer(t *testing.T) (*Server, *httptest.Server) {
	t.Helper()
	p, err := wsconn.NewPoller()
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{
		cfg: Config{PingInterval: time.Minute, FrameRate: 100, FrameBurst: 100, SendQueue: 64, SendQueueBytes: 1 << 20, RedisPrefix: redistest.Prefix(t)},
		log: slog.New(slog.DiscardHandler), id: "idle-test", rdb: redistest.Client(t),
		conns: map[string]*conn{}, byUser: map[string]map[*conn]struct{}{},
		metrics: newMetrics(nil), poller: p,
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cfg := s.socketConfig()
		cfg.WriteTimeout = 5 * time.Second
		wc, err := wsconn.Accept(w, r, nil, cfg)
		if err != nil {
			return
		}
		c := newConn(s, session{User: "u1"}, wc)
		s.mu.Lock()
		s.conns[c.id] = c
		s.mu.Unlock()
		go c.Serve(c)
	}))
	t.Cleanup(func() {
		srv.Close()
		p.Close()
	})
	return s, srv
}

// heartbeat sends a heartbeat and reads its answer.
func heartbeat(ctx context.Context, t *testing.T, ws *websocket.Conn) {
	t.Helper()
	if err := ws.Write(ctx, websocket.MessageText, []byte(`{"type":"heartbeat","ref":"h"}`)); err != nil {
		t.Fatal(err)
	}
	_, b, err := ws.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var f struct{ Type, Ref string }
	if err := json.Unmarshal(b, &f); err != nil || f.Type != "heartbeat:ack" || f.Ref != "h" {
		t.Fatalf("answer %s (%v), want the heartbeat:ack of ref h", b, err)
	}
}

// eventually waits up to 10 s for cond.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal(what)
		}
	}
}

// Idle sockets wait in the idle poller, not in goroutines of their own, and
// wake when their peer speaks again.
func TestIdleSocketsHoldNoGoroutine(t *testing.T) {
	s, srv := idleServer(t)
	const n = 40
	runtime.GC()
	before := runtime.NumGoroutine()
	socks := make([]*websocket.Conn, n)
	var ctx context.Context
	for i := range socks {
		ctx, socks[i] = wsconntest.Dial(t, srv)
		heartbeat(ctx, t, socks[i]) // the reader ran, then parked again
	}
	eventually(t, "the server's conns did not all arrive", func() bool { return s.connCount() == n })
	var grown int
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if grown = runtime.NumGoroutine() - before; grown < n/4 {
			break
		}
	}
	if grown >= n/4 {
		t.Fatalf("%d idle sockets hold %d goroutines; want fewer than %d", n, grown, n/4)
	}
	for i := range 3 { // parked again after every wake
		for _, ws := range socks {
			heartbeat(ctx, t, ws)
		}
		if i == 1 {
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// A parked socket that the server closes finishes its close handshake and is
// forgotten; one whose peer goes away without a word is forgotten too.
func TestParkedSocketsEnd(t *testing.T) {
	s, srv := idleServer(t)
	ctx, byServer := wsconntest.Dial(t, srv)
	heartbeat(ctx, t, byServer)
	_, byPeer := wsconntest.Dial(t, srv)
	heartbeat(ctx, t, byPeer)
	eventually(t, "the sockets were not parked", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		parked := 0
		for _, c := range s.conns {
			if c.Parked() {
				parked++
			}
		}
		return parked == 2
	})

	byPeer.CloseNow()
	eventually(t, "a parked socket whose peer went away was kept", func() bool { return s.connCount() == 1 })

	s.mu.Lock()
	var c *conn
	for _, one := range s.conns {
		c = one
	}
	s.mu.Unlock()
	read := make(chan error, 1)
	go func() {
		_, _, err := byServer.Read(ctx) // answers the close frame, as a client does
		read <- err
	}()
	c.Close(websocket.StatusGoingAway, "server going away")
	if err := <-read; websocket.CloseStatus(err) != websocket.StatusGoingAway {
		t.Fatalf("the client read %v; want the server's 1001", err)
	}
	eventually(t, "a parked socket the server closed was kept", func() bool { return s.connCount() == 0 })
	select {
	case <-c.Closed():
	default:
		t.Fatal("the close handshake is not over")
	}
}
