package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/chillin-chat/chillin/events"
)

// Kind is what a user does that is counted on its own.
type Kind string

// The kinds of the protocol's commands, one window each.
const (
	Message    Kind = "msg"      // message.send
	Edit       Kind = "edit"     // message.edit
	Delete     Kind = "delete"   // message.delete
	Reaction   Kind = "reaction" // reaction.add and reaction.remove
	Membership Kind = "member"   // room.join and room.leave
	Presence   Kind = "presence" // presence:set
	Typing     Kind = "typing"   // typing:start and typing:stop
	RoomCreate Kind = "room"     // POST /api/rooms
	Read       Kind = "read"     // room.read (room:read frames, coalesced by the gateway)
)

// Kinds lists every kind, in the order the documentation gives them.
var Kinds = []Kind{Message, Edit, Delete, Reaction, Membership, Presence, Typing, RoomCreate, Read}

// Rule is the limit of one kind: Limit actions in any sliding Window.
type Rule struct {
	Limit  int
	Window time.Duration
}

func (r Rule) String() string { return strconv.Itoa(r.Limit) + "/" + r.Window.String() }

// Rules holds a rule per limited kind.
type Rules map[Kind]Rule

// DefaultRules are the limits of a deployment that chose none: roomy for a
// person, tight for a script.
func DefaultRules() Rules {
	return Rules{
		Message:    {10, 10 * time.Second},
		Edit:       {10, 10 * time.Second},
		Delete:     {10, 10 * time.Second},
		Reaction:   {20, 10 * time.Second},
		Membership: {10, 10 * time.Second},
		Presence:   {5, 10 * time.Second},
		Typing:     {20, 10 * time.Second},
		RoomCreate: {10, time.Hour},
		Read:       {30, 10 * time.Second},
	}
}

// KindOf returns the kind a command type is counted as, and false for a
// type that is not limited.
func KindOf(cmdType string) (Kind, bool) {
	switch cmdType {
	case events.CmdMessageSend:
		return Message, true
	case events.CmdMessageEdit:
		return Edit, true
	case events.CmdMessageDelete:
		return Delete, true
	case events.CmdReactionAdd, events.CmdReactionRemove:
		return Reaction, true
	case events.CmdRoomJoin, events.CmdRoomLeave:
		return Membership, true
	case events.CmdRoomRead:
		return Read, true
	}
	return "", false
}

// ParseRules returns base with the rules of spec laid over it. spec is a
// comma-separated list of kind=limit/window, e.g. "edit=20/1m,room=5/1h";
// empty changes nothing.
func ParseRules(base Rules, spec string) (Rules, error) {
	out := make(Rules, len(base))
	for k, r := range base {
		out[k] = r
	}
	for part := range strings.SplitSeq(spec, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, rule, ok := strings.Cut(part, "=")
		limit, window, ok2 := strings.Cut(rule, "/")
		if !ok || !ok2 {
			return nil, fmt.Errorf("rate limits: %q is not kind=limit/window", part)
		}
		k := Kind(strings.TrimSpace(name))
		if !known(k) {
			return nil, fmt.Errorf("rate limits: unknown kind %q", k)
		}
		n, err := strconv.Atoi(strings.TrimSpace(limit))
		if err != nil {
			return nil, fmt.Errorf("rate limits: %s: limit: %w", k, err)
		}
		w, err := time.ParseDuration(strings.TrimSpace(window))
		if err != nil {
			return nil, fmt.Errorf("rate limits: %s: window: %w", k, err)
		}
		out[k] = Rule{n, w}
	}
	return out, out.Validate()
}

// Validate reports a rule that is not a limit.
func (rs Rules) Validate() error {
	for _, k := range Kinds {
		r, ok := rs[k]
		if ok && (r.Limit < 1 || r.Window < time.Millisecond) {
			return fmt.Errorf("rate limits: %s: %d per %v is not a limit", k, r.Limit, r.Window)
		}
	}
	for k := range rs {
		if !known(k) {
			return fmt.Errorf("rate limits: unknown kind %q", k)
		}
	}
	return nil
}

// String is the rules in ParseRules' syntax, in Kinds order.
func (rs Rules) String() string {
	var b []string
	for _, k := range Kinds {
		if r, ok := rs[k]; ok {
			b = append(b, string(k)+"="+r.String())
		}
	}
	return strings.Join(b, ",")
}

func known(k Kind) bool {
	for _, kk := range Kinds {
		if k == kk {
			return true
		}
	}
	return false
}

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
