package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// script drops the entries that left the window, admits a command id already
// counted, admits and records a new one while the window holds fewer than the
// limit, and otherwise returns the time until the oldest entry leaves.
var script = redis.NewScript(`
local key = KEYS[1]
local id = ARGV[1]
local limit = tonumber(ARGV[2])
local window = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
if redis.call('ZSCORE', key, id) then
  return {1, 0}
end
if redis.call('ZCARD', key) < limit then
  redis.call('ZADD', key, now, id)
  redis.call('PEXPIRE', key, window)
  return {1, 0}
end
local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
local wait = tonumber(oldest[2]) + window - now
if wait < 1 then wait = 1 end
return {0, wait}
`)

// redisTimeout bounds one script call, so an unreachable or stalled Redis
// costs a message at most this long before the fallback takes over.
const redisTimeout = 300 * time.Millisecond

// retryRedisAfter is how long the limiter stays on the in-process window
// after Redis failed before it tries Redis again.
const retryRedisAfter = time.Second

// Config configures a Limiter.
type Config struct {
	// RedisURL is a redis:// URL; empty means in-process only.
	RedisURL string
	// Prefix is prepended to every Redis key.
	Prefix string
	Limit  int
	Window time.Duration
	Logger *slog.Logger
	// Now is the clock of the in-process fallback; nil means time.Now.
	Now func() time.Time
}

// Limiter is a sliding-window limiter shared through Redis.
type Limiter struct {
	rdb    *redis.Client
	prefix string
	limit  int
	window time.Duration
	log    *slog.Logger
	local  *Local

	downUntil atomic.Int64  // unix nanos until which Redis is not tried
	down      atomic.Bool   // the outage has been logged
	redisErrs atomic.Uint64 // failed Redis calls
}

// New returns a Limiter. It does not contact Redis: an unreachable Redis is
// found out, and survived, on use.
func New(cfg Config) (*Limiter, error) {
	if cfg.Limit < 1 || cfg.Window <= 0 {
		return nil, fmt.Errorf("rate limit: limit %d per %v is not a limit", cfg.Limit, cfg.Window)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	l := &Limiter{
		prefix: cfg.Prefix, limit: cfg.Limit, window: cfg.Window, log: cfg.Logger,
		local: NewLocal(cfg.Limit, cfg.Window, cfg.Now),
	}
	if cfg.RedisURL != "" {
		opt, err := redis.ParseURL(cfg.RedisURL)
		if err != nil {
			return nil, fmt.Errorf("rate limit: redis url: %w", err)
		}
		opt.DialTimeout = redisTimeout
		opt.ReadTimeout = redisTimeout
		opt.WriteTimeout = redisTimeout
		opt.MaxRetries = -1
		opt.ContextTimeoutEnabled = true
		l.rdb = redis.NewClient(opt)
	}
	return l, nil
}

// Close releases the Redis connections.
func (l *Limiter) Close() error {
	if l.rdb == nil {
		return nil
	}
	return l.rdb.Close()
}

// RedisErrors is how many Redis calls have failed since New, other than
// those cut short by their caller's context ending.
func (l *Limiter) RedisErrors() uint64 { return l.redisErrs.Load() }

// Ping checks that Redis answers. It is nil when the limiter has no Redis.
func (l *Limiter) Ping(ctx context.Context) error {
	if l.rdb == nil {
		return nil
	}
	if err := l.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("rate limit: redis ping: %w", err)
	}
	return nil
}

// Allow reports whether the message of command id by user may be accepted;
// if not, retryAfter is the time until the window admits one more.
func (l *Limiter) Allow(ctx context.Context, user, id string) (ok bool, retryAfter time.Duration) {
	if l.rdb != nil && time.Now().UnixNano() >= l.downUntil.Load() {
		ok, retryAfter, err := l.allowRedis(ctx, user, id)
		if err == nil {
			if l.down.CompareAndSwap(true, false) {
				l.log.Info("rate limiter: redis answers again; window shared across instances")
			}
			return ok, retryAfter
		}
		if ctx.Err() == nil {
			l.redisErrs.Add(1)
			l.downUntil.Store(time.Now().Add(retryRedisAfter).UnixNano())
			if l.down.CompareAndSwap(false, true) {
				l.log.Warn("rate limiter: redis unreachable; counting in this process only", "err", err)
			}
		}
	}
	return l.local.Allow(user, id)
}

func (l *Limiter) allowRedis(ctx context.Context, user, id string) (bool, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, redisTimeout)
	defer cancel()
	res, err := script.Run(ctx, l.rdb, []string{l.prefix + "rl:" + user}, id, l.limit, l.window.Milliseconds()).Int64Slice()
	if err != nil {
		return false, 0, fmt.Errorf("rate limit script: %w", err)
	}
	if len(res) != 2 {
		return false, 0, errors.New("rate limit script: unexpected reply")
	}
	return res[0] == 1, time.Duration(res[1]) * time.Millisecond, nil
}

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
