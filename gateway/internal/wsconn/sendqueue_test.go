package wsconn

import (
	"bytes"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chillin-chat/chillin/gateway/internal/wsconn/wsconntest"

	"github.com/coder/websocket"
)

// slowServer serves sockets whose send queue holds at most budget bytes,
// with a small kernel send buffer so that a peer that does not read blocks
// the writer soon. Its sockets arrive on the returned channel.
// dropped counts the sockets closed as too slow.
func slowServer(t *testing.T, budget int) (*httptest.Server, <-chan *Conn, *atomic.Int64) {
	t.Helper()
	dropped := new(atomic.Int64)
	cfg := Config{SendQueue: 512, SendQueueBytes: budget, PingInterval: time.Minute, Dropped: func() { dropped.Add(1) }}
	conns := make(chan *Conn, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hj := &batchHijacker{ResponseWriter: w, timeout: time.Minute}
		ws, err := websocket.Accept(hj, r, nil)
		if err != nil {
			return
		}
		if tc, ok := hj.conn.Conn.(*net.TCPConn); ok {
			_ = tc.SetWriteBuffer(8 << 10)
		}
		conns <- newConn(cfg, ws, hj)
	}))
	t.Cleanup(srv.Close)
	return srv, conns, dropped
}

// fillUntilClosed sends frames of size bytes to c until it closes itself,
// checking after each that what it holds stays within budget plus the one
// frame that may always go to an empty queue. It returns how many it sent.
func fillUntilClosed(t *testing.T, c *Conn, size, budget int) int {
	t.Helper()
	frame := bytes.Repeat([]byte("x"), size)
	for n := 1; n <= 10000; n++ {
		c.Send(frame)
		c.mu.Lock()
		pending := c.pending
		c.mu.Unlock()
		if pending > budget+size {
			t.Fatalf("after %d frames the socket holds %d bytes, budget %d", n, pending, budget)
		}
		if c.ctx.Err() != nil {
			if pending != 0 {
				// Only what the writer is writing may stay, and it is
				// counted until written: then it is not in the queue.
				c.mu.Lock()
				queued := len(c.queue)
				c.mu.Unlock()
				if queued != 0 {
					t.Fatalf("a closed socket still queues %d frames", queued)
				}
			}
			return n
		}
		time.Sleep(time.Millisecond) // let the writer take what it can
	}
	t.Fatalf("a peer that reads nothing took 10,000 frames of %d bytes without its socket closing", size)
	return 0
}

// A socket whose peer does not read is closed as too slow (1008) once what
// waits for the peer passes the byte budget, long before the frame bound;
// a peer that then reads gets what was in flight and the close code.
func TestSendQueueClosesPastItsByteBudget(t *testing.T) {
	const budget, size = 64 << 10, 16 << 10
	srv, conns, dropped := slowServer(t, budget)
	ctx, ws := wsconntest.Dial(t, srv)
	c := <-conns
	n := fillUntilClosed(t, c, size, budget)
	t.Logf("closed after %d frames of %d bytes", n, size)
	if n := dropped.Load(); n != 1 {
		t.Fatalf("slow closes counted: %v, want 1", n)
	}
	// The peer reads now, within the grace: it gets the frames that were
	// on their way, then the close frame.
	for {
		_, _, err := ws.Read(ctx)
		if err == nil {
			continue
		}
		if code := websocket.CloseStatus(err); code != websocket.StatusPolicyViolation {
			t.Fatalf("socket ended with %v, want close 1008", err)
		}
		break
	}
}

// A closing socket whose peer reads nothing is cut off within closeGrace:
// the writer blocked on it does not hold its bytes until the write timeout.
func TestSlowSocketIsCutOffWithinTheGrace(t *testing.T) {
	const budget, size = 64 << 10, 16 << 10
	srv, conns, _ := slowServer(t, budget)
	_, _ = wsconntest.Dial(t, srv) // never reads
	c := <-conns
	fillUntilClosed(t, c, size, budget)
	start := time.Now()
	select {
	case <-c.closed:
	case <-time.After(closeGrace + 3*time.Second):
		t.Fatalf("the socket of a peer that reads nothing was not cut off %v after closing", closeGrace+3*time.Second)
	}
	if took := time.Since(start); took > closeGrace+time.Second {
		t.Fatalf("cut off after %v, want about %v", took, closeGrace)
	}
	// The writer gave up what it held.
	eventuallyTrue(t, "the writer to let go of its frames", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.pending == 0 && !c.writing
	})
}

// SendWait (the join backfill) waits for the byte budget instead of closing
// the socket, and goes on when the peer reads.
func TestSendWaitWaitsForTheByteBudget(t *testing.T) {
	const budget, size = 64 << 10, 16 << 10
	srv, conns, _ := slowServer(t, budget)
	ctx, ws := wsconntest.Dial(t, srv)
	c := <-conns
	defer c.Close(websocket.StatusNormalClosure, "")
	frame := bytes.Repeat([]byte("y"), size)
	const total = 200 // 3.2 MB: far more than the budget and the kernel's buffers
	sent := make(chan int, 1)
	go func() {
		n := 0
		for ; n < total && c.SendWait(frame); n++ {
			c.mu.Lock()
			pending := c.pending
			c.mu.Unlock()
			if pending > budget+size {
				t.Errorf("SendWait let the socket hold %d bytes, budget %d", pending, budget)
			}
		}
		sent <- n
	}()
	// Nothing is read for a while: SendWait blocks, the socket stays open.
	time.Sleep(300 * time.Millisecond)
	if c.ctx.Err() != nil {
		t.Fatal("SendWait closed the socket")
	}
	for i := range total {
		if _, b, err := ws.Read(ctx); err != nil || len(b) != size {
			t.Fatalf("frame %d: %d bytes, %v", i, len(b), err)
		}
	}
	if n := <-sent; n != total {
		t.Fatalf("SendWait sent %d of %d frames", n, total)
	}
}

func eventuallyTrue(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waited 5s for %s", what)
		}
	}
}
