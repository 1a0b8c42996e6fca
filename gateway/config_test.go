package gateway

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/chillin-chat/chillin/events/objstore"
	"github.com/chillin-chat/chillin/events/ratelimit"
)

// Run refuses a Config it cannot serve, naming what is wrong; what is left
// out takes its documented default.
func TestConfigSetDefaults(t *testing.T) {
	valid := func() Config { return Config{NATSURL: "nats://x", PostgresURL: "postgres://x", RedisURL: "redis://x"} }
	for _, tc := range []struct {
		name string
		tune func(*Config)
		want string // in the error; "" for none
	}{
		{"the minimum", func(*Config) {}, ""},
		{"no NATS URL", func(c *Config) { c.NATSURL = "" }, "NATS URL is required"},
		{"no Postgres URL", func(c *Config) { c.PostgresURL = "" }, "Postgres URL is required"},
		{"no Redis URL", func(c *Config) { c.RedisURL = "" }, "Redis URL is required"},
		{"a session TTL under an hour", func(c *Config) { c.SessionTTL = 59 * time.Minute }, "session TTL"},
		{"a session TTL of an hour", func(c *Config) { c.SessionTTL = time.Hour }, ""},
		{"a max age under a second", func(c *Config) { c.SessionMaxAge = time.Millisecond }, "session max age"},
		{"a recheck under 10ms", func(c *Config) { c.SessionRecheck = time.Millisecond }, "recheck"},
		{"an upload expiry under a second", func(c *Config) { c.UploadExpiry = 500 * time.Millisecond }, "upload expiry"},
		{"an upload expiry past the record", func(c *Config) { c.UploadExpiry = 2 * time.Hour }, "upload expiry"},
		{"an upload expiry of an hour", func(c *Config) { c.UploadExpiry = time.Hour }, ""},
		{"a socket lease under a second", func(c *Config) { c.SocketLease = 999 * time.Millisecond }, "socket lease"},
		{"a socket lease of a second", func(c *Config) { c.SocketLease = time.Second }, ""},
		{"a rate rule admitting nothing", func(c *Config) {
			c.RateLimits = ratelimit.Rules{ratelimit.Typing: {Limit: 0, Window: time.Second}}
		}, "gateway: "},
		{"a throttle rule admitting nothing", func(c *Config) { c.Throttle.RoomPassword = Rule{Max: 0, Window: time.Minute} }, "throttle rule"},
		{"storage without keys", func(c *Config) { c.Storage = objstore.Config{Endpoint: "127.0.0.1:9000", Bucket: "b"} }, "access key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := valid()
			tc.tune(&c)
			err := c.setDefaults()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v; want one naming %q", err, tc.want)
			}
		})
	}

	// Every problem is named at once.
	var none Config
	err := none.setDefaults()
	for _, want := range []string{"NATS URL", "Postgres URL", "Redis URL"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("empty Config: %v; want %s named", err, want)
		}
	}

	c := valid()
	if err := c.setDefaults(); err != nil {
		t.Fatal(err)
	}
	if c.HTTPAddr != "127.0.0.1:8080" || c.SessionTTL != 24*time.Hour || c.SessionMaxAge != 30*24*time.Hour ||
		c.SessionRecheck != time.Minute || c.SendQueue != 512 || c.PingInterval != 30*time.Second || c.FrameRate != 50 ||
		c.FrameBurst != 100 || c.MaxSocketsPerUser != 20 || c.SocketLease != 90*time.Second || c.PresenceBeat != 10*time.Second || c.JoinTimeout != 10*time.Second ||
		c.UploadExpiry != 5*time.Minute || c.Logger == nil || c.RateLimits[ratelimit.RoomCreate] != (ratelimit.Rule{Limit: 10, Window: time.Hour}) {
		t.Errorf("defaults %+v", c)
	}
}

// Only real store failures are counted (chillin_gateway_*_errors_total).
func TestFailure(t *testing.T) {
	live := context.Background()
	gone, cancel := context.WithCancel(live)
	cancel()
	for _, tc := range []struct {
		name string
		ctx  context.Context
		err  error
		want bool
	}{
		{"no error", live, nil, false},
		{"a failure", live, errors.New("connection refused"), true},
		{"a wrapped failure", live, fmt.Errorf("read: %w", errors.New("i/o timeout")), true},
		{"a failure of a request gone", gone, errors.New("connection refused"), false},
		{"a cancellation", live, fmt.Errorf("read: %w", context.Canceled), false},
		{"no such key", live, redis.Nil, false},
		{"no such row", live, fmt.Errorf("read: %w", pgx.ErrNoRows), false},
		{"a script not cached yet", live, redis.ErrNoScript, false},
		{"another Redis refusal", live, redis.ErrCrossSlot, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := failure(tc.ctx, tc.err); got != tc.want {
				t.Fatalf("failure(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}
