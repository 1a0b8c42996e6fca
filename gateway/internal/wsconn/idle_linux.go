package wsconn

import (
	"errors"
	"fmt"
	"sync"

	"golang.org/x/sys/unix"
)

// Poller watches idle sockets with an epoll instance of its own, so that
// an idle socket holds no goroutine at all: its reader ends when nothing is
// left to read (the socket is parked here) and the poller starts a new one
// when the peer sends something. Each watch is one-shot: a woken socket is
// watched again only when its reader parks it again.
type Poller struct {
	epfd, wakefd int

	mu     sync.Mutex
	closed bool
	next   uint64           // the last id given; 0 is the wake-up eventfd's
	socks  map[uint64]*Conn // by id
	done   chan struct{}    // closed when run has returned
}

func NewPoller() (*Poller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("idle poller: epoll: %w", err)
	}
	wakefd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("idle poller: eventfd: %w", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN} // id 0
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wakefd, &ev); err != nil {
		unix.Close(epfd)
		unix.Close(wakefd)
		return nil, fmt.Errorf("idle poller: watch eventfd: %w", err)
	}
	p := &Poller{epfd: epfd, wakefd: wakefd, socks: map[uint64]*Conn{}, done: make(chan struct{})}
	go p.run()
	return p, nil
}

var errPollerClosed = errors.New("idle poller closed")

// watch arms c's socket: the poller calls c.wake once it is readable, has
// ended or failed. c.mu is held, so that wake cannot run before the caller
// has marked c parked.
func (p *Poller) watch(c *Conn) error {
	if c.net.raw == nil {
		return errors.New("idle poller: socket has no file descriptor")
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return errPollerClosed
	}
	op := unix.EPOLL_CTL_MOD
	if c.idleID == 0 {
		p.next++
		c.idleID = p.next
		p.socks[c.idleID] = c
		op = unix.EPOLL_CTL_ADD
	}
	p.mu.Unlock()
	ev := unix.EpollEvent{
		Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT,
		Fd:     int32(uint32(c.idleID)), Pad: int32(uint32(c.idleID >> 32)),
	}
	var err error
	// Control holds the descriptor open for the call: it cannot be closed
	// and reused under it.
	if cerr := c.net.raw.Control(func(fd uintptr) {
		err = unix.EpollCtl(p.epfd, op, int(fd), &ev)
	}); cerr != nil {
		return cerr
	}
	return err
}

// forget drops c for good; its registration in the epoll set ends when
// its socket is closed.
func (p *Poller) forget(c *Conn) {
	if c.idleID == 0 {
		return
	}
	p.mu.Lock()
	delete(p.socks, c.idleID)
	p.mu.Unlock()
}

// run hands each socket that became readable back to its conn until close.
func (p *Poller) run() {
	defer close(p.done)
	events := make([]unix.EpollEvent, 256)
	for {
		n, err := unix.EpollWait(p.epfd, events, -1)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return
		}
		for _, ev := range events[:n] {
			id := uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
			if id == 0 {
				return // close
			}
			p.mu.Lock()
			c := p.socks[id]
			p.mu.Unlock()
			if c != nil {
				c.wake()
			}
		}
	}
}

// Close stops the poller. Sockets still parked stay as they are: close runs
// once every socket has been closed.
func (p *Poller) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	p.mu.Unlock()
	one := []byte{1, 0, 0, 0, 0, 0, 0, 0}
	if _, err := unix.Write(p.wakefd, one); err == nil {
		<-p.done
	}
	unix.Close(p.epfd)
	unix.Close(p.wakefd)
}
