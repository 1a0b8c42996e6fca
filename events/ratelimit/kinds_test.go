package ratelimit

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/chillin-chat/chillin/events/redistest"
)

func newRulesLimiter(tb testing.TB, rules Rules) *Limiter {
	tb.Helper()
	l, err := New(Config{RedisURL: redistest.URL(), Prefix: redistest.Prefix(tb), Rules: rules})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { l.Close() })
	return l
}

// Every kind is limited by its own rule, in a window of its own, per user.
func TestRedisEveryKind(t *testing.T) {
	rules := DefaultRules()
	l := newRulesLimiter(t, rules)
	for _, k := range Kinds {
		t.Run(string(k), func(t *testing.T) {
			r := rules[k]
			for i := range r.Limit {
				if res := allowBatch(t, l, Check{"alice", k, fmt.Sprint(k, i)})[0]; !res.OK {
					t.Fatalf("%s %d of %d refused", k, i+1, r.Limit)
				}
			}
			res := allowBatch(t, l, Check{"alice", k, fmt.Sprint(k, "over")})[0]
			if res.OK || res.RetryAfter <= 0 || res.RetryAfter > r.Window {
				t.Fatalf("%s over the limit of %v: %+v", k, r, res)
			}
			if res := allowBatch(t, l, Check{"alice", k, fmt.Sprint(k, 0)})[0]; !res.OK {
				t.Fatalf("%s: a counted id refused on redelivery", k)
			}
			if res := allowBatch(t, l, Check{"bob", k, fmt.Sprint(k, "over")})[0]; !res.OK {
				t.Fatalf("%s: bob limited by alice", k)
			}
		})
	}
	// Each kind filled its own window: none spilled into another.
	if res := allowBatch(t, l, Check{"carol", Edit, "e"})[0]; !res.OK {
		t.Fatal("carol's first edit refused")
	}
}

// The same id of two kinds counts in each kind's window.
func TestRedisKindsDoNotShare(t *testing.T) {
	l := newRulesLimiter(t, Rules{Message: {1, time.Minute}, Edit: {1, time.Minute}})
	res := allowBatch(t, l, Check{"alice", Message, "x"}, Check{"alice", Edit, "y"}, Check{"alice", Edit, "z"})
	if !res[0].OK || !res[1].OK || res[2].OK {
		t.Fatalf("results %+v, want message and first edit admitted, second edit refused", res)
	}
}

// A kind without a rule is never limited, and never reaches Redis.
func TestUnlimitedKind(t *testing.T) {
	l := newRulesLimiter(t, Rules{Message: {1, time.Minute}})
	var trips atomic.Int64
	l.rdb.AddHook(tripCounter{&trips})
	for i := range 50 {
		if ok, _ := l.Allow(context.Background(), "alice", Typing, fmt.Sprint(i)); !ok {
			t.Fatal("typing refused without a rule for it")
		}
	}
	if n := trips.Load(); n != 0 {
		t.Fatalf("%d round trips for unlimited checks", n)
	}
}

// tripCounter counts the commands and pipelines sent to Redis.
type tripCounter struct{ n *atomic.Int64 }

func (tripCounter) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h tripCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmd)
	}
}
func (h tripCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmds)
	}
}

// A batch is one round trip, answered in order: checks of one user and
// kind see those before them, redeliveries inside the batch count once.
func TestRedisAllowBatch(t *testing.T) {
	l := newRulesLimiter(t, Rules{Message: {3, time.Minute}, Reaction: {2, time.Minute}})
	ctx := context.Background()
	// Warm the script cache so the batch below is exactly one trip.
	l.Allow(ctx, "warm", Message, "w")
	var trips atomic.Int64
	l.rdb.AddHook(tripCounter{&trips})
	checks := []Check{
		{"alice", Message, "m1"},
		{"alice", Reaction, "r1"},
		{"alice", Message, "m2"},
		{"alice", Message, "m1"}, // a redelivery in the same batch
		{"bob", Message, "m1"},
		{"alice", Reaction, "r2"},
		{"alice", Reaction, "r3"},
		{"alice", Message, "m3"},
		{"alice", Message, "m4"},
		{"alice", Typing, "t1"}, // no rule
	}
	want := []bool{true, true, true, true, true, true, false, true, false, true}
	res := l.AllowBatch(ctx, checks)
	if n := trips.Load(); n != 1 {
		t.Fatalf("%d round trips for a batch of %d, want 1", n, len(checks))
	}
	for i, r := range res {
		if r.OK != want[i] {
			t.Errorf("check %d %+v: ok %v, want %v", i, checks[i], r.OK, want[i])
		}
		if !r.OK && (r.RetryAfter <= 0 || r.RetryAfter > time.Minute) {
			t.Errorf("check %d refused with retryAfter %v", i, r.RetryAfter)
		}
	}
	if l.RedisErrors() != 0 {
		t.Fatalf("%d redis errors", l.RedisErrors())
	}
}

