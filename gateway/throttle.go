package gateway

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/netip"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/chillin-chat/chillin/events"
	"github.com/redis/go-redis/v9"
)

// Codes of the refusals of this file (documented in docs/protocol.md).
const (
	// codeTooManyAttempts refuses a login, a registration or a room password
	// once its counter is spent; Retry-After says when to try again.
	codeTooManyAttempts = "TOO_MANY_ATTEMPTS"
	// codeServerBusy refuses a request that found no password hashing slot
	// free within Throttle.HashWait.
	codeServerBusy = "SERVER_BUSY"
)

// minRoomPassword is the shortest room password a new room takes, in code
// points.
const minRoomPassword = 8

// Rule admits Max attempts in a window of Window, which starts at the first
// attempt (a fixed window per key, not aligned to the clock).
type Rule struct {
	Max    int
	Window time.Duration
}

// Throttle bounds what guessing passwords can cost. Failed logins are
// counted per account and client address, per account and per address;
// registrations per address; wrong room passwords per user and room. The
// counters live in Redis, shared by every gateway. Password hashing is
// bounded per gateway by a semaphore of HashConcurrency slots.
type Throttle struct {
	// LoginPerAccountAddress: failed logins on one account from one address
	// (default 5 per 15m). Only that address is refused, so a guesser does
	// not lock the owner out.
	LoginPerAccountAddress Rule
	// LoginPerAccount: failed logins on one account from all addresses
	// (default 50 per 15m), against guesses spread over many addresses.
	LoginPerAccount Rule
	// LoginPerAddress: failed logins from one address on any accounts
	// (default 30 per 15m).
	LoginPerAddress Rule
	// RegisterPerAddress: registrations from one address (default 10 per 1h).
	RegisterPerAddress Rule
	// RoomPassword: wrong room passwords of one user for one room, checked
	// before the join reaches the validator (default 5 per 15m).
	RoomPassword Rule
	// HashConcurrency bounds the password hashes (argon2id, 19 MiB each at
	// the default cost) one gateway computes at once (default 2×GOMAXPROCS).
	HashConcurrency int
	// HashWait is how long a request waits for a free slot before it is
	// refused with 503 SERVER_BUSY (default 2s).
	HashWait time.Duration
}

func (t *Throttle) setDefaults() error {
	rules := []struct {
		r   *Rule
		def Rule
	}{
		{&t.LoginPerAccountAddress, Rule{5, 15 * time.Minute}},
		{&t.LoginPerAccount, Rule{50, 15 * time.Minute}},
		{&t.LoginPerAddress, Rule{30, 15 * time.Minute}},
		{&t.RegisterPerAddress, Rule{10, time.Hour}},
		{&t.RoomPassword, Rule{5, 15 * time.Minute}},
	}
	for _, r := range rules {
		if *r.r == (Rule{}) {
			*r.r = r.def
		}
		if r.r.Max < 1 || r.r.Window < time.Millisecond {
			return fmt.Errorf("gateway: throttle rule %+v: want at least 1 per at least 1ms", *r.r)
		}
	}
	if t.HashConcurrency == 0 {
		t.HashConcurrency = 2 * runtime.GOMAXPROCS(0)
	}
	if t.HashWait == 0 {
		t.HashWait = 2 * time.Second
	}
	if t.HashConcurrency < 1 || t.HashWait < 0 {
		return fmt.Errorf("gateway: hash concurrency %d must be positive, hash wait %v not negative", t.HashConcurrency, t.HashWait)
	}
	return nil
}

// counter is one throttle counter: its Redis key and rule.
type counter struct {
	key  string
	rule Rule
}

// countAttempt counts one attempt on each counter, in one step, and returns
// each counter's count and the time left in its window.
var countAttempt = redis.NewScript(`
local out = {}
for i, key in ipairs(KEYS) do
  local n = redis.call('INCR', key)
  local ttl = redis.call('PTTL', key)
  if ttl < 0 then
    redis.call('PEXPIRE', key, ARGV[i])
    ttl = tonumber(ARGV[i])
  end
  out[#out + 1] = n
  out[#out + 1] = ttl
end
return out`)

