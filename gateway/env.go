package gateway

import (
	"flag"
	"time"

	"github.com/chillin-chat/chillin/events/envflag"
	"github.com/chillin-chat/chillin/events/ratelimit"
)

// Flags registers a gateway's settings on fs, each defaulting to its
// CHILLIN_* variable (envflag). After fs.Parse, the returned function checks
// them and builds the Config (without Logger and UI, which the caller sets).
func Flags(fs *flag.FlagSet, getenv func(string) string) func() (Config, error) {
	s := envflag.New(fs, getenv)
	var cfg Config
	s.HTTPAddr(&cfg.HTTPAddr, "127.0.0.1:8080", "HTTP listen address: the web app, the API, WebSockets, /health, /ready and /metrics")
	s.PprofAddr(&cfg.PprofAddr)
	s.NATSURL(&cfg.NATSURL)
	s.PostgresURL(&cfg.PostgresURL, "Postgres URL: accounts, sessions and the pg view read")
	s.RedisURL(&cfg.RedisURL, "Redis URL: presence, the message cache, rate limits, live fan-out")
	s.RedisPrefix(&cfg.RedisPrefix)
	s.Streams(&cfg.Streams)
	s.List(&cfg.AllowedOrigins, "allowed-origins", "CHILLIN_ALLOWED_ORIGINS", "", "comma-separated extra WebSocket origin host patterns")
	s.Bool(&cfg.SecureCookies, "secure-cookies", "CHILLIN_SECURE_COOKIES", false, "mark session cookies Secure: true or false")
	s.Duration(&cfg.SessionTTL, "session-ttl", "CHILLIN_SESSION_TTL", 24*time.Hour, 0, "sliding session lifetime")
	s.Duration(&cfg.SessionMaxAge, "session-max-age", "CHILLIN_SESSION_MAX_AGE", 720*time.Hour, time.Nanosecond, "absolute session lifetime")
	s.Func("trusted-proxies", "CHILLIN_TRUSTED_PROXIES", "", "comma-separated addresses or CIDR prefixes of proxies whose X-Forwarded-For is believed", func(v string) (err error) {
		cfg.TrustedProxies, err = ParseTrustedProxies(v)
		return err
	})
	s.Int(&cfg.Throttle.HashConcurrency, "hash-concurrency", "CHILLIN_HASH_CONCURRENCY", 0, 0, "password hashes computed at once; 0: twice the CPUs")
	cfg.Throttle.RegisterPerAddress = Rule{Window: time.Hour}
	s.Int(&cfg.Throttle.RegisterPerAddress.Max, "register-limit", "CHILLIN_REGISTER_LIMIT", 10, 1, "registrations from one client address per hour")
	s.Float(&cfg.FrameRate, "ws-frame-rate", "CHILLIN_WS_FRAME_RATE", 50, "frames per second one socket may send, sustained")
	s.Int(&cfg.FrameBurst, "ws-frame-burst", "CHILLIN_WS_FRAME_BURST", 100, 1, "frames one socket may send in a burst above the rate")
	s.Int(&cfg.MaxSocketsPerUser, "ws-max-sockets-per-user", "CHILLIN_WS_MAX_SOCKETS_PER_USER", 20, 1, "sockets one user may hold across the gateways; more are refused with 429")
	s.Int(&cfg.SendQueueBytes, "ws-send-queue-bytes", "CHILLIN_WS_SEND_QUEUE_BYTES", 1<<20, 1, "bytes waiting for one socket beyond which it is closed as too slow")
	s.Storage(&cfg.Storage, true, "disables uploads")
	s.Func("rate-limits", "CHILLIN_RATE_LIMITS", "", "per-user limits over the defaults ("+ratelimit.DefaultRules().String()+"), as kind=limit/window,...; the gateway applies typing, presence and room", func(v string) (err error) {
		cfg.RateLimits, err = ratelimit.ParseRules(ratelimit.DefaultRules(), v)
		return err
	})
	s.Duration(&cfg.UploadExpiry, "upload-expiry", "CHILLIN_UPLOAD_EXPIRY", 5*time.Minute, time.Nanosecond, "how long an upload form stays valid")
	return func() (Config, error) {
		return cfg, s.Check()
	}
}
