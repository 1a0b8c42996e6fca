package gateway

import (
	"bufio"
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/time/rate"
)

// conn is one WebSocket. One goroutine at a time reads and handles its frames
// in order (so a connection's commands are appended in the order sent); it
// runs while the peer has sent something, and when nothing is left to read
// it parks the socket with the server's idle poller and ends. Frames for the
// peer wait in a bounded queue; a writer goroutine runs while the queue holds
// any and sends what it finds there with one system call. Keepalive pings run
// on a timer. So an idle socket holds no goroutine.
//
// What waits for the peer is bounded in bytes as well as in frames: the
// queue and the frames the writer has taken but not yet written together
// stay within Config.SendQueueBytes, and a socket that would pass it is
// closed as too slow (1008): its queue is dropped at once, and it is cut off
// if its close has not ended within closeGrace.
type conn struct {
	s    *Server
	id   string
	sess session
	ws   *websocket.Conn
	net  *batchConn    // under ws: writes carry a deadline, held frames go out together
	in   *bufio.Reader // what ws reads from (awaitInput looks at what it holds)
	// heard is when the peer last sent a frame (unix ns): a socket that
	// speaks needs no ping to show it is alive.
	heard atomic.Int64

	mu      sync.Mutex
	queue   [][]byte      // frames not yet taken by the writer
	pending int           // bytes of queue and of the frames the writer is writing
	writing bool          // a writer goroutine runs
	space   chan struct{} // a token when the writer took frames (SendWait waits on it)
	ping    *time.Timer
	parked  bool   // with the idle poller, no reader running
	idleID  uint64 // the idle poller's name for it; 0 until first parked

	ctx    context.Context // ends when the socket closes (a connCtx)
	cancel func()
	once   sync.Once
	closed chan struct{} // closed once the close handshake is over

	limiter *rate.Limiter   // of the peer's frames; reader only
	rooms   map[string]bool // joined on this socket; reader only
	typist  typist
}

func newConn(s *Server, sess session, ws *websocket.Conn, hj *batchHijacker) *conn {
	ctx := newConnCtx()
	c := &conn{
		s: s, id: s.id + "." + strconv.FormatUint(atomic.AddUint64(&s.connSeq, 1), 10), sess: sess, ws: ws, net: hj.conn, in: hj.in,
		space: make(chan struct{}, 1), ctx: ctx, cancel: ctx.cancel, closed: make(chan struct{}),
		limiter: rate.NewLimiter(rate.Limit(s.cfg.FrameRate), s.cfg.FrameBurst),
		rooms:   map[string]bool{},
	}
	c.heard.Store(time.Now().UnixNano())
	return c
}

// serve starts the keepalive pings and reads what the peer sends.
func (c *conn) serve() {
	c.mu.Lock()
	c.ping = time.AfterFunc(c.s.cfg.PingInterval, c.keepAlive)
	c.mu.Unlock()
	c.readLoop(false)
}

// finish waits for the close handshake of a socket whose reading is over and
// forgets the socket.
func (c *conn) finish() {
	c.closeWith(websocket.StatusNormalClosure, "")
	<-c.closed
	if c.s.idle != nil {
		c.s.idle.forget(c)
	}
	c.s.removeConn(c)
	c.s.metrics.conns.Dec()
}

// wake is the idle poller's: the parked socket has input (or has ended).
func (c *conn) wake() {
	c.mu.Lock()
	parked := c.parked
	c.parked = false
	c.mu.Unlock()
	if parked {
		go c.readLoop(true)
	}
}

// keepAlive pings a peer that has been silent for the ping interval; a
// socket whose pong does not come back within the interval is closed. (The
// web app's heartbeats come more often, so its sockets are never pinged.)
func (c *conn) keepAlive() {
	if quiet := time.Since(time.Unix(0, c.heard.Load())); quiet < c.s.cfg.PingInterval {
		c.mu.Lock()
		if c.ctx.Err() == nil {
			c.ping.Reset(c.s.cfg.PingInterval - quiet)
		}
		c.mu.Unlock()
		return
	}
	ctx, cancel := context.WithTimeout(c.ctx, c.s.cfg.PingInterval)
	err := c.ws.Ping(ctx)
	cancel()
	if err != nil {
		c.closeWith(websocket.StatusGoingAway, "no pong")
		return
	}
	c.mu.Lock()
	if c.ctx.Err() == nil {
		c.ping.Reset(c.s.cfg.PingInterval)
	}
	c.mu.Unlock()
}

// awaitInput waits for the peer to send something, unless the library holds
// bytes of it already. With the server's idle poller it parks the socket
// there and reports true: the calling reader is to end, and the poller starts
// another when input comes. Without one, it waits in batchConn.awaitInput.
func (c *conn) awaitInput() (parked bool) {
	// The library's close handshake reads too; it starts after c.ctx is
	// cancelled under c.mu, so a look at the buffer under c.mu with the
	// context alive cannot overlap it, and closeWith finishes a socket it
	// finds parked.
	c.mu.Lock()
	wait := c.ctx.Err() == nil && c.in != nil && c.in.Buffered() == 0
	parked = wait && c.s.idle != nil && c.s.idle.watch(c) == nil
	c.parked = parked
	c.mu.Unlock()
	if wait && !parked {
		// An error here (the socket closed) is the next read's to report.
		_ = c.net.awaitInput()
	}
	return parked
}

