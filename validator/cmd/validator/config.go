package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"time"

	"github.com/chillin-chat/chillin/events/ratelimit"
	"github.com/chillin-chat/chillin/validator"
)

// parseConfig reads the configuration from the environment (CHILLIN_*), then
// lets flags override it.
func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (validator.Config, error) {
	env := func(key, def string) string {
		if v := getenv(key); v != "" {
			return v
		}
		return def
	}
	var errs []error
	envInt := func(key string, def int) int {
		v := getenv(key)
		if v == "" {
			return def
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: not an integer", key, v))
		}
		return n
	}
	envDuration := func(key string, def time.Duration) time.Duration {
		v := getenv(key)
		if v == "" {
			return def
		}
		d, err := time.ParseDuration(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: not a duration", key, v))
		}
		return d
	}
	envBool := func(key string) bool {
		v := getenv(key)
		if v == "" {
			return false
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: not true or false", key, v))
		}
		return b
	}

	var cfg validator.Config
	fs := flag.NewFlagSet("validator", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.NATSURL, "nats-url", env("CHILLIN_NATS_URL", "nats://127.0.0.1:4222"), "NATS server URL (CHILLIN_NATS_URL)")
	fs.StringVar(&cfg.RedisURL, "redis-url", env("CHILLIN_REDIS_URL", "redis://127.0.0.1:6379/0"), "Redis URL for the shared rate limit; empty counts per instance (CHILLIN_REDIS_URL)")
	fs.StringVar(&cfg.RedisPrefix, "redis-prefix", env("CHILLIN_REDIS_PREFIX", "chillin:"), "prefix of every Redis key (CHILLIN_REDIS_PREFIX)")
	fs.IntVar(&cfg.RateLimit, "rate-limit", envInt("CHILLIN_RATE_LIMIT", validator.DefaultRateLimit), "accepted messages per user per window (CHILLIN_RATE_LIMIT)")
	fs.DurationVar(&cfg.RateWindow, "rate-window", envDuration("CHILLIN_RATE_WINDOW", validator.DefaultRateWindow), "sliding rate limit window (CHILLIN_RATE_WINDOW)")
	rateLimits := fs.String("rate-limits", env("CHILLIN_RATE_LIMITS", ""), "limits per user of the other command kinds over the defaults ("+ratelimit.DefaultRules().String()+"), as kind=limit/window,...; msg is set by -rate-limit and -rate-window (CHILLIN_RATE_LIMITS)")
	fs.IntVar(&cfg.MaxTextRunes, "max-message-runes", envInt("CHILLIN_MAX_MESSAGE_RUNES", validator.DefaultMaxTextRunes), "longest message in Unicode code points (CHILLIN_MAX_MESSAGE_RUNES)")
	fs.BoolVar(&cfg.DeferredSync, "unsafe-deferred-sync", envBool("CHILLIN_UNSAFE_DEFERRED_SYNC"), "the NATS servers acknowledge writes before syncing them (sync_interval not always): publish facts one by one, not in atomic batches (CHILLIN_UNSAFE_DEFERRED_SYNC)")
	fs.IntVar(&cfg.Workers, "workers", envInt("CHILLIN_VALIDATOR_WORKERS", validator.DefaultWorkers), "rooms decided at once (CHILLIN_VALIDATOR_WORKERS)")
	roomCacheMB := fs.Int("room-cache-mb", envInt("CHILLIN_VALIDATOR_ROOM_CACHE_MB", validator.DefaultRoomCacheBytes>>20), "room states held, all workers together, in estimated MiB; the least recently used are read from the log again when needed (CHILLIN_VALIDATOR_ROOM_CACHE_MB)")
	fs.IntVar(&cfg.RoomMessages, "room-messages", envInt("CHILLIN_VALIDATOR_ROOM_MESSAGES", validator.DefaultRoomMessages), "most recent messages a room state keeps; older ones are read from the log when a command names them (CHILLIN_VALIDATOR_ROOM_MESSAGES)")
	fs.IntVar(&cfg.Sessions, "sessions", envInt("CHILLIN_VALIDATOR_SESSIONS", validator.DefaultSessions), "sessions held in memory; the least recently used are read from the log again when needed (CHILLIN_VALIDATOR_SESSIONS)")
	fs.StringVar(&cfg.HTTPAddr, "http", env("CHILLIN_HTTP_ADDR", "127.0.0.1:9101"), "address serving /health, /ready and /metrics; empty serves nothing (CHILLIN_HTTP_ADDR)")
	fs.StringVar(&cfg.PprofAddr, "pprof", env("CHILLIN_PPROF_ADDR", ""), "serve the Go runtime's profiles (/debug/pprof/) on this address, e.g. 127.0.0.1:6060; empty serves none (CHILLIN_PPROF_ADDR)")
	fs.IntVar(&cfg.Streams.Replicas, "stream-replicas", envInt("CHILLIN_STREAM_REPLICAS", 1), "replicas of the streams ensured at start-up: 1 on one node, 3 in a cluster (CHILLIN_STREAM_REPLICAS)")
	fs.StringVar(&cfg.Storage.Endpoint, "s3-endpoint", env("CHILLIN_S3_ENDPOINT", ""), "media storage (S3, MinIO) as host:port or URL; empty refuses attachments (CHILLIN_S3_ENDPOINT)")
	fs.StringVar(&cfg.Storage.AccessKey, "s3-access-key", env("CHILLIN_S3_ACCESS_KEY", ""), "media storage access key (CHILLIN_S3_ACCESS_KEY)")
	fs.StringVar(&cfg.Storage.SecretKey, "s3-secret-key", env("CHILLIN_S3_SECRET_KEY", ""), "media storage secret key (CHILLIN_S3_SECRET_KEY)")
	fs.StringVar(&cfg.Storage.Bucket, "s3-bucket", env("CHILLIN_S3_BUCKET", "chillin"), "media storage bucket, created if absent (CHILLIN_S3_BUCKET)")
	fs.StringVar(&cfg.Storage.Region, "s3-region", env("CHILLIN_S3_REGION", ""), "media storage region (default us-east-1) (CHILLIN_S3_REGION)")
	s3Secure := fs.String("s3-secure", env("CHILLIN_S3_SECURE", "false"), "talk HTTPS to a host:port media storage endpoint: true or false (CHILLIN_S3_SECURE)")
	logFormat := fs.String("log-format", env("CHILLIN_LOG_FORMAT", "json"), "log format: json or text (CHILLIN_LOG_FORMAT)")
	logLevel := fs.String("log-level", env("CHILLIN_LOG_LEVEL", "info"), "log level: debug, info, warn or error (CHILLIN_LOG_LEVEL)")
	if len(errs) > 0 {
		return cfg, errs[0]
	}
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	switch *s3Secure {
	case "true":
		cfg.Storage.Secure = true
	case "false":
	default:
		return cfg, fmt.Errorf("s3-secure %q: want true or false", *s3Secure)
	}
	if cfg.Storage.Enabled() {
		if err := cfg.Storage.Validate(); err != nil {
			return cfg, err
		}
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return cfg, fmt.Errorf("log level %q: %w", *logLevel, err)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch *logFormat {
	case "json":
		cfg.Logger = slog.New(slog.NewJSONHandler(stderr, opts))
	case "text":
		cfg.Logger = slog.New(slog.NewTextHandler(stderr, opts))
	default:
		return cfg, fmt.Errorf("log format %q: want json or text", *logFormat)
	}
	rules, err := ratelimit.ParseRules(ratelimit.DefaultRules(), *rateLimits)
	if err != nil {
		return cfg, err
	}
	cfg.RateLimits = rules
	switch {
	case cfg.RateLimit < 1:
		return cfg, fmt.Errorf("rate limit %d: must be at least 1", cfg.RateLimit)
	case cfg.RateWindow < time.Millisecond:
		return cfg, fmt.Errorf("rate window %v: must be at least 1ms", cfg.RateWindow)
	case cfg.MaxTextRunes < 1:
		return cfg, fmt.Errorf("max message runes %d: must be at least 1", cfg.MaxTextRunes)
	case cfg.Workers < 1:
		return cfg, fmt.Errorf("workers %d: must be at least 1", cfg.Workers)
	case *roomCacheMB < 1:
		return cfg, fmt.Errorf("room cache %d MiB: must be at least 1", *roomCacheMB)
	case cfg.RoomMessages < 1:
		return cfg, fmt.Errorf("room messages %d: must be at least 1", cfg.RoomMessages)
	case cfg.Sessions < 1:
		return cfg, fmt.Errorf("sessions %d: must be at least 1", cfg.Sessions)
	case cfg.Streams.Replicas < 1:
		return cfg, fmt.Errorf("stream replicas %d: must be at least 1", cfg.Streams.Replicas)
	}
	cfg.RoomCacheBytes = *roomCacheMB << 20
	return cfg, nil
}
