package natsconn_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/chillin-chat/chillin/events/natsconn"
	"github.com/chillin-chat/chillin/events/natstest"
)

// A connection the server closes with a protocol error ends Connect's
// context with ErrClosed, so the service stops instead of running on
// without NATS.
func TestServerClosedConnectionEndsContext(t *testing.T) {
	srv := natstest.Start(t)
	ctx, nc, err := natsconn.Connect(context.Background(), srv.ClientURL(), "test", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	// A subject over the server's control line limit: nats-server answers
	// "maximum control line exceeded" and closes the connection.
	_ = nc.Publish("chat.cmd.0.room."+strings.Repeat("a", 5000), nil)
	_ = nc.Flush()
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatalf("context still running; connection status %v", nc.Status())
	}
	if err := natsconn.Lost(ctx); !errors.Is(err, natsconn.ErrClosed) {
		t.Fatalf("Lost = %v, want ErrClosed", err)
	}
}

// The service's own Close is not a lost connection.
func TestOwnCloseIsNotLost(t *testing.T) {
	srv := natstest.Start(t)
	ctx, nc, err := natsconn.Connect(context.Background(), srv.ClientURL(), "test", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	nc.Close()
	time.Sleep(100 * time.Millisecond) // the closed handler runs asynchronously
	if ctx.Err() != nil || natsconn.Lost(ctx) != nil {
		t.Fatalf("context ended on the service's own Close: %v", context.Cause(ctx))
	}
}

// A connection whose server goes away and comes back reconnects, and its
// context runs on.
func TestReconnectsAfterServerRestart(t *testing.T) {
	dir := t.TempDir()
	srv := natstest.StartAt(t, dir, -1)
	ctx, nc, err := natsconn.Connect(context.Background(), srv.ClientURL(), "test", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	u, err := url.Parse(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	port, err := strconv.Atoi(u.Port())
	if err != nil {
		t.Fatal(err)
	}
	srv.Shutdown()
	srv.WaitForShutdown()
	natstest.StartAt(t, dir, port)
	deadline := time.Now().Add(10 * time.Second)
	for !nc.IsConnected() && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if !nc.IsConnected() {
		t.Fatalf("not reconnected: %v", nc.Status())
	}
	if ctx.Err() != nil {
		t.Fatalf("context ended: %v", context.Cause(ctx))
	}
}

// A first connect to a server that is not up yet is retried until it is:
// services start in any order.
func TestFirstConnectWaitsForTheServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	type result struct {
		ctx context.Context
		nc  *nats.Conn
		err error
	}
	done := make(chan result, 1)
	go func() {
		ctx, nc, err := natsconn.Connect(context.Background(), "nats://127.0.0.1:"+strconv.Itoa(port), "test", slog.New(slog.DiscardHandler))
		done <- result{ctx, nc, err}
	}()
	select {
	case r := <-done:
		t.Fatalf("Connect returned before the server was up: %v", r.err)
	case <-time.After(1500 * time.Millisecond): // a failed attempt and a retry
	}
	natstest.StartAt(t, t.TempDir(), port)
	var r result
	select {
	case r = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Connect did not return once the server was up")
	}
	if r.err != nil {
		t.Fatal(r.err)
	}
	defer r.nc.Close()
	if !r.nc.IsConnected() || r.ctx.Err() != nil {
		t.Fatalf("connected %v, context %v", r.nc.IsConnected(), context.Cause(r.ctx))
	}
}

// A service stopped while its first connect is retried stops at once.
func TestFirstConnectEndsWithItsContext(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "nats://" + ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	_, nc, err := natsconn.Connect(ctx, url, "test", slog.New(slog.DiscardHandler))
	if !errors.Is(err, context.Canceled) || nc != nil {
		t.Fatalf("Connect = %v, %v; want context.Canceled", nc, err)
	}
}
