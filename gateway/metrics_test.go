package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"
)

// redisOptions are the test Redis's (CHILLIN_TEST_REDIS_URL).
func redisOptions(t *testing.T) *redis.Options {
	t.Helper()
	u := os.Getenv("CHILLIN_TEST_REDIS_URL")
	if u == "" {
		u = "redis://127.0.0.1:6379/0"
	}
	o, err := redis.ParseURL(u)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func TestStoreErrorCounters(t *testing.T) {
	m := newMetrics(nil)
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	ctx := context.Background()

	// A real client against a port nothing listens on: each failed command
	// counts once, however many dials it took.
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: 2})
	defer rdb.Close()
	rdb.AddHook(redisHook{m.rdErrors})
	if err := rdb.Ping(ctx).Err(); err == nil {
		t.Fatal("ping of nothing succeeded")
	}
	if n := testutil.ToFloat64(m.rdErrors); n != 1 {
		t.Fatalf("%v redis errors after one failed ping, want 1", n)
	}
	pipe := rdb.Pipeline()
	pipe.Get(ctx, "k")
	_, _ = pipe.Exec(ctx)
	if n := testutil.ToFloat64(m.rdErrors); n != 2 {
		t.Fatalf("%v redis errors after a failed pipeline, want 2", n)
	}

	hook := redisHook{m.rdErrors}.ProcessHook(func(ctx context.Context, cmd redis.Cmder) error { return redis.Nil })
	if err := hook(ctx, redis.NewStringCmd(ctx, "get", "k")); !errors.Is(err, redis.Nil) {
		t.Fatal(err)
	}
	if n := testutil.ToFloat64(m.rdErrors); n != 2 {
		t.Fatalf("a missing key counted as an error: %v", n)
	}

	// A real Redis: the connection handshake (which an older Redis may
	// partly refuse), a script not cached yet (go-redis then sends it
	// whole) and a missing key are no failures; a wrong type is.
	var nonce [8]byte
	_, _ = rand.Read(nonce[:])
	script := redis.NewScript(fmt.Sprintf("return %q", hex.EncodeToString(nonce[:])))
	live := redis.NewClient(redisOptions(t))
	defer live.Close()
	live.AddHook(redisHook{m.rdErrors})
	if err := script.Run(ctx, live, nil).Err(); err != nil {
		t.Fatal(err)
	}
	key := "chillin-test:" + hex.EncodeToString(nonce[:])
	if err := live.Get(ctx, key).Err(); !errors.Is(err, redis.Nil) {
		t.Fatal(err)
	}
	if n := testutil.ToFloat64(m.rdErrors); n != 2 {
		t.Fatalf("%v redis errors after a handshake, an uncached script and a missing key, want still 2", n)
	}
	if err := live.Set(ctx, key, "v", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	if err := live.LPush(ctx, key, "x").Err(); err == nil {
		t.Fatal("LPUSH onto a string succeeded")
	}
	if n := testutil.ToFloat64(m.rdErrors); n != 3 {
		t.Fatalf("%v redis errors after a wrong-type command, want 3", n)
	}

	tr := pgTracer{m.pgErrors}
	for _, tc := range []struct {
		name string
		ctx  context.Context
		err  error
		want float64
	}{
		{"success", ctx, nil, 0},
		{"no rows", ctx, pgx.ErrNoRows, 0},
		{"cancelled by the caller", cancelled, errors.New("canceling statement"), 0},
		{"failure", ctx, errors.New("connection refused"), 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := testutil.ToFloat64(m.pgErrors)
			tr.TraceQueryEnd(tc.ctx, nil, pgx.TraceQueryEndData{Err: tc.err})
			tr.TraceBatchEnd(tc.ctx, nil, pgx.TraceBatchEndData{Err: tc.err})
			tr.TraceConnectEnd(tc.ctx, pgx.TraceConnectEndData{Err: tc.err})
			if got := testutil.ToFloat64(m.pgErrors) - before; got != 3*tc.want {
				t.Fatalf("counted %v, want %v", got, 3*tc.want)
			}
		})
	}
}
