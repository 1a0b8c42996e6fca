package gateway

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/chillin-chat/chillin/events/ratelimit"
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
	var origins, secure, ttl, maxAge, proxies, hashConc, registerLimit, replicas, frameRate, frameBurst, maxSockets, s3Secure, uploadExpiry, rateLimits string
	fs.StringVar(&cfg.HTTPAddr, "http", env("CHILLIN_HTTP_ADDR", "127.0.0.1:8080"), "HTTP listen address (CHILLIN_HTTP_ADDR)")
	fs.StringVar(&cfg.PprofAddr, "pprof", env("CHILLIN_PPROF_ADDR", ""), "serve the Go runtime's profiles (/debug/pprof/) on this address, e.g. 127.0.0.1:6060; empty serves none (CHILLIN_PPROF_ADDR)")
	fs.StringVar(&cfg.NATSURL, "nats", env("CHILLIN_NATS_URL", "nats://127.0.0.1:4222"), "NATS URL (CHILLIN_NATS_URL)")
	fs.StringVar(&cfg.PostgresURL, "postgres", env("CHILLIN_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/chillin?sslmode=disable"), "Postgres URL (CHILLIN_POSTGRES_URL)")
	fs.StringVar(&cfg.RedisURL, "redis", env("CHILLIN_REDIS_URL", "redis://127.0.0.1:6379/0"), "Redis URL (CHILLIN_REDIS_URL)")
	fs.StringVar(&cfg.RedisPrefix, "redis-prefix", env("CHILLIN_REDIS_PREFIX", "chillin:"), "prefix of Redis keys and channels (CHILLIN_REDIS_PREFIX)")
	fs.StringVar(&origins, "allowed-origins", env("CHILLIN_ALLOWED_ORIGINS", ""), "comma-separated extra WebSocket origin host patterns (CHILLIN_ALLOWED_ORIGINS)")
	fs.StringVar(&secure, "secure-cookies", env("CHILLIN_SECURE_COOKIES", "false"), "mark session cookies Secure: true or false (CHILLIN_SECURE_COOKIES)")
	fs.StringVar(&ttl, "session-ttl", env("CHILLIN_SESSION_TTL", "24h"), "sliding session lifetime (CHILLIN_SESSION_TTL)")
	fs.StringVar(&maxAge, "session-max-age", env("CHILLIN_SESSION_MAX_AGE", "720h"), "absolute session lifetime (CHILLIN_SESSION_MAX_AGE)")
	fs.StringVar(&proxies, "trusted-proxies", env("CHILLIN_TRUSTED_PROXIES", ""), "comma-separated addresses or CIDR prefixes of proxies whose X-Forwarded-For is believed (CHILLIN_TRUSTED_PROXIES)")
	fs.StringVar(&hashConc, "hash-concurrency", env("CHILLIN_HASH_CONCURRENCY", "0"), "password hashes computed at once; 0: twice the CPUs (CHILLIN_HASH_CONCURRENCY)")
	fs.StringVar(&registerLimit, "register-limit", env("CHILLIN_REGISTER_LIMIT", "10"), "registrations from one client address per hour (CHILLIN_REGISTER_LIMIT)")
	fs.StringVar(&replicas, "stream-replicas", env("CHILLIN_STREAM_REPLICAS", "1"), "replicas of the streams ensured at start-up: 1 on one node, 3 in a cluster (CHILLIN_STREAM_REPLICAS)")
	fs.StringVar(&frameRate, "ws-frame-rate", env("CHILLIN_WS_FRAME_RATE", "50"), "frames per second one socket may send, sustained (CHILLIN_WS_FRAME_RATE)")
	fs.StringVar(&frameBurst, "ws-frame-burst", env("CHILLIN_WS_FRAME_BURST", "100"), "frames one socket may send in a burst above the rate (CHILLIN_WS_FRAME_BURST)")
	fs.StringVar(&maxSockets, "ws-max-sockets-per-user", env("CHILLIN_WS_MAX_SOCKETS_PER_USER", "20"), "sockets one user may hold on this gateway; more are refused with 429 (CHILLIN_WS_MAX_SOCKETS_PER_USER)")
	var sendQueueBytes string
	fs.StringVar(&sendQueueBytes, "ws-send-queue-bytes", env("CHILLIN_WS_SEND_QUEUE_BYTES", "1048576"), "bytes waiting for one socket beyond which it is closed as too slow (CHILLIN_WS_SEND_QUEUE_BYTES)")
	fs.StringVar(&cfg.Storage.Endpoint, "s3-endpoint", env("CHILLIN_S3_ENDPOINT", ""), "media storage (S3, MinIO) as host:port or URL; empty disables uploads (CHILLIN_S3_ENDPOINT)")
	fs.StringVar(&cfg.Storage.AccessKey, "s3-access-key", env("CHILLIN_S3_ACCESS_KEY", ""), "media storage access key (CHILLIN_S3_ACCESS_KEY)")
	fs.StringVar(&cfg.Storage.SecretKey, "s3-secret-key", env("CHILLIN_S3_SECRET_KEY", ""), "media storage secret key (CHILLIN_S3_SECRET_KEY)")
	fs.StringVar(&cfg.Storage.Bucket, "s3-bucket", env("CHILLIN_S3_BUCKET", "chillin"), "media storage bucket, created if absent (CHILLIN_S3_BUCKET)")
	fs.StringVar(&s3Secure, "s3-secure", env("CHILLIN_S3_SECURE", "false"), "talk HTTPS to a host:port media storage endpoint: true or false (CHILLIN_S3_SECURE)")
	fs.StringVar(&cfg.Storage.Region, "s3-region", env("CHILLIN_S3_REGION", ""), "media storage region (default us-east-1) (CHILLIN_S3_REGION)")
	fs.StringVar(&cfg.Storage.PublicURL, "s3-public-url", env("CHILLIN_S3_PUBLIC_URL", ""), "URL at which browsers reach the media storage, if not the endpoint (CHILLIN_S3_PUBLIC_URL)")
	fs.StringVar(&rateLimits, "rate-limits", env("CHILLIN_RATE_LIMITS", ""), "per-user limits over the defaults ("+ratelimit.DefaultRules().String()+"), as kind=limit/window,...; the gateway applies typing, presence and room (CHILLIN_RATE_LIMITS)")
	fs.StringVar(&uploadExpiry, "upload-expiry", env("CHILLIN_UPLOAD_EXPIRY", "5m"), "how long an upload form stays valid (CHILLIN_UPLOAD_EXPIRY)")
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
		if cfg.SessionMaxAge, err = time.ParseDuration(maxAge); err != nil || cfg.SessionMaxAge <= 0 {
			return cfg, fmt.Errorf("session-max-age %q: want a positive duration", maxAge)
		}
		if cfg.TrustedProxies, err = ParseTrustedProxies(proxies); err != nil {
			return cfg, err
		}
		if cfg.Throttle.HashConcurrency, err = strconv.Atoi(hashConc); err != nil || cfg.Throttle.HashConcurrency < 0 {
			return cfg, fmt.Errorf("hash-concurrency %q: want 0 or a positive integer", hashConc)
		}
		cfg.Throttle.RegisterPerAddress = Rule{Window: time.Hour}
		if cfg.Throttle.RegisterPerAddress.Max, err = strconv.Atoi(registerLimit); err != nil || cfg.Throttle.RegisterPerAddress.Max < 1 {
			return cfg, fmt.Errorf("register-limit %q: want a positive integer", registerLimit)
		}
		if cfg.Streams.Replicas, err = strconv.Atoi(replicas); err != nil || cfg.Streams.Replicas < 1 {
			return cfg, fmt.Errorf("stream-replicas %q: want a positive integer", replicas)
		}
		if cfg.FrameRate, err = strconv.ParseFloat(frameRate, 64); err != nil || !(cfg.FrameRate > 0) {
			return cfg, fmt.Errorf("ws-frame-rate %q: want a positive number", frameRate)
		}
		if cfg.FrameBurst, err = strconv.Atoi(frameBurst); err != nil || cfg.FrameBurst < 1 {
			return cfg, fmt.Errorf("ws-frame-burst %q: want a positive integer", frameBurst)
		}
		if cfg.MaxSocketsPerUser, err = strconv.Atoi(maxSockets); err != nil || cfg.MaxSocketsPerUser < 1 {
			return cfg, fmt.Errorf("ws-max-sockets-per-user %q: want a positive integer", maxSockets)
		}
		if cfg.SendQueueBytes, err = strconv.Atoi(sendQueueBytes); err != nil || cfg.SendQueueBytes < 1 {
			return cfg, fmt.Errorf("ws-send-queue-bytes %q: want a positive integer", sendQueueBytes)
		}
		switch s3Secure {
		case "true":
			cfg.Storage.Secure = true
		case "false":
		default:
			return cfg, fmt.Errorf("s3-secure %q: want true or false", s3Secure)
		}
		if cfg.UploadExpiry, err = time.ParseDuration(uploadExpiry); err != nil || cfg.UploadExpiry <= 0 {
			return cfg, fmt.Errorf("upload-expiry %q: want a positive duration", uploadExpiry)
		}
		if cfg.Storage.Enabled() {
			if err := cfg.Storage.Validate(); err != nil {
				return cfg, err
			}
		}
		if cfg.RateLimits, err = ratelimit.ParseRules(ratelimit.DefaultRules(), rateLimits); err != nil {
			return cfg, err
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
