package gateway

import (
	"context"
	"errors"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chillin-chat/chillin/events"
	"github.com/chillin-chat/chillin/events/redistest"
	"github.com/redis/go-redis/v9"
)

func TestClientAddr(t *testing.T) {
	trusted, err := ParseTrustedProxies("10.0.0.0/8, 127.0.0.1, ::1")
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		remote string
		xff    []string
		want   string
	}{
		"direct peer":                       {remote: "203.0.113.7:5000", want: "203.0.113.7"},
		"header of an untrusted peer":       {remote: "203.0.113.7:5000", xff: []string{"198.51.100.1"}, want: "203.0.113.7"},
		"trusted proxy":                     {remote: "127.0.0.1:5000", xff: []string{"198.51.100.1"}, want: "198.51.100.1"},
		"client's own hops are not trusted": {remote: "127.0.0.1:5000", xff: []string{"1.2.3.4, 198.51.100.1"}, want: "198.51.100.1"},
		"a chain of trusted proxies":        {remote: "10.1.1.1:5000", xff: []string{"1.2.3.4, 198.51.100.1, 10.2.2.2"}, want: "198.51.100.1"},
		"several headers":                   {remote: "127.0.0.1:5000", xff: []string{"1.2.3.4", "198.51.100.1"}, want: "198.51.100.1"},
		"malformed hop stops the walk":      {remote: "127.0.0.1:5000", xff: []string{"1.2.3.4, junk"}, want: "127.0.0.1"},
		"trusted proxy without a header":    {remote: "127.0.0.1:5000", want: "127.0.0.1"},
		"ipv6 counts by its /64":            {remote: "[2001:db8:1:2:3:4:5:6]:5000", want: "2001:db8:1:2::/64"},
		"ipv6 client behind a proxy":        {remote: "[::1]:5000", xff: []string{"2001:db8::9"}, want: "2001:db8::/64"},
		"ipv4-mapped peer":                  {remote: "[::ffff:203.0.113.7]:5000", want: "203.0.113.7"},
	} {
		t.Run(name, func(t *testing.T) {
			r, _ := http.NewRequest("GET", "/", nil)
			r.RemoteAddr = tc.remote
			for _, h := range tc.xff {
				r.Header.Add("X-Forwarded-For", h)
			}
			if got := clientAddr(r, trusted); got != tc.want {
				t.Fatalf("clientAddr = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestParseTrustedProxies(t *testing.T) {
	got, err := ParseTrustedProxies(" 172.16.0.0/12 ,, 192.168.1.5 , fd00::/8")
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Prefix{netip.MustParsePrefix("172.16.0.0/12"), netip.MustParsePrefix("192.168.1.5/32"), netip.MustParsePrefix("fd00::/8")}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
	for _, bad := range []string{"nginx", "10.0.0.0/33", "1.2.3"} {
		if _, err := ParseTrustedProxies(bad); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

func TestHashSlotsBound(t *testing.T) {
	const slots = 2
	h := newHashSlots(slots, 20*time.Millisecond)
	var inside, peak, busy atomic.Int64
	var wg sync.WaitGroup
	for range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			release, err := h.acquire(context.Background())
			if err != nil {
				var e *events.Error
				if !errors.As(err, &e) || e.Code != codeServerBusy || e.RetryAfterMs <= 0 {
					t.Errorf("refusal %v", err)
				}
				busy.Add(1)
				return
			}
			n := inside.Add(1)
			for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
			}
			time.Sleep(100 * time.Millisecond)
			inside.Add(-1)
			release()
		}()
	}
	wg.Wait()
	if peak.Load() > slots {
		t.Fatalf("%d hashes at once, bound %d", peak.Load(), slots)
	}
	if busy.Load() == 0 {
		t.Fatal("nobody was refused though 12 wanted 2 slots held for 5x the wait")
	}
	// Slots given back are free again.
	for range slots {
		if _, err := h.acquire(context.Background()); err != nil {
			t.Fatalf("after release: %v", err)
		}
	}
}

func TestHashSlotsWaitForAFreeSlot(t *testing.T) {
	h := newHashSlots(1, time.Second)
	release, err := h.acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	time.AfterFunc(50*time.Millisecond, release)
	if _, err := h.acquire(context.Background()); err != nil {
		t.Fatalf("a slot freed within the wait: %v", err)
	}
}

func throttleServer(t *testing.T, rdb *redis.Client) *Server {
	cfg := Config{RedisPrefix: redistest.Prefix(t)}
	if err := cfg.Throttle.setDefaults(); err != nil {
		t.Fatal(err)
	}
	return &Server{cfg: cfg, rdb: rdb, log: slog.New(slog.DiscardHandler)}
}

func TestAttempt(t *testing.T) {
	ctx := context.Background()
	s := throttleServer(t, redistest.Client(t))
	pair := Rule{Max: 3, Window: time.Minute}
	wide := Rule{Max: 5, Window: 2 * time.Minute}
	cs := []counter{{s.throttleKey("t", "pair"), pair}, {s.throttleKey("t", "wide"), wide}}
	for i := 1; i <= 3; i++ {
		if wait := s.attempt(ctx, cs...); wait != 0 {
			t.Fatalf("attempt %d refused for %v", i, wait)
		}
	}
	wait := s.attempt(ctx, cs...)
	if wait <= 55*time.Second || wait > time.Minute {
		t.Fatalf("4th attempt: wait %v, want the pair's window left (about 1m)", wait)
	}
	// A success forgets the pair and takes itself back from the wider count.
	s.forgive(ctx, []string{cs[0].key}, cs[1].key)
	if wait := s.attempt(ctx, cs...); wait != 0 {
		t.Fatalf("after a success: refused for %v", wait)
	}
	// The wide counter holds 4 now: one more passes, the next is refused
	// with the wide window's time left.
	s.attempt(ctx, cs[1])
	if wait := s.attempt(ctx, cs[1]); wait <= time.Minute || wait > 2*time.Minute {
		t.Fatalf("wide counter spent: wait %v, want about 2m", wait)
	}
}

func TestAttemptWindowEnds(t *testing.T) {
	ctx := context.Background()
	s := throttleServer(t, redistest.Client(t))
	c := counter{s.throttleKey("t", "short"), Rule{Max: 1, Window: 100 * time.Millisecond}}
	s.attempt(ctx, c)
	if wait := s.attempt(ctx, c); wait == 0 {
		t.Fatal("2nd attempt within the window admitted")
	}
	time.Sleep(150 * time.Millisecond)
	if wait := s.attempt(ctx, c); wait != 0 {
		t.Fatalf("attempt after the window refused for %v", wait)
	}
}

// With Redis away the counters fail open: the hashing bound still holds.
func TestAttemptFailsOpenWithoutRedis(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 100 * time.Millisecond})
	t.Cleanup(func() { _ = rdb.Close() })
	s := throttleServer(t, rdb)
	c := counter{s.throttleKey("t", "x"), Rule{Max: 1, Window: time.Minute}}
	for range 3 {
		if wait := s.attempt(context.Background(), c); wait != 0 {
			t.Fatalf("refused for %v with Redis away", wait)
		}
	}
}

func TestThrottleDefaults(t *testing.T) {
	var th Throttle
	if err := th.setDefaults(); err != nil {
		t.Fatal(err)
	}
	if th.LoginPerAccountAddress != (Rule{5, 15 * time.Minute}) || th.LoginPerAccount.Max != 50 || th.LoginPerAddress.Max != 30 ||
		th.RegisterPerAddress != (Rule{10, time.Hour}) || th.RoomPassword.Max != 5 || th.HashConcurrency < 2 || th.HashWait != 2*time.Second {
		t.Fatalf("defaults %+v", th)
	}
	bad := Throttle{LoginPerAccount: Rule{Max: 0, Window: time.Minute}}
	if err := bad.setDefaults(); err == nil {
		t.Fatal("a rule admitting nothing was accepted")
	}
}

func TestRetryAfter(t *testing.T) {
	for wait, want := range map[time.Duration]int{0: 1, time.Millisecond: 1, time.Second: 1, 1001 * time.Millisecond: 2, 14*time.Minute + 59*time.Second + time.Millisecond: 900} {
		if got := retryAfter(wait); got != want {
			t.Errorf("retryAfter(%v) = %d, want %d", wait, got, want)
		}
	}
}

func TestFlagsAuthSettings(t *testing.T) {
	parse := func(env map[string]string) (Config, error) {
		fs := flag.NewFlagSet("gateway", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		build := Flags(fs, func(k string) string { return env[k] })
		if err := fs.Parse(nil); err != nil {
			t.Fatal(err)
		}
		return build()
	}
	cfg, err := parse(nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.SessionMaxAge != 30*24*time.Hour || cfg.TrustedProxies != nil || cfg.Throttle.HashConcurrency != 0 || cfg.Throttle.RegisterPerAddress != (Rule{10, time.Hour}) {
		t.Fatalf("defaults: max age %v, proxies %v, hash concurrency %d", cfg.SessionMaxAge, cfg.TrustedProxies, cfg.Throttle.HashConcurrency)
	}
	cfg, err = parse(map[string]string{"CHILLIN_SESSION_MAX_AGE": "168h", "CHILLIN_TRUSTED_PROXIES": "10.0.0.0/8,127.0.0.1", "CHILLIN_HASH_CONCURRENCY": "3", "CHILLIN_REGISTER_LIMIT": "500"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.SessionMaxAge != 168*time.Hour || len(cfg.TrustedProxies) != 2 || cfg.Throttle.HashConcurrency != 3 || cfg.Throttle.RegisterPerAddress.Max != 500 {
		t.Fatalf("from env: max age %v, proxies %v, hash concurrency %d", cfg.SessionMaxAge, cfg.TrustedProxies, cfg.Throttle.HashConcurrency)
	}
	for key, bad := range map[string]string{"CHILLIN_SESSION_MAX_AGE": "forever", "CHILLIN_TRUSTED_PROXIES": "nginx", "CHILLIN_HASH_CONCURRENCY": "-1", "CHILLIN_REGISTER_LIMIT": "0"} {
		if _, err := parse(map[string]string{key: bad}); err == nil {
			t.Errorf("%s=%s accepted", key, bad)
		}
	}
}

// Taking an attempt back from a counter whose window ended leaves no
// counter behind (one without expiry would hold forever).
func TestForgiveAfterTheWindow(t *testing.T) {
	ctx := context.Background()
	rdb := redistest.Client(t)
	s := throttleServer(t, rdb)
	c := counter{s.throttleKey("t", "gone"), Rule{Max: 5, Window: 50 * time.Millisecond}}
	s.attempt(ctx, c)
	time.Sleep(100 * time.Millisecond)
	s.forgive(ctx, nil, c.key)
	if n, err := rdb.Exists(ctx, c.key).Result(); err != nil || n != 0 {
		t.Fatalf("counter after its window and a forgiveness: exists=%d err=%v", n, err)
	}
}
