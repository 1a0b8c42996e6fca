package ratelimit

import (
	"sync"
	"time"
)

// Local is the in-process sliding window: the same rule as the Redis script,
// for one process. It is safe for concurrent use.
type Local struct {
	limit  int
	window time.Duration
	now    func() time.Time

	mu    sync.Mutex
	users map[string][]entry
	calls int
}

type entry struct {
	id string
	at time.Time
}

// NewLocal returns an in-process window; now nil means time.Now.
func NewLocal(limit int, window time.Duration, now func() time.Time) *Local {
	if now == nil {
		now = time.Now
	}
	return &Local{limit: limit, window: window, now: now, users: map[string][]entry{}}
}

// Allow is Limiter.Allow counted in this process.
func (l *Local) Allow(user, id string) (bool, time.Duration) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.calls++; l.calls%1024 == 0 {
		l.sweep(now)
	}
	es := l.live(user, now)
	for _, e := range es {
		if e.id == id {
			return true, 0
		}
	}
	if len(es) < l.limit {
		l.users[user] = append(es, entry{id, now})
		return true, 0
	}
	wait := es[0].at.Add(l.window).Sub(now)
	if wait < time.Millisecond {
		wait = time.Millisecond
	}
	return false, wait
}

// live drops the user's entries that left the window and returns the rest,
// oldest first. Lock held.
func (l *Local) live(user string, now time.Time) []entry {
	es := l.users[user]
	i := 0
	for i < len(es) && now.Sub(es[i].at) >= l.window {
		i++
	}
	if i == len(es) {
		delete(l.users, user)
		return nil
	}
	es = es[i:]
	l.users[user] = es
	return es
}

// sweep forgets users whose window is empty, so that memory follows the
// active senders. Lock held.
func (l *Local) sweep(now time.Time) {
	for user := range l.users {
		l.live(user, now)
	}
}