// A Redis that forgot the script (restart, SCRIPT FLUSH) is given it again
// and the batch still counts in Redis.
func TestRedisBatchAfterScriptFlush(t *testing.T) {
	l := newRulesLimiter(t, Rules{Message: {1, time.Minute}})
	ctx := context.Background()
	if err := l.rdb.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	res := allowBatch(t, l, Check{"alice", Message, "a"}, Check{"alice", Message, "b"})
	if !res[0].OK || res[1].OK {
		t.Fatalf("after a script flush: %+v", res)
	}
}

// With Redis away the batch is counted in process, per kind.
func TestBatchFallsBack(t *testing.T) {
	l, err := New(Config{RedisURL: "redis://127.0.0.1:1/0", Rules: Rules{Edit: {2, time.Minute}, Delete: {1, time.Minute}}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	res := l.AllowBatch(context.Background(), []Check{
		{"alice", Edit, "1"}, {"alice", Delete, "1"}, {"alice", Edit, "2"}, {"alice", Edit, "3"}, {"alice", Delete, "2"},
	})
	want := []bool{true, true, true, false, false}
	for i := range want {
		if res[i].OK != want[i] {
			t.Fatalf("fallback results %+v, want %v", res, want)
		}
	}
}

func TestParseRules(t *testing.T) {
	base := DefaultRules()
	for _, tc := range []struct {
		spec string
		want Rules // changes over base; nil: an error
	}{
		{"", Rules{}},
		{" edit=20/1m , room=5/1h ", Rules{Edit: {20, time.Minute}, RoomCreate: {5, time.Hour}}},
		{"typing=1/500ms", Rules{Typing: {1, 500 * time.Millisecond}}},
		{"edit=0/1m", nil},
		{"edit=5/0s", nil},
		{"poke=5/1m", nil},
		{"edit=5", nil},
		{"edit", nil},
		{"edit=x/1m", nil},
		{"edit=5/soon", nil},
	} {
		got, err := ParseRules(base, tc.spec)
		if tc.want == nil {
			if err == nil {
				t.Errorf("ParseRules(%q) accepted: %v", tc.spec, got)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseRules(%q): %v", tc.spec, err)
			continue
		}
		want := DefaultRules()
		for k, r := range tc.want {
			want[k] = r
		}
		if got.String() != want.String() {
			t.Errorf("ParseRules(%q) = %v, want %v", tc.spec, got, want)
		}
	}
	if base.String() != DefaultRules().String() {
		t.Fatal("ParseRules changed its base")
	}
	if back, err := ParseRules(Rules{}, base.String()); err != nil || back.String() != base.String() {
		t.Fatalf("rules do not survive String and ParseRules: %v, %v", back, err)
	}
}

func TestKindOf(t *testing.T) {
	for typ, want := range map[string]Kind{
		"message.send": Message, "message.edit": Edit, "message.delete": Delete,
		"reaction.add": Reaction, "reaction.remove": Reaction, "room.join": Membership, "room.leave": Membership,
		"nonsense": "",
	} {
		if got, ok := KindOf(typ); got != want || ok != (want != "") {
			t.Errorf("KindOf(%q) = %q, %v", typ, got, ok)
		}
	}
}

// BenchmarkRedisAllowBatch measures a batch of 64 admissions in one trip.
func BenchmarkRedisAllowBatch(b *testing.B) {
	l := newRulesLimiter(b, Rules{Message: {1 << 30, 10 * time.Second}, Edit: {1 << 30, 10 * time.Second}})
	ctx := context.Background()
	checks := make([]Check, 64)
	var n int
	for b.Loop() {
		for i := range checks {
			n++
			checks[i] = Check{User: fmt.Sprint("u", i%8), Kind: Kinds[i%2], ID: fmt.Sprint("id", n)}
		}
		for _, r := range l.AllowBatch(ctx, checks) {
			if !r.OK {
				b.Fatal("refused")
			}
		}
	}
	b.ReportMetric(float64(b.N*len(checks))/b.Elapsed().Seconds(), "checks/s")
}
