// Package redistest gives tests a Redis client and a key prefix of their
// own on the machine's Redis (CHILLIN_TEST_REDIS_URL, else
// redis://127.0.0.1:6379/0). Every key under the prefix is deleted by
// t.Cleanup.
package redistest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// URL is the test Redis.
func URL() string {
	if u := os.Getenv("CHILLIN_TEST_REDIS_URL"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/0"
}

// Prefix returns a fresh key prefix, e.g. "tc3f9a01b2c4d:", whose keys are
// deleted when the test ends.
func Prefix(tb testing.TB) string {
	tb.Helper()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	prefix := "tc" + hex.EncodeToString(b) + ":"
	rdb := Client(tb)
	tb.Cleanup(func() { Flush(tb, rdb, prefix) })
	return prefix
}

// Client connects to the test Redis; the client is closed by t.Cleanup.
func Client(tb testing.TB) *redis.Client {
	tb.Helper()
	opts, err := redis.ParseURL(URL())
	if err != nil {
		tb.Fatalf("redistest: %v", err)
	}
	rdb := redis.NewClient(opts)
	tb.Cleanup(func() { _ = rdb.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		tb.Fatalf("redistest: redis %s: %v", URL(), err)
	}
	return rdb
}

// Flush deletes every key under prefix: what FLUSHALL does to one
// deployment, leaving the others on the same Redis alone.
func Flush(tb testing.TB, rdb *redis.Client, prefix string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var cursor uint64
	for {
		keys, next, err := rdb.Scan(ctx, cursor, prefix+"*", 1000).Result()
		if err != nil {
			tb.Errorf("redistest: scan %s: %v", prefix, err)
			return
		}
		if len(keys) > 0 {
			if err := rdb.Unlink(ctx, keys...).Err(); err != nil {
				tb.Errorf("redistest: unlink: %v", err)
				return
			}
		}
		if next == 0 {
			return
		}
		cursor = next
	}
}
