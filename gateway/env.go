package gateway

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"
)

// Flags registers a gateway's settings on fs, each defaulting to its
// CHILLIN_* variable. After fs.Parse, the returned function builds the Config
// (without Logger and UI, which the caller sets).
func Flags(fs *flag.FlagSet, getenv func(string) string) func() (Config, error) {
	env := func(key, def string) string {
		if v := getenv(key); v != "" {
			return v
		}
		return def
	}
	var cfg Config
	var origins, secure, ttl, replicas, frameRate, frameBurst string
	fs.StringVar(&cfg.HTTPAddr, "http", env("CHILLIN_HTTP_ADDR", "127.0.0.1:8080"), "HTTP listen address (CHILLIN_HTTP_ADDR)")
	fs.StringVar(&cfg.NATSURL, "nats", env("CHILLIN_NATS_URL", "nats://127.0.0.1:4222"), "NATS URL (CHILLIN_NATS_URL)")
	fs.StringVar(&cfg.PostgresURL, "postgres", env("CHILLIN_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/chillin?sslmode=disable"), "Postgres URL (CHILLIN_POSTGRES_URL)")
	fs.StringVar(&cfg.RedisURL, "redis", env("CHILLIN_REDIS_URL", "redis://127.0.0.1:6379/0"), "Redis URL (CHILLIN_REDIS_URL)")
	fs.StringVar(&cfg.RedisPrefix, "redis-prefix", env("CHILLIN_REDIS_PREFIX", "chillin:"), "prefix of Redis keys and channels (CHILLIN_REDIS_PREFIX)")
	fs.StringVar(&origins, "allowed-origins", env("CHILLIN_ALLOWED_ORIGINS", ""), "comma-separated extra WebSocket origin host patterns (CHILLIN_ALLOWED_ORIGINS)")
	fs.StringVar(&secure, "secure-cookies", env("CHILLIN_SECURE_COOKIES", "false"), "mark session cookies Secure: true or false (CHILLIN_SECURE_COOKIES)")
	fs.StringVar(&ttl, "session-ttl", env("CHILLIN_SESSION_TTL", "24h"), "sliding session lifetime (CHILLIN_SESSION_TTL)")
	fs.StringVar(&replicas, "stream-replicas", env("CHILLIN_STREAM_REPLICAS", "1"), "replicas of the streams ensured at start-up: 1 on one node, 3 in a cluster (CHILLIN_STREAM_REPLICAS)")
	fs.StringVar(&frameRate, "ws-frame-rate", env("CHILLIN_WS_FRAME_RATE", "50"), "frames per second one socket may send, sustained (CHILLIN_WS_FRAME_RATE)")
	fs.StringVar(&frameBurst, "ws-frame-burst", env("CHILLIN_WS_FRAME_BURST", "100"), "frames one socket may send in a burst above the rate (CHILLIN_WS_FRAME_BURST)")
	return func() (Config, error) {
		for _, o := range strings.Split(origins, ",") {
			if o = strings.TrimSpace(o); o != "" {
				cfg.AllowedOrigins = append(cfg.AllowedOrigins, o)
			}
		}
		switch secure {
		case "true":
			cfg.SecureCookies = true
		case "false":
		default:
			return cfg, fmt.Errorf("secure-cookies %q: want true or false", secure)
		}
		d, err := time.ParseDuration(ttl)
		if err != nil {
			return cfg, fmt.Errorf("session-ttl: %w", err)
		}
		cfg.SessionTTL = d
		if cfg.Streams.Replicas, err = strconv.Atoi(replicas); err != nil || cfg.Streams.Replicas < 1 {
			return cfg, fmt.Errorf("stream-replicas %q: want a positive integer", replicas)
		}
		if cfg.FrameRate, err = strconv.ParseFloat(frameRate, 64); err != nil || !(cfg.FrameRate > 0) {
			return cfg, fmt.Errorf("ws-frame-rate %q: want a positive number", frameRate)
		}
		if cfg.FrameBurst, err = strconv.Atoi(frameBurst); err != nil || cfg.FrameBurst < 1 {
			return cfg, fmt.Errorf("ws-frame-burst %q: want a positive integer", frameBurst)
		}
		return cfg, nil
	}
}

// NewLogger returns a JSON (production) or text (development) logger.
func NewLogger(format string, w io.Writer) (*slog.Logger, error) {
	switch format {
	case "json":
		return slog.New(slog.NewJSONHandler(w, nil)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, nil)), nil
	}
	return nil, fmt.Errorf("log format %q: want json or text", format)
}
