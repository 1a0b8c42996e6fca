package hub

import (
	"context"
	"sync"

	"github.com/redis/go-redis/v9"
)

// channels keeps the hub's Redis subscription to each channel in step with
// how many here want it: the first want subscribes, the last one gone
// unsubscribes. The SUBSCRIBE and UNSUBSCRIBE of one channel are sent one
// at a time, in the order the wants changed, so an UNSUBSCRIBE for a want
// that just ended can never overtake the SUBSCRIBE for one that just began
// (a socket closing while the same user's next one opens, a room left as
// someone joins it) and leave the channel dead while it is wanted.
type channels struct {
	ps *redis.PubSub

	mu sync.Mutex
	m  map[string]*channel
}

// channel is one channel's want count and subscription.
type channel struct {
	// busy is held while the subscription changes, and while it is
	// checked against the want count.
	busy sync.Mutex
	want int  // guarded by channels.mu
	on   bool // guarded by busy
}

func newChannels(ps *redis.PubSub) *channels {
	return &channels{ps: ps, m: map[string]*channel{}}
}

// add wants each of names once more, subscribing to those not yet
// subscribed. An error is Redis's: the channels stay wanted, and go-redis
// subscribes to them again when its connection comes back. The change is
// not bound to the caller's context: a want outlives the call that made it.
func (c *channels) add(names ...string) error {
	var first error
	for _, name := range names {
		c.mu.Lock()
		ch := c.m[name]
		if ch == nil {
			ch = &channel{}
			c.m[name] = ch
		}
		ch.want++
		c.mu.Unlock()
		if err := c.settle(name, ch); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// remove wants each of names once less, unsubscribing from those no one
// wants any more.
func (c *channels) remove(names ...string) error {
	var first error
	for _, name := range names {
		c.mu.Lock()
		ch := c.m[name]
		if ch == nil || ch.want == 0 {
			c.mu.Unlock()
			continue
		}
		ch.want--
		c.mu.Unlock()
		if err := c.settle(name, ch); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// settle subscribes to or unsubscribes from name as its want count says,
// and forgets a channel no one wants once it is unsubscribed.
func (c *channels) settle(name string, ch *channel) error {
	ch.busy.Lock()
	defer ch.busy.Unlock()
	c.mu.Lock()
	wanted := ch.want > 0
	c.mu.Unlock()
	var err error
	switch {
	case wanted && !ch.on:
		err = c.ps.Subscribe(context.Background(), name)
		ch.on = true
	case !wanted && ch.on:
		err = c.ps.Unsubscribe(context.Background(), name)
		ch.on = false
	}
	if !wanted {
		c.mu.Lock()
		if ch.want == 0 && c.m[name] == ch {
			delete(c.m, name)
		}
		c.mu.Unlock()
	}
	return err
}
