package wsconn

import (
	"context"
	"sync"
	"time"
)

// connCtx is a socket's context: done when the socket closes. It is what a
// context.WithCancel would be, but what hangs on it while a request runs (a
// timeout derived from it, a database driver's watch) leaves no memory
// behind: a cancelCtx keeps the map of its children at its largest for its
// whole life, which for a long-lived idle socket is waste. The context
// package finds the AfterFunc method and uses it instead of that map.
type connCtx struct {
	mu    sync.Mutex
	done  chan struct{}
	err   error
	after map[*func()]struct{} // nil when none
}

var _ context.Context = (*connCtx)(nil)

func newConnCtx() *connCtx { return &connCtx{done: make(chan struct{})} }

func (c *connCtx) Deadline() (time.Time, bool) { return time.Time{}, false }
func (c *connCtx) Done() <-chan struct{}       { return c.done }
func (c *connCtx) Value(any) any               { return nil }

func (c *connCtx) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// AfterFunc runs f in its own goroutine once c is done (at once if it is);
// stop unregisters it, reporting whether it did so before f was started.
func (c *connCtx) AfterFunc(f func()) (stop func() bool) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		go f()
		return func() bool { return false }
	}
	key := &f
	if c.after == nil {
		c.after = map[*func()]struct{}{}
	}
	c.after[key] = struct{}{}
	c.mu.Unlock()
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		if _, ok := c.after[key]; !ok {
			return false
		}
		delete(c.after, key)
		if len(c.after) == 0 {
			c.after = nil
		}
		return true
	}
}

// cancel makes c done with context.Canceled; later calls do nothing.
func (c *connCtx) cancel() {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	c.err = context.Canceled
	close(c.done)
	after := c.after
	c.after = nil
	c.mu.Unlock()
	for f := range after {
		go (*f)()
	}
}