// closeGrace is how long a socket's close may take: a peer that reads gets
// what was being written and the close frame; one that does not is cut off
// then, and what the writer held is freed.
const closeGrace = 2 * time.Second

// Send queues a frame; a socket whose queue is full (in frames or in bytes)
// is closed as too slow, so it never holds up anyone else nor makes the
// gateway hold its bytes.
func (c *conn) Send(b []byte) {
	c.mu.Lock()
	switch {
	case c.ctx.Err() != nil:
		c.mu.Unlock()
	case !c.fitsLocked(len(b)):
		c.mu.Unlock()
		c.s.metrics.dropped.Inc()
		c.closeWith(websocket.StatusPolicyViolation, "too slow: send queue full")
	default:
		c.enqueueLocked(b)
		c.mu.Unlock()
		c.s.metrics.framesOut.Inc()
	}
}

// fitsLocked reports whether a frame of n bytes fits in the send queue. A
// frame always fits an empty one: the bound is on what piles up, and what
// one frame holds is bounded where it is made. c.mu is held.
func (c *conn) fitsLocked(n int) bool {
	if c.pending == 0 {
		return true
	}
	return len(c.queue) < c.s.cfg.SendQueue && c.pending+n <= c.s.cfg.SendQueueBytes
}

// SendWait queues a frame, waiting for room; false if the socket closed.
func (c *conn) SendWait(b []byte) bool {
	for {
		c.mu.Lock()
		if c.ctx.Err() != nil {
			c.mu.Unlock()
			return false
		}
		if c.fitsLocked(len(b)) {
			c.enqueueLocked(b)
			c.mu.Unlock()
			c.s.metrics.framesOut.Inc()
			return true
		}
		c.mu.Unlock()
		select {
		case <-c.space:
		case <-c.ctx.Done():
			return false
		}
	}
}

// enqueueLocked queues b and makes sure a writer runs. c.mu is held.
func (c *conn) enqueueLocked(b []byte) {
	c.queue = append(c.queue, b)
	c.pending += len(b)
	if !c.writing {
		c.writing = true
		go c.writeLoop()
	}
}

// writeLoop sends queued frames until the queue is empty or the socket
// closed, then ends.
func (c *conn) writeLoop() {
	for {
		c.mu.Lock()
		batch := c.queue
		if len(batch) == 0 || c.ctx.Err() != nil {
			c.pending -= frameBytes(batch)
			c.queue, c.writing = nil, false
			c.mu.Unlock()
			return
		}
		c.queue = nil
		c.mu.Unlock()
		c.signalSpace()
		err := c.write(batch)
		c.mu.Lock()
		c.pending -= frameBytes(batch)
		c.mu.Unlock()
		c.signalSpace()
		if err != nil {
			c.closeWith(websocket.StatusGoingAway, "write failed")
		}
	}
}

// cutOff closes the network connection under the socket, ending a blocked
// write or a close handshake at once.
func (c *conn) cutOff() {
	if c.net != nil {
		_ = c.net.Conn.Close()
	}
}

// signalSpace tells a waiting SendWait that the queue has room again.
func (c *conn) signalSpace() {
	select {
	case c.space <- struct{}{}:
	default:
	}
}

func frameBytes(frames [][]byte) int {
	n := 0
	for _, b := range frames {
		n += len(b)
	}
	return n
}

// write sends frames with one system call (more if they are many). The
// writes are not bound to c.ctx (a cancelled write drops the connection
// without its close frame); the batchConn's deadline bounds them.
func (c *conn) write(frames [][]byte) error {
	c.net.Hold()
	var err error
	for _, b := range frames {
		if err = c.ws.Write(context.Background(), websocket.MessageText, b); err != nil {
			break
		}
	}
	if rerr := c.net.Release(); err == nil {
		err = rerr
	}
	return err
}

// closeWith closes the socket once, with the first status asked for: frames
// still queued are dropped, the close frame is sent and the peer's awaited.
// What is still being written, the close frame and the peer's answer get
// closeGrace; then the connection is cut off.
func (c *conn) closeWith(code websocket.StatusCode, reason string) {
	c.once.Do(func() {
		c.mu.Lock()
		c.cancel()
		c.pending -= frameBytes(c.queue)
		c.queue = nil
		if c.ping != nil {
			c.ping.Stop()
		}
		parked := c.parked
		c.parked = false
		c.mu.Unlock()
		go func() {
			defer close(c.closed)
			// A peer that reads nothing would hold the close for the
			// library's own timeouts (5 s to write, 5 s to answer) and the
			// writer's bytes with it.
			cut := time.AfterFunc(closeGrace, c.cutOff)
			defer cut.Stop()
			_ = c.ws.Close(code, reason)
		}()
		if parked {
			// No reader runs to see the socket end.
			go c.finish()
		}
	})
}
