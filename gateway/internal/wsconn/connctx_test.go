package wsconn

import (
	"context"
	"errors"
	"testing"
	"time"
)

// What hangs on a socket's context ends with it, and leaves nothing behind
// once it is over.
func TestConnCtx(t *testing.T) {
	c := newConnCtx()
	child, cancelChild := context.WithTimeout(c, time.Minute)
	ran := make(chan struct{})
	context.AfterFunc(c, func() { close(ran) })
	stopped := context.AfterFunc(c, func() { t.Error("a stopped AfterFunc ran") })
	if !stopped() {
		t.Fatal("stop of a registered AfterFunc reported false")
	}
	short, cancelShort := context.WithTimeout(c, time.Minute)
	cancelShort()
	if short.Err() == nil {
		t.Fatal("a cancelled child is not done")
	}
	c.mu.Lock()
	n := len(c.after)
	c.mu.Unlock()
	if n != 2 {
		t.Fatalf("%d registered after the child and the AfterFunc left; want 2", n)
	}
	cancelChild()
	c.mu.Lock()
	n = len(c.after)
	c.mu.Unlock()
	if n != 1 {
		t.Fatalf("%d registered; want 1", n)
	}

	child, cancelChild = context.WithCancel(c)
	defer cancelChild()
	if c.Err() != nil {
		t.Fatal("done before cancel")
	}
	c.cancel()
	c.cancel()
	if !errors.Is(c.Err(), context.Canceled) {
		t.Fatalf("Err after cancel: %v", c.Err())
	}
	select {
	case <-child.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("a child was not cancelled with the socket's context")
	}
	select {
	case <-ran:
	case <-time.After(5 * time.Second):
		t.Fatal("an AfterFunc did not run when the socket's context ended")
	}
	if c.after != nil {
		t.Fatal("the registrations outlived the context")
	}
	late := make(chan struct{})
	if context.AfterFunc(c, func() { close(late) })() {
		t.Fatal("stop of an AfterFunc on a done context reported true")
	}
	select {
	case <-late:
	case <-time.After(5 * time.Second):
		t.Fatal("an AfterFunc on a done context did not run")
	}
}

// Once every request is over, a socket's context holds nothing.
func TestConnCtxForgets(t *testing.T) {
	c := newConnCtx()
	for range 100 {
		ctx, cancel := context.WithTimeout(c, time.Minute)
		stop := context.AfterFunc(ctx, func() {})
		stop()
		cancel()
	}
	if c.after != nil {
		t.Fatalf("%d registrations left after the requests ended", len(c.after))
	}
}
