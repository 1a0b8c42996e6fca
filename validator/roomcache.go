package validator

import (
	"container/list"

	"github.com/chillin-chat/chillin/validator/internal/decide"
)

// roomCache holds a worker's room states, most recently used first, within
// a budget of estimated bytes (decide.Room.Size). A room evicted is read
// from the log again on its next command. The room in use is never evicted,
// even alone over the budget. A room evicted with facts that its snapshot
// lacks is handed to evicted (which saves one), if set.
type roomCache struct {
	budget  int // <= 0: no bound
	used    int
	lru     list.List // of *cachedRoom, most recently used first
	byID    map[string]*list.Element
	evicted func(*decide.Room)
}

type cachedRoom struct {
	r     *decide.Room
	size  int
	saved uint64 // the LastID of the room's newest snapshot, 0: none
}

func newRoomCache(budget int, evicted func(*decide.Room)) *roomCache {
	return &roomCache{budget: budget, byID: map[string]*list.Element{}, evicted: evicted}
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
		cr := c.remove(c.lru.Back())
		if c.evicted != nil && cr.r.LastID != cr.saved {
			c.evicted(cr.r)
		}
	}
}

// saved records that the snapshot of room id holds its state up to the
// fact lastID: evicted unchanged, it needs no new one.
func (c *roomCache) saved(id string, lastID uint64) {
	if e, ok := c.byID[id]; ok {
		e.Value.(*cachedRoom).saved = lastID
	}
}

// drop forgets the state of room id.
func (c *roomCache) drop(id string) {
	if e, ok := c.byID[id]; ok {
		c.remove(e)
	}
}

func (c *roomCache) remove(e *list.Element) *cachedRoom {
	cr := c.lru.Remove(e).(*cachedRoom)
	delete(c.byID, cr.r.ID)
	c.used -= cr.size
	return cr
}

func (c *roomCache) len() int { return c.lru.Len() }
