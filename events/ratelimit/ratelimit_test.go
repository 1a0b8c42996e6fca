package ratelimit

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/chillin-chat/chillin/events/redistest"
)

func newLimiter(tb testing.TB, url, prefix string, limit int, window time.Duration, log *slog.Logger) *Limiter {
	tb.Helper()
	l, err := New(Config{RedisURL: url, Prefix: prefix, Rules: Rules{Message: {limit, window}}, Logger: log})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { l.Close() })
	return l
}

// allow is one message that must not fall back: the Redis tests check Redis.
func allow(tb testing.TB, l *Limiter, user, id string) (bool, time.Duration) {
	tb.Helper()
	r := allowBatch(tb, l, Check{User: user, Kind: Message, ID: id})[0]
	return r.OK, r.RetryAfter
}

// allowBatch is one batch that must not fall back.
func allowBatch(tb testing.TB, l *Limiter, checks ...Check) []Result {
	tb.Helper()
	out, err := allowRedis(l, checks...)
	if err != nil {
		tb.Fatalf("redis: %v", err)
	}
	return out
}

func allowRedis(l *Limiter, checks ...Check) ([]Result, error) {
	out := make([]Result, len(checks))
	limited := make([]int, len(checks))
	for i := range checks {
		limited[i] = i
	}
	return out, l.allowRedis(context.Background(), checks, limited, out)
}

func TestRedisWindow(t *testing.T) {
	prefix := redistest.Prefix(t)
	rdb := redistest.Client(t)
	l := newLimiter(t, redistest.URL(), prefix, 10, 10*time.Second, nil)
	for i := range 10 {
		if ok, _ := allow(t, l, "alice", fmt.Sprint("c", i)); !ok {
			t.Fatalf("message %d refused", i+1)
		}
	}
	ok, wait := allow(t, l, "alice", "c10")
	if ok {
		t.Fatal("the 11th message was admitted")
	}
	if wait <= 0 || wait > 10*time.Second {
		t.Fatalf("retryAfter %v, want within (0, 10s]", wait)
	}
	// A redelivered command already counted is admitted without counting.
	if ok, _ := allow(t, l, "alice", "c3"); !ok {
		t.Fatal("a counted command id was refused on redelivery")
	}
	// Another user has a window of their own.
	if ok, _ := allow(t, l, "bob", "c10"); !ok {
		t.Fatal("bob was limited by alice's messages")
	}
	n, err := rdb.ZCard(context.Background(), prefix+"rl:alice").Result()
	if err != nil || n != 10 {
		t.Fatalf("window holds %d entries (%v), want 10", n, err)
	}
	if ttl := rdb.PTTL(context.Background(), prefix+"rl:alice").Val(); ttl <= 0 || ttl > 10*time.Second {
		t.Fatalf("window key ttl %v", ttl)
	}
}

func TestRedisSameIDCountsOnce(t *testing.T) {
	l := newLimiter(t, redistest.URL(), redistest.Prefix(t), 3, time.Minute, nil)
	for range 20 {
		if ok, _ := allow(t, l, "alice", "same"); !ok {
			t.Fatal("a repeated command id was refused")
		}
	}
	for _, id := range []string{"b", "c"} {
		if ok, _ := allow(t, l, "alice", id); !ok {
			t.Fatalf("%s refused although only one message was counted", id)
		}
	}
	if ok, _ := allow(t, l, "alice", "d"); ok {
		t.Fatal("the 4th distinct command was admitted with a limit of 3")
	}
}

func TestRedisSharedAcrossLimiters(t *testing.T) {
	prefix := redistest.Prefix(t)
	a := newLimiter(t, redistest.URL(), prefix, 10, 10*time.Second, nil)
	b := newLimiter(t, redistest.URL(), prefix, 10, 10*time.Second, nil)
	for i := range 10 {
		l := a
		if i%2 == 1 {
			l = b
		}
		if ok, _ := allow(t, l, "alice", fmt.Sprint("m", i)); !ok {
			t.Fatalf("message %d refused", i+1)
		}
	}
	for name, l := range map[string]*Limiter{"a": a, "b": b} {
		if ok, _ := allow(t, l, "alice", "m10"); ok {
			t.Fatalf("limiter %s admitted an 11th message", name)
		}
	}
	// Each limiter admits redeliveries of what the other counted.
	if ok, _ := allow(t, a, "alice", "m1"); !ok {
		t.Fatal("a refused a command id counted by b")
	}
}

