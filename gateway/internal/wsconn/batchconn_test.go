package wsconn

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chillin-chat/chillin/gateway/internal/wsconn/wsconntest"

	"github.com/coder/websocket"
)

// countingConn counts the writes that reach the socket.
type countingConn struct {
	net.Conn
	writes int
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.writes++
	return c.Conn.Write(p)
}

func TestBatchConnHoldsWritesUntilRelease(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	cc := &countingConn{Conn: a}
	bc := &batchConn{Conn: cc, timeout: 5 * time.Second}

	got := make(chan []byte)
	go func() {
		all, _ := io.ReadAll(b)
		got <- all
	}()
	if _, err := bc.Write([]byte("one ")); err != nil {
		t.Fatal(err)
	}
	bc.Hold()
	for _, s := range []string{"two ", "three ", "four"} {
		if _, err := bc.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	if cc.writes != 1 {
		t.Fatalf("%d writes reached the socket while holding, want 1", cc.writes)
	}
	if err := bc.Release(); err != nil {
		t.Fatal(err)
	}
	if cc.writes != 2 {
		t.Fatalf("%d writes after release, want 2", cc.writes)
	}
	a.Close()
	if all := <-got; string(all) != "one two three four" {
		t.Fatalf("peer read %q", all)
	}
}

func TestBatchConnHeldBytesAreBounded(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	cc := &countingConn{Conn: a}
	bc := &batchConn{Conn: cc, timeout: 5 * time.Second}
	go func() { _, _ = io.Copy(io.Discard, b) }()

	chunk := bytes.Repeat([]byte("x"), maxBatchBytes/4+1)
	bc.Hold()
	for range 8 {
		if _, err := bc.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	if err := bc.Release(); err != nil {
		t.Fatal(err)
	}
	// Three chunks fit under the bound: 8 chunks take at least 3 writes.
	if cc.writes < 3 || cc.writes > 8 {
		t.Fatalf("%d writes for 8 chunks of %d bytes held together", cc.writes, len(chunk))
	}
}

func TestBatchConnWriteDeadline(t *testing.T) {
	a, b := net.Pipe() // nobody reads b
	defer a.Close()
	defer b.Close()
	bc := &batchConn{Conn: a, timeout: 50 * time.Millisecond}
	start := time.Now()
	_, err := bc.Write([]byte("never read"))
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("write to a peer that never reads: %v, want a deadline error", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatalf("write took %v", time.Since(start))
	}
	// Held bytes that fail to go out fail the next write too.
	bc.Hold()
	if _, err := bc.Write([]byte("held")); err != nil {
		t.Fatal(err)
	}
	if err := bc.Release(); err == nil {
		t.Fatal("release to a peer that never reads succeeded")
	}
	if _, err := bc.Write([]byte("after")); err == nil {
		t.Fatal("write after a failed release succeeded")
	}
}

// TestQueuedFramesArriveWhole runs the socket writer against a
// real WebSocket client: frames written together go out in few writes and
// arrive as separate, complete frames in order.
func TestQueuedFramesArriveWhole(t *testing.T) {
	const frameCount = 500
	writes := make(chan int, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hj := &batchHijacker{ResponseWriter: w, timeout: 5 * time.Second}
		ws, err := websocket.Accept(hj, r, nil)
		if err != nil {
			return
		}
		counting := &countingConn{Conn: hj.conn.Conn}
		hj.conn.Conn = counting
		c := &Conn{ws: ws, net: hj.conn}
		var frames [][]byte
		for i := range frameCount {
			frames = append(frames, []byte(fmt.Sprintf(`{"n":%d,"pad":%q}`, i, strings.Repeat("p", i%300))))
		}
		if err := c.write(frames); err != nil {
			t.Errorf("write: %v", err)
		}
		writes <- counting.writes
		_ = ws.Close(websocket.StatusNormalClosure, "")
	}))
	defer srv.Close()

	ctx, ws := wsconntest.Dial(t, srv)
	for i := range frameCount {
		_, b, err := ws.Read(ctx)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		want := fmt.Sprintf(`{"n":%d,"pad":%q}`, i, strings.Repeat("p", i%300))
		if string(b) != want {
			t.Fatalf("frame %d: %q, want %q", i, b, want)
		}
	}
	if _, _, err := ws.Read(ctx); websocket.CloseStatus(err) != websocket.StatusNormalClosure {
		t.Fatalf("after the frames: %v, want a normal close", err)
	}
	// 500 frames of up to ~330 bytes: a few dozen writes, not 500.
	if n := <-writes; n > frameCount/4 {
		t.Fatalf("%d socket writes for %d queued frames", n, frameCount)
	} else {
		t.Logf("%d frames in %d socket writes", frameCount, n)
	}
}

