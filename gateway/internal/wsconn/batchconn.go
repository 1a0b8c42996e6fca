package wsconn

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"
)

// A socket's writer wakes once per frame. When frames queue up faster than
// one write(2) each can drain them (a busy room, a fan-out burst), it holds
// the bytes of the queued frames and writes them with one system call:
// batchConn sits under the WebSocket connection to make that possible.

// maxBatchBytes bounds what one held write gathers.
const maxBatchBytes = 64 << 10

// A socket's own buffers are small, as every connection keeps them for its
// lifetime: the reader's holds a client frame's header and a small frame
// (larger payloads are read straight into place), the writer's only passes
// bytes on to the batchConn, whose gathering buffer is borrowed from a pool
// while it holds (a frame written without holding, a ping or a close, fits
// in it whole).
const (
	readBufferSize  = 256
	writeBufferSize = 128
)

// sendBuffer is the kernel's send buffer of a socket (Linux doubles it for
// its bookkeeping). The kernel would grow it up to net.ipv4.tcp_wmem's
// maximum (4 MiB by default) for a peer that does not read: with it fixed,
// such a peer fills it, and then the bounded send queue, soon, and holds
// little kernel memory. It is ample for chat: a full buffer is a second of
// frames even on a slow link.
const sendBuffer = 128 << 10

var batchBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 4<<10); return &b }}

// batchConn is a socket whose writes can be held and released together. Every
// write it passes on carries a deadline, so a peer that stops reading cannot
// block the writer for longer than timeout. (The deadline is moved only once
// half of it has passed: a write gets between timeout/2 and timeout.)
type batchConn struct {
	net.Conn
	raw      syscall.RawConn // of Conn, for awaitInput; nil if it has none
	timeout  time.Duration
	deadline time.Time // the write deadline set on Conn

	mu   sync.Mutex
	hold bool
	buf  *[]byte // while holding, from batchBuffers
	err  error   // a failed write of held bytes, returned by the next Write
}

func (b *batchConn) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err != nil {
		return 0, b.err
	}
	if b.hold && len(*b.buf)+len(p) <= maxBatchBytes {
		*b.buf = append(*b.buf, p...)
		return len(p), nil
	}
	if err := b.flushLocked(); err != nil {
		return 0, err
	}
	return b.write(p)
}

func (b *batchConn) write(p []byte) (int, error) {
	if now := time.Now(); b.deadline.Sub(now) < b.timeout/2 {
		b.deadline = now.Add(b.timeout)
		if err := b.Conn.SetWriteDeadline(b.deadline); err != nil {
			return 0, err
		}
	}
	return b.Conn.Write(p)
}

// Hold makes writes gather until Release.
func (b *batchConn) Hold() {
	b.mu.Lock()
	if !b.hold {
		b.hold = true
		b.buf = batchBuffers.Get().(*[]byte)
	}
	b.mu.Unlock()
}

// Release writes what was gathered, with one system call, and stops holding.
func (b *batchConn) Release() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.hold {
		return b.err
	}
	err := b.flushLocked()
	b.hold = false
	if cap(*b.buf) <= 2*maxBatchBytes {
		*b.buf = (*b.buf)[:0]
		batchBuffers.Put(b.buf)
	}
	b.buf = nil
	return err
}

func (b *batchConn) flushLocked() error {
	if !b.hold || len(*b.buf) == 0 || b.err != nil {
		return b.err
	}
	_, err := b.write(*b.buf)
	*b.buf = (*b.buf)[:0]
	b.err = err
	return err
}

// awaitInput blocks until the socket has bytes to read, has ended or has
// failed, and reads nothing. An idle socket's reader waits here rather than
// deep inside the WebSocket library's read path: a goroutine parked in a
// shallow call lets the garbage collector shrink its stack to a few KiB,
// which is most of what an idle connection costs. Callers make sure no
// one else reads the socket meanwhile.
func (b *batchConn) awaitInput() error {
	if b.raw == nil {
		return nil
	}
	var peek [1]byte
	return b.raw.Read(func(fd uintptr) bool {
		_, _, err := syscall.Recvfrom(int(fd), peek[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		// Bytes, the end of the stream or an error (an interrupted peek
		// too): the real read sees them. Only "nothing yet" waits.
		return err != syscall.EAGAIN
	})
}

// batchHijacker hands the WebSocket library a batchConn when it hijacks the
// HTTP connection.
type batchHijacker struct {
	http.ResponseWriter
	timeout time.Duration
	conn    *batchConn    // set by Hijack
	in      *bufio.Reader // set by Hijack: what the library reads from
}

func (h *batchHijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	nc, brw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(sendBuffer) // a socket that refuses it just keeps the default
	}
	h.conn = &batchConn{Conn: nc, timeout: h.timeout}
	if sc, ok := nc.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			h.conn.raw = raw
		}
	}
	// Smaller buffers than the HTTP server's (which Hijack has flushed).
	// Bytes the client sent after its request must stay buffered in the
	// new reader: the library takes over what a reader has buffered.
	rd := bufio.NewReaderSize(h.conn, readBufferSize)
	if n := brw.Reader.Buffered(); n > 0 {
		early, _ := brw.Reader.Peek(n)
		rd = bufio.NewReaderSize(io.MultiReader(bytes.NewReader(bytes.Clone(early)), h.conn), max(n, readBufferSize))
		if _, err := rd.Peek(n); err != nil {
			nc.Close()
			return nil, nil, err
		}
	}
	h.in = rd
	return h.conn, bufio.NewReadWriter(rd, bufio.NewWriterSize(h.conn, writeBufferSize)), nil
}