func TestRedisConcurrentCallersNeverExceed(t *testing.T) {
	prefix := redistest.Prefix(t)
	ls := []*Limiter{
		newLimiter(t, redistest.URL(), prefix, 10, time.Minute, nil),
		newLimiter(t, redistest.URL(), prefix, 10, time.Minute, nil),
	}
	var admitted atomic.Int64
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			res, err := allowRedis(ls[i%2], Check{User: "alice", Kind: Message, ID: fmt.Sprint("p", i)})
			if err != nil {
				t.Error(err)
			}
			if res[0].OK {
				admitted.Add(1)
			}
		})
	}
	wg.Wait()
	if n := admitted.Load(); n != 10 {
		t.Fatalf("%d of 50 concurrent messages admitted, want exactly 10", n)
	}
}

func TestRedisWindowSlides(t *testing.T) {
	const window = 400 * time.Millisecond
	l := newLimiter(t, redistest.URL(), redistest.Prefix(t), 2, window, nil)
	allow(t, l, "alice", "a")
	allow(t, l, "alice", "b")
	ok, wait := allow(t, l, "alice", "c")
	if ok || wait <= 0 || wait > window {
		t.Fatalf("third message: ok %v retryAfter %v", ok, wait)
	}
	time.Sleep(wait + 50*time.Millisecond)
	if ok, wait := allow(t, l, "alice", "c"); !ok {
		t.Fatalf("refused after waiting the given retryAfter (now %v)", wait)
	}
}

// countingHandler counts log records by level.
type countingHandler struct {
	warn, info atomic.Int64
}

func (h *countingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *countingHandler) Handle(_ context.Context, r slog.Record) error {
	switch r.Level {
	case slog.LevelWarn:
		h.warn.Add(1)
	case slog.LevelInfo:
		h.info.Add(1)
	}
	return nil
}
func (h *countingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *countingHandler) WithGroup(string) slog.Handler      { return h }

func TestRedisUnreachableFallsBack(t *testing.T) {
	h := &countingHandler{}
	// Nothing listens on port 1.
	l := newLimiter(t, "redis://127.0.0.1:1/0", "x:", 10, 10*time.Second, slog.New(h))
	ctx := context.Background()
	for i := range 10 {
		if ok, _ := l.Allow(ctx, "alice", Message, fmt.Sprint("c", i)); !ok {
			t.Fatalf("message %d refused while redis is down", i+1)
		}
	}
	ok, wait := l.Allow(ctx, "alice", Message, "c10")
	if ok || wait <= 0 || wait > 10*time.Second {
		t.Fatalf("11th message while redis is down: ok %v retryAfter %v", ok, wait)
	}
	if ok, _ := l.Allow(ctx, "alice", Message, "c4"); !ok {
		t.Fatal("fallback counted a redelivered command twice")
	}
	if n := h.warn.Load(); n != 1 {
		t.Fatalf("%d warnings about the outage, want exactly 1", n)
	}
	// Redis is tried once per retry interval, not once per message.
	if n := l.RedisErrors(); n != 1 {
		t.Fatalf("%d redis errors counted, want 1", n)
	}
	if err := l.Ping(ctx); err == nil {
		t.Fatal("ping of an unreachable redis succeeded")
	}
}

func TestRedisReturnsAfterOutage(t *testing.T) {
	h := &countingHandler{}
	l := newLimiter(t, redistest.URL(), redistest.Prefix(t), 10, 10*time.Second, slog.New(h))
	// Pretend the last call failed: the limiter is in fallback mode.
	l.down.Store(true)
	if ok, _ := l.Allow(context.Background(), "alice", Message, "x"); !ok {
		t.Fatal("refused")
	}
	if l.down.Load() || h.info.Load() != 1 {
		t.Fatalf("limiter did not return to redis: down %v, info logs %d", l.down.Load(), h.info.Load())
	}
	if n := l.RedisErrors(); n != 0 {
		t.Fatalf("%d redis errors counted against a redis that answers", n)
	}
	if err := l.Ping(context.Background()); err != nil {
		t.Fatalf("ping: %v", err)
	}
}

