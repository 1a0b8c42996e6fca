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

// Check is one action to admit or refuse.
type Check struct {
	User string
	Kind Kind
	ID   string // counted once: a check repeating a counted id is admitted
}

// Result is the answer to a Check; RetryAfter (when refused) is the time
// until the window admits one more.
type Result struct {
	OK         bool
	RetryAfter time.Duration
}

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

// redisTimeout bounds one round trip, so an unreachable or stalled Redis
// costs a batch at most this long before the fallback takes over.
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
	// Rules are the limits per kind; a kind without a rule is not limited.
	Rules  Rules
	Logger *slog.Logger
	// Now is the clock of the in-process fallback; nil means time.Now.
	Now func() time.Time
}

// Limiter is a sliding-window limiter per user and kind, shared through
// Redis.
type Limiter struct {
	rdb    *redis.Client
	prefix string
	rules  Rules
	log    *slog.Logger
	local  map[Kind]*Local

	downUntil atomic.Int64  // unix nanos until which Redis is not tried
	down      atomic.Bool   // the outage has been logged
	redisErrs atomic.Uint64 // failed Redis round trips

	// Allow's checks wait in calls for the one goroutine that runs them in
	// batches (coalesce), started by the first Allow and ended by Close.
	calls     chan call
	start     sync.Once
	closing   chan struct{}
	coalesced sync.WaitGroup
}

// call is one Allow waiting for its batch.
type call struct {
	check Check
	done  chan Result
}

// maxCoalesced bounds the checks of one coalesced batch.
const maxCoalesced = 256