// attempt counts an attempt on every counter and returns how long to wait
// when one of them is over its rule (0: go ahead). Counting first, before
// the password is checked, bounds concurrent guesses as well as sequential
// ones. With Redis away it lets the attempt through and logs it: the
// hashing bound still holds.
func (s *Server) attempt(ctx context.Context, counters ...counter) time.Duration {
	keys := make([]string, len(counters))
	windows := make([]any, len(counters))
	for i, c := range counters {
		keys[i], windows[i] = c.key, c.rule.Window.Milliseconds()
	}
	res, err := countAttempt.Run(ctx, s.rdb, keys, windows...).Int64Slice()
	if err != nil || len(res) != 2*len(counters) {
		s.counterOutage(err)
		return 0
	}
	var wait time.Duration
	for i, c := range counters {
		if res[2*i] > int64(c.rule.Max) {
			wait = max(wait, time.Duration(res[2*i+1])*time.Millisecond)
		}
	}
	return wait
}

// uncount takes one attempt back from each counter that still exists: a
// counter whose window ended meanwhile is not brought back without one.
var uncount = redis.NewScript(`
for _, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 then
    redis.call('DECR', key)
  end
end
return 0`)

// forgive takes back an attempt that succeeded: it no longer counts as a
// guess. The counters in reset are forgotten altogether, those in
// uncounted lose the one attempt.
func (s *Server) forgive(ctx context.Context, reset []string, uncounted ...string) {
	var err error
	if len(reset) > 0 {
		err = s.rdb.Del(ctx, reset...).Err()
	}
	if err == nil && len(uncounted) > 0 {
		err = uncount.Run(ctx, s.rdb, uncounted).Err()
	}
	if err != nil {
		s.counterOutage(err)
	}
}

func (s *Server) throttleKey(parts ...string) string {
	return s.cfg.RedisPrefix + "throttle:" + strings.Join(parts, ":")
}

// loginCounters are the counters a login attempt for user from addr spends.
func (s *Server) loginCounters(user, addr string) []counter {
	t := s.cfg.Throttle
	return []counter{
		{s.throttleKey("login", "pair", user, addr), t.LoginPerAccountAddress},
		{s.throttleKey("login", "account", user), t.LoginPerAccount},
		{s.throttleKey("login", "address", addr), t.LoginPerAddress},
	}
}

// loginSucceeded forgets the guesses of user from addr and takes the
// successful attempt back from the account's and the address's counters.
func (s *Server) loginSucceeded(ctx context.Context, user, addr string) {
	c := s.loginCounters(user, addr)
	s.forgive(ctx, []string{c[0].key}, c[1].key, c[2].key)
}

func (s *Server) registerCounter(addr string) counter {
	return counter{s.throttleKey("register", addr), s.cfg.Throttle.RegisterPerAddress}
}

func (s *Server) roomPasswordCounter(user, room string) counter {
	return counter{s.throttleKey("roompw", room, user), s.cfg.Throttle.RoomPassword}
}

// admitRoomPassword counts a join with a password of c's user for room and
// answers the frame with TOO_MANY_ATTEMPTS, reporting false, once the user
// has guessed too often: the validator hashes every guess in the room's
// worker, so a flood of them would stall the room. A join that succeeds
// resets the count.
func (c *conn) admitRoomPassword(ref, room string) bool {
	wait := c.s.attempt(c.ctx, c.s.roomPasswordCounter(c.sess.User, room))
	if wait > 0 {
		c.replyError(ref, tooManyAttempts(wait))
		return false
	}
	return true
}

// roomPasswordAccepted forgets the guesses of c's user for room.
func (c *conn) roomPasswordAccepted(room string) {
	c.s.forgive(c.ctx, []string{c.s.roomPasswordCounter(c.sess.User, room).key})
}

// tooManyAttempts is the refusal of a spent counter.
func tooManyAttempts(wait time.Duration) *events.Error {
	e := events.Errorf(codeTooManyAttempts, "too many attempts; try again in %d s", retryAfter(wait))
	e.RetryAfterMs = max(wait.Milliseconds(), 1)
	return e
}

// retryAfter is wait in whole seconds, rounded up, for a Retry-After header.
func retryAfter(wait time.Duration) int {
	return max(int(math.Ceil(wait.Seconds())), 1)
}