func TestLocalSlidingWindow(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := t0
	l := NewLocal(10, 10*time.Second, func() time.Time { return clock })
	for i := range 10 {
		clock = t0.Add(time.Duration(i) * time.Second)
		if ok, _ := l.Allow("alice", fmt.Sprint(i)); !ok {
			t.Fatalf("message %d refused", i)
		}
	}
	for _, tc := range []struct {
		at   time.Duration
		id   string
		ok   bool
		wait time.Duration
	}{
		{9500 * time.Millisecond, "x", false, 500 * time.Millisecond},
		{9500 * time.Millisecond, "3", true, 0}, // already counted
		{9999 * time.Millisecond, "x", false, time.Millisecond},
		{10 * time.Second, "x", true, 0}, // message 0 left the window
		{10 * time.Second, "y", false, time.Second},
		{11 * time.Second, "y", true, 0},
		{11 * time.Second, "0", false, time.Second}, // forgotten: a new message now
	} {
		clock = t0.Add(tc.at)
		ok, wait := l.Allow("alice", tc.id)
		if ok != tc.ok || wait != tc.wait {
			t.Fatalf("at %v id %s: ok %v wait %v, want %v %v", tc.at, tc.id, ok, wait, tc.ok, tc.wait)
		}
	}
	clock = t0.Add(time.Hour)
	l.mu.Lock()
	l.sweep(clock)
	n := len(l.users)
	l.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d idle users still held after their windows emptied", n)
	}
}

func TestNewRejectsNonsense(t *testing.T) {
	for _, cfg := range []Config{
		{Rules: Rules{Message: {0, time.Second}}},
		{Rules: Rules{Edit: {1, 0}}},
		{Rules: Rules{"poke": {1, time.Second}}},
		{Rules: Rules{Message: {1, time.Second}}, RedisURL: "http://x"},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
}

// BenchmarkRedisAllow measures one admission through the Redis script.
func BenchmarkRedisAllow(b *testing.B) {
	l := newLimiter(b, redistest.URL(), redistest.Prefix(b), 1<<30, 10*time.Second, nil)
	ctx := context.Background()
	var n atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if ok, _ := l.Allow(ctx, "alice", Message, fmt.Sprint("id", n.Add(1))); !ok {
				b.Error("refused")
			}
		}
	})
}

// pipelineCounter counts the pipelines a Redis client sends.
type pipelineCounter struct{ n atomic.Int64 }

func (*pipelineCounter) DialHook(next redis.DialHook) redis.DialHook          { return next }
func (*pipelineCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }
func (p *pipelineCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		p.n.Add(1)
		return next(ctx, cmds)
	}
}

// Concurrent Allow calls share round trips to Redis, and still count every
// check: a user's limit holds exactly across the batches.
func TestAllowCoalescesConcurrentCalls(t *testing.T) {
	l := newLimiter(t, redistest.URL(), redistest.Prefix(t), 40, time.Minute, nil)
	var trips pipelineCounter
	l.rdb.AddHook(&trips)
	const calls = 200
	var admitted atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range calls {
		wg.Go(func() {
			<-start
			if ok, _ := l.Allow(context.Background(), fmt.Sprint("u", i%5), Message, fmt.Sprint("c", i)); ok {
				admitted.Add(1)
			}
		})
	}
	close(start)
	wg.Wait()
	if n := admitted.Load(); n != calls {
		t.Fatalf("%d of %d admitted, want all: 40 per user, 5 users", n, calls)
	}
	if n := trips.n.Load(); n >= calls/2 {
		t.Fatalf("%d round trips for %d concurrent calls, want them shared", n, calls)
	}
	t.Logf("%d concurrent calls, %d round trips", calls, trips.n.Load())
	if ok, _ := l.Allow(context.Background(), "u0", Message, "one more"); ok {
		t.Fatal("a 41st message of u0 was admitted")
	}
	if l.RedisErrors() != 0 {
		t.Fatalf("%d redis errors", l.RedisErrors())
	}
}
