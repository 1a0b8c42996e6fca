package gateway

import (
	"bufio"
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// conn is one WebSocket. One goroutine reads and handles its frames in order
// (so a connection's commands are appended in the order sent). Frames for it
// wait in a bounded queue; a writer goroutine runs while the queue holds any
// and sends what it finds there with one system call. Keepalive pings run on
// a timer. So an idle socket costs one goroutine, blocked in a read.
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
	writing bool          // a writer goroutine runs
	space   chan struct{} // a token when the writer took frames (SendWait waits on it)
	ping    *time.Timer

	ctx    context.Context // ends when the socket closes
	cancel context.CancelFunc
	once   sync.Once
	closed chan struct{} // closed once the close handshake is over

	rooms  map[string]bool // joined on this socket; reader goroutine only
	typist typist
}

func newConn(s *Server, sess session, ws *websocket.Conn, hj *batchHijacker) *conn {
	ctx, cancel := context.WithCancel(context.Background())
	c := &conn{
		s: s, id: s.id + "." + strconv.FormatUint(atomic.AddUint64(&s.connSeq, 1), 10), sess: sess, ws: ws, net: hj.conn, in: hj.in,
		space: make(chan struct{}, 1), ctx: ctx, cancel: cancel, closed: make(chan struct{}),
		rooms: map[string]bool{}, typist: typist{rooms: map[string]*typing{}},
	}
	c.heard.Store(time.Now().UnixNano())
	return c
}

// serve reads the socket until it ends, then waits for the close handshake
// and forgets the socket.
func (c *conn) serve() {
	c.mu.Lock()
	c.ping = time.AfterFunc(c.s.cfg.PingInterval, c.keepAlive)
	c.mu.Unlock()
	c.readLoop()
	c.closeWith(websocket.StatusNormalClosure, "")
	<-c.closed
	c.s.removeConn(c)
	c.s.metrics.conns.Dec()
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

// awaitInput parks the reader until the peer sends something, unless the
// library holds bytes of it already (see batchConn.awaitInput).
func (c *conn) awaitInput() {
	// The library's close handshake reads too; it starts after c.ctx is
	// cancelled under c.mu, so a look at the buffer under c.mu with the
	// context alive cannot overlap it.
	c.mu.Lock()
	wait := c.ctx.Err() == nil && c.in != nil && c.in.Buffered() == 0
	c.mu.Unlock()
	if wait {
		// An error here (the socket closed) is the next read's to report.
		_ = c.net.awaitInput()
	}
}

// Send queues a frame; a socket whose queue is full is closed as too slow,
// so it never holds up anyone else.
func (c *conn) Send(b []byte) {
	c.mu.Lock()
	switch {
	case c.ctx.Err() != nil:
		c.mu.Unlock()
	case len(c.queue) >= c.s.cfg.SendQueue:
		c.mu.Unlock()
		c.s.metrics.dropped.Inc()
		c.closeWith(websocket.StatusPolicyViolation, "too slow: send queue full")
	default:
		c.enqueueLocked(b)
		c.mu.Unlock()
		c.s.metrics.framesOut.Inc()
	}
}

// SendWait queues a frame, waiting for room; false if the socket closed.
func (c *conn) SendWait(b []byte) bool {
	for {
		c.mu.Lock()
		if c.ctx.Err() != nil {
			c.mu.Unlock()
			return false
		}
		if len(c.queue) < c.s.cfg.SendQueue {
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
			c.queue, c.writing = nil, false
			c.mu.Unlock()
			return
		}
		c.queue = nil
		c.mu.Unlock()
		select {
		case c.space <- struct{}{}:
		default:
		}
		if err := c.write(batch); err != nil {
			c.closeWith(websocket.StatusGoingAway, "write failed")
		}
	}
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
func (c *conn) closeWith(code websocket.StatusCode, reason string) {
	c.once.Do(func() {
		c.mu.Lock()
		c.cancel()
		if c.ping != nil {
			c.ping.Stop()
		}
		c.mu.Unlock()
		go func() {
			defer close(c.closed)
			_ = c.ws.Close(code, reason)
		}()
	})
}
