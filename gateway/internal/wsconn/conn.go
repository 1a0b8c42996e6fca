package wsconn

import (
	"bufio"
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// Config bounds the sockets a server accepts.
type Config struct {
	// PingInterval: a peer silent this long is pinged, and closed if its
	// pong does not come back within it.
	PingInterval time.Duration
	// SendQueue and SendQueueBytes bound what waits for the peer, in frames
	// and in bytes.
	SendQueue      int
	SendQueueBytes int
	// WriteTimeout bounds one write to the network.
	WriteTimeout time.Duration
	// ReadLimit is the largest frame the peer may send (larger ones close
	// the socket with 1009); 0 keeps the library's.
	ReadLimit int64
	// Poller parks idle sockets; nil: an idle socket's reader waits in a
	// goroutine of its own.
	Poller *Poller
	// Sent and Dropped, if set, count frames queued and sockets closed for
	// a full queue.
	Sent, Dropped func()
}

// Handler is what a socket's reader hands its frames to.
type Handler interface {
	// Frame handles one frame the peer sent, in order; false ends reading
	// (the handler has closed the socket).
	Frame(typ websocket.MessageType, b []byte) bool
	// ReadFailed reports a read that failed other than by a close.
	ReadFailed(err error)
	// Ended is called once the socket is over: read to its end and its
	// close handshake done.
	Ended()
}

// Conn is one WebSocket. One goroutine at a time reads and handles its frames
// in order (so a connection's commands are appended in the order sent); it
// runs while the peer has sent something, and when nothing is left to read
// it parks the socket with the idle poller and ends. Frames for the
// peer wait in a bounded queue; a writer goroutine runs while the queue holds
// any and sends what it finds there with one system call. Keepalive pings run
// on a timer. So an idle socket holds no goroutine.
//
// What waits for the peer is bounded in bytes as well as in frames: the
// queue and the frames the writer has taken but not yet written together
// stay within Config.SendQueueBytes, and a socket that would pass it is
// closed as too slow (1008): its queue is dropped at once, and it is cut off
// if its close has not ended within closeGrace.
type Conn struct {
	cfg Config
	h   Handler // set by Serve
	ws  *websocket.Conn
	net *batchConn    // under ws: writes carry a deadline, held frames go out together
	in  *bufio.Reader // what ws reads from (awaitInput looks at what it holds)
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

	ctx    *connCtx // ends when the socket closes
	once   sync.Once
	closed chan struct{} // closed once the close handshake is over
}

// Accept upgrades an HTTP request to a socket; on failure it has answered
// the request (403 for a foreign origin, 400 for a bad handshake).
func Accept(w http.ResponseWriter, r *http.Request, opts *websocket.AcceptOptions, cfg Config) (*Conn, error) {
	hj := &batchHijacker{ResponseWriter: w, timeout: cfg.WriteTimeout}
	ws, err := websocket.Accept(hj, r, opts)
	if err != nil {
		return nil, err
	}
	if cfg.ReadLimit > 0 {
		ws.SetReadLimit(cfg.ReadLimit)
	}
	return newConn(cfg, ws, hj), nil
}

func newConn(cfg Config, ws *websocket.Conn, hj *batchHijacker) *Conn {
	c := &Conn{
		cfg: cfg, ws: ws, net: hj.conn, in: hj.in,
		space: make(chan struct{}, 1), ctx: newConnCtx(), closed: make(chan struct{}),
	}
	c.heard.Store(time.Now().UnixNano())
	return c
}

// Context ends when the socket closes.
func (c *Conn) Context() context.Context { return c.ctx }

// Closed is closed once the socket's close handshake is over.
func (c *Conn) Closed() <-chan struct{} { return c.closed }

// Serve starts the keepalive pings and reads what the peer sends, handing
// each frame to h, until nothing is left to read (the socket is parked, and
// the poller starts the next reader) or the socket ends.
func (c *Conn) Serve(h Handler) {
	c.mu.Lock()
	c.h = h
	c.ping = time.AfterFunc(c.cfg.PingInterval, c.keepAlive)
	c.mu.Unlock()
	c.readLoop(false)
}

// readLoop reads and handles the peer's frames until the socket is parked
// (it ends; the idle poller starts the next reader) or ends (it finishes the
// socket). woken: the idle poller started it.
func (c *Conn) readLoop(woken bool) {
	for {
		// A reader the idle poller woke reads at once: the input is in the
		// socket, not yet in the library's buffer.
		if !woken && c.awaitInput() {
			return // parked: the poller starts the next reader
		}
		woken = false
		// Not c.ctx: cancelling a read drops the connection without a close
		// frame. The writer's Close ends this read with the right status.
		typ, b, err := c.ws.Read(context.Background())
		if err != nil {
			var ce websocket.CloseError
			if !errors.As(err, &ce) && websocket.CloseStatus(err) == -1 && c.ctx.Err() == nil {
				c.h.ReadFailed(err)
			}
			break
		}
		c.heard.Store(time.Now().UnixNano())
		if !c.h.Frame(typ, b) {
			break
		}
	}
	c.finish()
}

// finish waits for the close handshake of a socket whose reading is over and
// forgets the socket.
func (c *Conn) finish() {
	c.Close(websocket.StatusNormalClosure, "")
	<-c.closed
	if c.cfg.Poller != nil {
		c.cfg.Poller.forget(c)
	}
	if c.h != nil {
		c.h.Ended()
	}
}

// wake is the idle poller's: the parked socket has input (or has ended).
func (c *Conn) wake() {
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
func (c *Conn) keepAlive() {
	if quiet := time.Since(time.Unix(0, c.heard.Load())); quiet < c.cfg.PingInterval {
		c.mu.Lock()
		if c.ctx.Err() == nil {
			c.ping.Reset(c.cfg.PingInterval - quiet)
		}
		c.mu.Unlock()
		return
	}
	ctx, cancel := context.WithTimeout(c.ctx, c.cfg.PingInterval)
	err := c.ws.Ping(ctx)
	cancel()
	if err != nil {
		c.Close(websocket.StatusGoingAway, "no pong")
		return
	}
	c.mu.Lock()
	if c.ctx.Err() == nil {
		c.ping.Reset(c.cfg.PingInterval)
	}
	c.mu.Unlock()
}

// awaitInput waits for the peer to send something, unless the library holds
// bytes of it already. With the idle poller (Config.Poller) it parks the socket
// there and reports true: the calling reader is to end, and the poller starts
// another when input comes. Without one, it waits in batchConn.awaitInput.
func (c *Conn) awaitInput() (parked bool) {
	// The library's close handshake reads too; it starts after c.ctx is
	// cancelled under c.mu, so a look at the buffer under c.mu with the
	// context alive cannot overlap it, and Close finishes a socket it
	// finds parked.
	c.mu.Lock()
	wait := c.ctx.Err() == nil && c.in != nil && c.in.Buffered() == 0
	parked = wait && c.cfg.Poller != nil && c.cfg.Poller.watch(c) == nil
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
func (c *Conn) Send(b []byte) {
	c.mu.Lock()
	switch {
	case c.ctx.Err() != nil:
		c.mu.Unlock()
	case !c.fitsLocked(len(b)):
		c.mu.Unlock()
		if c.cfg.Dropped != nil {
			c.cfg.Dropped()
		}
		c.Close(websocket.StatusPolicyViolation, "too slow: send queue full")
	default:
		c.enqueueLocked(b)
		c.mu.Unlock()
		c.sent()
	}
}

// fitsLocked reports whether a frame of n bytes fits in the send queue. A
// frame always fits an empty one: the bound is on what piles up, and what
// one frame holds is bounded where it is made. c.mu is held.
func (c *Conn) fitsLocked(n int) bool {
	if c.pending == 0 {
		return true
	}
	return len(c.queue) < c.cfg.SendQueue && c.pending+n <= c.cfg.SendQueueBytes
}

// SendWait queues a frame, waiting for room; false if the socket closed.
func (c *Conn) SendWait(b []byte) bool {
	for {
		c.mu.Lock()
		if c.ctx.Err() != nil {
			c.mu.Unlock()
			return false
		}
		if c.fitsLocked(len(b)) {
			c.enqueueLocked(b)
			c.mu.Unlock()
			c.sent()
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
func (c *Conn) enqueueLocked(b []byte) {
	c.queue = append(c.queue, b)
	c.pending += len(b)
	if !c.writing {
		c.writing = true
		go c.writeLoop()
	}
}

// writeLoop sends queued frames until the queue is empty or the socket
// closed, then ends.
func (c *Conn) writeLoop() {
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
			c.Close(websocket.StatusGoingAway, "write failed")
		}
	}
}

// cutOff closes the network connection under the socket, ending a blocked
// write or a close handshake at once.
func (c *Conn) cutOff() {
	if c.net != nil {
		_ = c.net.Conn.Close()
	}
}

// signalSpace tells a waiting SendWait that the queue has room again.
func (c *Conn) signalSpace() {
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
func (c *Conn) write(frames [][]byte) error {
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

// Close closes the socket once, with the first status asked for: frames
// still queued are dropped, the close frame is sent and the peer's awaited.
// What is still being written, the close frame and the peer's answer get
// closeGrace; then the connection is cut off.
func (c *Conn) Close(code websocket.StatusCode, reason string) {
	c.once.Do(func() {
		c.mu.Lock()
		c.ctx.cancel()
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

func (c *Conn) sent() {
	if c.cfg.Sent != nil {
		c.cfg.Sent()
	}
}

// Parked reports whether the socket waits in the idle poller, no reader
// running.
func (c *Conn) Parked() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.parked
}