// refuse answers a throttled request: 429 TOO_MANY_ATTEMPTS or 503
// SERVER_BUSY, with Retry-After.
func refuse(w http.ResponseWriter, status int, e *events.Error) {
	w.Header().Set("Retry-After", strconv.Itoa(retryAfter(time.Duration(e.RetryAfterMs)*time.Millisecond)))
	writeError(w, status, e)
}

// errBusy is the refusal of a request that found no hashing slot.
var errBusy = &events.Error{Code: codeServerBusy, Message: "the server is busy; try again in a moment", RetryAfterMs: 1000}

// authGuard is a gateway's own part of the throttle.
type authGuard struct {
	slots    *hashSlots
	warnedAt atomic.Int64 // Unix ns of the last counter outage logged
}

// counterOutage logs, at most once a minute, that the throttle counters
// are not kept.
func (s *Server) counterOutage(err error) {
	now := time.Now().UnixNano()
	last := s.guard.warnedAt.Load()
	if now-last < int64(time.Minute) || !s.guard.warnedAt.CompareAndSwap(last, now) {
		return
	}
	s.log.Warn("throttle counters unavailable: logins, registrations and room passwords are not counted", "err", err)
}

// hashSlots is a semaphore bounding concurrent password hashing.
type hashSlots struct {
	ch   chan struct{}
	wait time.Duration
}

func newHashSlots(n int, wait time.Duration) *hashSlots {
	return &hashSlots{ch: make(chan struct{}, n), wait: wait}
}

// acquire takes a slot, waiting at most h.wait; it returns the function
// that gives the slot back, or errBusy.
func (h *hashSlots) acquire(ctx context.Context) (release func(), err error) {
	select {
	case h.ch <- struct{}{}:
		return func() { <-h.ch }, nil
	default:
	}
	t := time.NewTimer(h.wait)
	defer t.Stop()
	select {
	case h.ch <- struct{}{}:
		return func() { <-h.ch }, nil
	case <-t.C:
		return nil, errBusy
	case <-ctx.Done():
		return nil, errBusy
	}
}

// hashing runs fn, which hashes or verifies a password, in a hashing slot.
func (s *Server) hashing(ctx context.Context, fn func() error) error {
	release, err := s.guard.slots.acquire(ctx)
	if err != nil {
		return err
	}
	defer release()
	return fn()
}

// failThrottled answers err: a refusal of this file with its status and
// Retry-After, anything else as fail does.
func (s *Server) failThrottled(w http.ResponseWriter, err error) {
	var e *events.Error
	if errors.As(err, &e) {
		switch e.Code {
		case codeTooManyAttempts:
			refuse(w, http.StatusTooManyRequests, e)
			return
		case codeServerBusy:
			refuse(w, http.StatusServiceUnavailable, e)
			return
		}
	}
	s.fail(w, err)
}

// clientAddr is the address a request came from, as a throttle key: the
// peer's address, or, when the peer is a trusted proxy, the nearest address
// in X-Forwarded-For that is not a trusted proxy (read from the right: the
// left part is whatever the client sent). An IPv6 address counts by its /64,
// which one subscriber usually holds whole.
func clientAddr(r *http.Request, trusted []netip.Prefix) string {
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	addr := peer.Addr().Unmap()
	if isTrusted(addr, trusted) {
		hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
		for i := len(hops) - 1; i >= 0; i-- {
			hop, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
			if err != nil {
				break // a malformed hop: trust nothing left of it
			}
			addr = hop.Unmap()
			if !isTrusted(addr, trusted) {
				break
			}
		}
	}
	if addr.Is6() {
		p, _ := addr.Prefix(64)
		return p.String()
	}
	return addr.String()
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// ParseTrustedProxies reads a comma-separated list of addresses and CIDR
// prefixes (CHILLIN_TRUSTED_PROXIES).
func ParseTrustedProxies(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, item := range strings.Split(list, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if a, err := netip.ParseAddr(item); err == nil {
			a = a.Unmap()
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(item)
		if err != nil {
			return nil, fmt.Errorf("trusted proxy %q: want an address or a CIDR prefix", item)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}