// New returns a Limiter. It does not contact Redis: an unreachable Redis is
// found out, and survived, on use.
func New(cfg Config) (*Limiter, error) {
	if err := cfg.Rules.Validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	l := &Limiter{prefix: cfg.Prefix, rules: Rules{}, log: cfg.Logger, local: map[Kind]*Local{},
		calls: make(chan call, maxCoalesced), closing: make(chan struct{})}
	for k, r := range cfg.Rules {
		l.rules[k] = r
		l.local[k] = NewLocal(r.Limit, r.Window, cfg.Now)
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

// Close ends the batching of Allow calls and releases the Redis
// connections. Allow must not be called after Close.
func (l *Limiter) Close() error {
	close(l.closing)
	l.coalesced.Wait()
	if l.rdb == nil {
		return nil
	}
	return l.rdb.Close()
}

// Rules returns the limiter's rules.
func (l *Limiter) Rules() Rules { return l.rules }

// RedisErrors is how many Redis round trips have failed since New, other
// than those cut short by their caller's context ending.
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

// Allow reports whether user may do the action id of kind; if not,
// retryAfter is the time until the window admits one more.
//
// Concurrent calls share Redis round trips: one batch is in flight at a
// time, and the checks that arrive meanwhile go together in the next
// (AllowBatch), so a busy validator pays one round trip for many commands
// and an idle one waits for no timer. A call whose ctx ends before its
// answer is counted in this process instead.
func (l *Limiter) Allow(ctx context.Context, user string, kind Kind, id string) (ok bool, retryAfter time.Duration) {
	c := Check{User: user, Kind: kind, ID: id}
	if _, limited := l.rules[kind]; !limited {
		return true, 0
	}
	l.start.Do(func() { l.coalesced.Go(l.coalesce) })
	cl := call{check: c, done: make(chan Result, 1)}
	select {
	case l.calls <- cl:
	case <-ctx.Done():
		return l.local[kind].Allow(user, id)
	}
	select {
	case r := <-cl.done:
		return r.OK, r.RetryAfter
	case <-ctx.Done():
		return l.local[kind].Allow(user, id)
	}
}

// coalesce answers Allow calls in batches until Close.
func (l *Limiter) coalesce() {
	batch := make([]call, 0, maxCoalesced)
	checks := make([]Check, 0, maxCoalesced)
	for {
		batch, checks = batch[:0], checks[:0]
		select {
		case c := <-l.calls:
			batch = append(batch, c)
		case <-l.closing:
			return
		}
	gather:
		for len(batch) < maxCoalesced {
			select {
			case c := <-l.calls:
				batch = append(batch, c)
			default:
				break gather
			}
		}
		for _, c := range batch {
			checks = append(checks, c.check)
		}
		for i, r := range l.AllowBatch(context.Background(), checks) {
			batch[i].done <- r
		}
	}
}

// AllowBatch answers every check, in order, in one Redis round trip: checks
// of the same user and kind see the ones before them in the batch.
func (l *Limiter) AllowBatch(ctx context.Context, checks []Check) []Result {
	out := make([]Result, len(checks))
	var limited []int // indexes of the checks whose kind has a rule
	for i, c := range checks {
		if _, ok := l.rules[c.Kind]; ok {
			limited = append(limited, i)
		} else {
			out[i].OK = true
		}
	}
	if len(limited) == 0 {
		return out
	}
	if l.rdb != nil && time.Now().UnixNano() >= l.downUntil.Load() {
		err := l.allowRedis(ctx, checks, limited, out)
		if err == nil {
			if l.down.CompareAndSwap(true, false) {
				l.log.Info("rate limiter: redis answers again; windows shared across instances")
			}
			return out
		}
		if ctx.Err() == nil {
			l.redisErrs.Add(1)
			l.downUntil.Store(time.Now().Add(retryRedisAfter).UnixNano())
			if l.down.CompareAndSwap(false, true) {
				l.log.Warn("rate limiter: redis unreachable; counting in this process only", "err", err)
			}
		}
	}
	for _, i := range limited {
		c := checks[i]
		out[i].OK, out[i].RetryAfter = l.local[c.Kind].Allow(c.User, c.ID)
	}
	return out
}

// key is the Redis key of one user's window of kind. Messages keep the key
// they had before kinds existed, so that instances of both versions share
// one window during a rolling upgrade.
func (l *Limiter) key(user string, kind Kind) string {
	if kind == Message {
		return l.prefix + "rl:" + user
	}
	return l.prefix + "rl:" + string(kind) + ":" + user
}

// allowRedis runs the script once per limited check in one pipeline, and
// sets their results in out. A Redis that lost the script (NOSCRIPT) is
// given it and asked again once.
func (l *Limiter) allowRedis(ctx context.Context, checks []Check, limited []int, out []Result) error {
	ctx, cancel := context.WithTimeout(ctx, redisTimeout)
	defer cancel()
	cmds, err := l.runBatch(ctx, checks, limited)
	if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
		if err := script.Load(ctx, l.rdb).Err(); err != nil {
			return fmt.Errorf("rate limit script: load: %w", err)
		}
		cmds, err = l.runBatch(ctx, checks, limited)
	}
	if err != nil {
		return fmt.Errorf("rate limit script: %w", err)
	}
	for j, i := range limited {
		res, err := cmds[j].Int64Slice()
		if err != nil {
			return fmt.Errorf("rate limit script: %w", err)
		}
		if len(res) != 2 {
			return errors.New("rate limit script: unexpected reply")
		}
		out[i] = Result{OK: res[0] == 1, RetryAfter: time.Duration(res[1]) * time.Millisecond}
	}
	return nil
}

func (l *Limiter) runBatch(ctx context.Context, checks []Check, limited []int) ([]*redis.Cmd, error) {
	pipe := l.rdb.Pipeline()
	cmds := make([]*redis.Cmd, len(limited))
	for j, i := range limited {
		c := checks[i]
		r := l.rules[c.Kind]
		cmds[j] = script.EvalSha(ctx, pipe, []string{l.key(c.User, c.Kind)}, c.ID, r.Limit, r.Window.Milliseconds())
	}
	_, err := pipe.Exec(ctx)
	return cmds, err
}