// TestFrameSentWithTheUpgradeRequest: a client may send its first frame in
// the same packet as its upgrade request; the smaller buffers the gateway
// swaps in must not lose it.
func TestFrameSentWithTheUpgradeRequest(t *testing.T) {
	got := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hj := &batchHijacker{ResponseWriter: w, timeout: 5 * time.Second}
		ws, err := websocket.Accept(hj, r, nil)
		if err != nil {
			got <- "accept: " + err.Error()
			return
		}
		defer ws.CloseNow()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, b, err := ws.Read(ctx)
		if err != nil {
			got <- "read: " + err.Error()
			return
		}
		got <- string(b)
	}))
	defer srv.Close()

	nc, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	payload := []byte(`{"type":"heartbeat","data":{"t":1}}`)
	mask := [4]byte{1, 2, 3, 4}
	frame := []byte{0x81, 0x80 | byte(len(payload))}
	frame = append(frame, mask[:]...)
	for i, c := range payload {
		frame = append(frame, c^mask[i%4])
	}
	req := "GET / HTTP/1.1\r\nHost: " + strings.TrimPrefix(srv.URL, "http://") + "\r\n" +
		"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
	if _, err := nc.Write(append([]byte(req), frame...)); err != nil {
		t.Fatal(err)
	}
	select {
	case s := <-got:
		if s != string(payload) {
			t.Fatalf("server read %q, want %q", s, payload)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the frame sent with the upgrade request never arrived")
	}
}

// awaitInput waits for the peer's bytes without taking them from the reader
// that follows, and returns when the peer goes away.
func TestAwaitInputLeavesTheBytes(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	sc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	raw, err := sc.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	bc := &batchConn{Conn: sc, raw: raw, timeout: time.Second}

	woke := make(chan error, 1)
	go func() { woke <- bc.awaitInput() }()
	select {
	case err := <-woke:
		t.Fatalf("awaitInput returned (%v) before the peer sent anything", err)
	case <-time.After(100 * time.Millisecond):
	}
	if _, err := client.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-woke:
		if err != nil {
			t.Fatalf("awaitInput: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("awaitInput did not return when bytes came")
	}
	got := make([]byte, 5)
	if _, err := io.ReadFull(bc, got); err != nil || string(got) != "hello" {
		t.Fatalf("read after awaitInput: %q, %v; want the peer's bytes", got, err)
	}

	go func() { woke <- bc.awaitInput() }()
	client.Close()
	select {
	case <-woke:
	case <-time.After(5 * time.Second):
		t.Fatal("awaitInput did not return when the peer closed")
	}
	if n, err := bc.Read(got); n != 0 || err != io.EOF {
		t.Fatalf("read after the peer closed: %d, %v; want EOF", n, err)
	}
}

// A socket whose peer keeps sending is not pinged; a silent one is, and is
// closed when no pong comes back. (The peers here never read, so they never
// answer a ping.)
func TestPingsOnlySilentPeers(t *testing.T) {
	const interval = 150 * time.Millisecond
	for _, talking := range []bool{true, false} {
		t.Run(fmt.Sprintf("talking=%v", talking), func(t *testing.T) {
			conns := make(chan *Conn, 1)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				hj := &batchHijacker{ResponseWriter: w, timeout: 5 * time.Second}
				ws, err := websocket.Accept(hj, r, nil)
				if err != nil {
					return
				}
				c := newConn(Config{PingInterval: interval}, ws, hj)
				c.mu.Lock()
				c.ping = time.AfterFunc(interval, c.keepAlive)
				c.mu.Unlock()
				conns <- c
				go func() {
					for {
						c.awaitInput()
						if _, _, err := ws.Read(context.Background()); err != nil {
							return
						}
						c.heard.Store(time.Now().UnixNano())
					}
				}()
			}))
			defer srv.Close()
			ctx, ws := wsconntest.Dial(t, srv)
			c := <-conns
			defer c.Close(websocket.StatusNormalClosure, "")

			end := time.After(8 * interval)
			tick := time.NewTicker(interval / 3)
			defer tick.Stop()
			for {
				select {
				case <-c.ctx.Done():
					if talking {
						t.Fatal("a talking peer's socket was closed")
					}
					return
				case <-tick.C:
					if talking {
						if err := ws.Write(ctx, websocket.MessageText, []byte(`{"type":"heartbeat","data":{"t":1}}`)); err != nil {
							t.Fatal(err)
						}
					}
				case <-end:
					if !talking {
						t.Fatal("a silent peer that never answers pings was not closed")
					}
					return
				}
			}
		})
	}
}
