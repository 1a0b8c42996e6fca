package validator

import (
	"container/list"

	"github.com/chillin-chat/chillin/validator/internal/decide"
)

// roomCache holds a worker's room states, most recently used first, within
// a budget of estimated bytes (decide.Room.Size). A room evicted is read
// from the log again on its next command. The room in use is never evicted,
// even alone over the budget.
type roomCache struct {
	budget int // <= 0: no bound
	used   int
	lru    list.List // of *cachedRoom, most recently used first
	byID   map[string]*list.Element
}

type cachedRoom struct {
	r    *decide.Room
	size int
}

func newRoomCache(budget int) *roomCache {
	return &roomCache{budget: budget, byID: map[string]*list.Element{}}
}

// get returns the state of room id, if held, as the most recently used.
func (c *roomCache) get(id string) (*decide.Room, bool) {
	e, ok := c.byID[id]
	if !ok {
		return nil, false
	}
	c.lru.MoveToFront(e)
	return e.Value.(*cachedRoom).r, true
}

// put holds r (replacing any state of its room) as the most recently used,
// at its current size, and evicts the least recently used rooms while over
// the budget.
func (c *roomCache) put(r *decide.Room) {
	e, ok := c.byID[r.ID]
	if !ok {
		e = c.lru.PushFront(&cachedRoom{r: r})
		c.byID[r.ID] = e
	}
	c.lru.MoveToFront(e)
	cr := e.Value.(*cachedRoom)
	size := r.Size()
	c.used += size - cr.size
	cr.r, cr.size = r, size
	for c.budget > 0 && c.used > c.budget && c.lru.Len() > 1 {
		c.remove(c.lru.Back())
	}
}

// drop forgets the state of room id.
func (c *roomCache) drop(id string) {
	if e, ok := c.byID[id]; ok {
		c.remove(e)
	}
}

func (c *roomCache) remove(e *list.Element) {
	cr := c.lru.Remove(e).(*cachedRoom)
	delete(c.byID, cr.r.ID)
	c.used -= cr.size
}

func (c *roomCache) len() int { return c.lru.Len() }
