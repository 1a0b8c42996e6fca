package pinned

import (
	"context"
	"errors"
	"sync/atomic"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Header carries the pin id of a pinned consumer's deliveries.
const Header = "Nats-Pin-Id"

// Outcome is how a pull request ended.
type Outcome int

const (
	// Done: the request was filled or expired, or was cut short by its
	// own context.
	Done Outcome = iota
	// Unpinned: another instance holds the pin.
	Unpinned
	// Gone: the consumer, or its stream, is gone, or no server has it (NATS
	// may have restarted without what it kept in memory).
	Gone
	// NoAnswer: no one answered the request in time; NATS may be away, or
	// the consumer gone.
	NoAnswer
	// Failed: anything else.
	Failed
)

// Ended tells how a pull request ended from the error it ended with.
func Ended(err error) Outcome {
	switch {
	case err == nil, errors.Is(err, jetstream.ErrNoMessages), errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return Done
	case errors.Is(err, jetstream.ErrPinIDMismatch):
		return Unpinned
	case errors.Is(err, jetstream.ErrConsumerNotFound), errors.Is(err, jetstream.ErrConsumerDeleted),
		errors.Is(err, jetstream.ErrStreamNotFound), errors.Is(err, nats.ErrNoResponders):
		return Gone
	case errors.Is(err, nats.ErrTimeout):
		return NoAnswer
	}
	return Failed
}

// Pin is the pin id this instance was last given, if any.
type Pin struct{ id atomic.Pointer[string] }

// Seen notes the pin id m came with. It reports whether the pin id is a
// new one (this instance has just taken the group over, or was given a new
// pin after losing it), and the one it had before ("" if none).
func (p *Pin) Seen(m jetstream.Msg) (changed bool, prev string) {
	id := m.Headers().Get(Header)
	if id == "" {
		return false, p.ID()
	}
	cur := p.id.Load()
	if cur != nil && *cur == id {
		return false, id
	}
	p.id.Store(&id)
	if cur == nil {
		return true, ""
	}
	return true, *cur
}

// ID is the pin id, "" if none.
func (p *Pin) ID() string {
	if id := p.id.Load(); id != nil {
		return *id
	}
	return ""
}

// Lost forgets the pin id, and reports whether there was one.
func (p *Pin) Lost() bool { return p.id.Swap(nil) != nil }

// Unpin hands group of cons, on stream, to a standby at once, if pin
// (this instance's, from Pin.ID) still holds it; with no pin it does
// nothing.
func Unpin(ctx context.Context, stream jetstream.Stream, cons jetstream.Consumer, group, pin string) error {
	if pin == "" || cons == nil {
		return nil
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return err
	}
	for _, g := range info.PriorityGroups {
		if g.Group == group && g.PinnedClientID == pin {
			return stream.UnpinConsumer(ctx, info.Name, group)
		}
	}
	return nil
}
