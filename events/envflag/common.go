package envflag

import (
	"io"
	"log/slog"

	"github.com/chillin-chat/chillin/events"
	"github.com/chillin-chat/chillin/events/objstore"
)

// The settings every service shares, under one flag name and one variable
// in every command.

// NATSURL registers -nats (CHILLIN_NATS_URL): the NATS server(s), as a
// comma-separated list of URLs.
func (s *Set) NATSURL(p *string) {
	s.String(p, "nats", "CHILLIN_NATS_URL", "nats://127.0.0.1:4222", "NATS server URLs, comma-separated")
}

// RedisURL registers -redis (CHILLIN_REDIS_URL); usage says what the
// service uses Redis for.
func (s *Set) RedisURL(p *string, usage string) {
	s.String(p, "redis", "CHILLIN_REDIS_URL", "redis://127.0.0.1:6379/0", usage)
}

// RedisPrefix registers -redis-prefix (CHILLIN_REDIS_PREFIX).
func (s *Set) RedisPrefix(p *string) {
	s.String(p, "redis-prefix", "CHILLIN_REDIS_PREFIX", "chillin:", "prefix of every Redis key and channel")
}

// PostgresURL registers -postgres (CHILLIN_POSTGRES_URL).
func (s *Set) PostgresURL(p *string, usage string) {
	s.String(p, "postgres", "CHILLIN_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/chillin?sslmode=disable", usage)
}

// OptionalPostgresURL registers -postgres (CHILLIN_POSTGRES_URL) for a
// service that can do without Postgres: it defaults to empty, none.
func (s *Set) OptionalPostgresURL(p *string, usage string) {
	s.String(p, "postgres", "CHILLIN_POSTGRES_URL", "", usage)
}

// HTTPAddr registers -http (CHILLIN_HTTP_ADDR), defaulting to def; usage
// says what is served there.
func (s *Set) HTTPAddr(p *string, def, usage string) {
	s.String(p, "http", "CHILLIN_HTTP_ADDR", def, usage)
}

// PprofAddr registers -pprof (CHILLIN_PPROF_ADDR): where the Go runtime's
// profiles are served, apart from the other endpoints (opshttp.Start).
func (s *Set) PprofAddr(p *string) {
	s.String(p, "pprof", "CHILLIN_PPROF_ADDR", "", "serve the Go runtime's profiles (/debug/pprof/) on this address, e.g. 127.0.0.1:6060; empty serves none")
}

// Streams registers -stream-replicas (CHILLIN_STREAM_REPLICAS), the
// replicas of the streams a service ensures at start-up.
func (s *Set) Streams(p *events.StreamOptions) {
	s.Int(&p.Replicas, "stream-replicas", "CHILLIN_STREAM_REPLICAS", 1, 1, "replicas of the streams ensured at start-up: 1 on one node, 3 in a cluster")
}

// Storage registers the media storage settings, -s3-* (CHILLIN_S3_*), and
// checks a configured storage (objstore.Config.Validate). withPublic adds
// -s3-public-url, which only the gateway uses; without says what an
// unconfigured storage means for the service.
func (s *Set) Storage(p *objstore.Config, withPublic bool, without string) {
	s.String(&p.Endpoint, "s3-endpoint", "CHILLIN_S3_ENDPOINT", "", "media storage (S3, MinIO) as host:port or URL; empty "+without)
	s.String(&p.AccessKey, "s3-access-key", "CHILLIN_S3_ACCESS_KEY", "", "media storage access key")
	s.String(&p.SecretKey, "s3-secret-key", "CHILLIN_S3_SECRET_KEY", "", "media storage secret key")
	s.String(&p.Bucket, "s3-bucket", "CHILLIN_S3_BUCKET", "chillin", "media storage bucket, created if absent")
	s.Bool(&p.Secure, "s3-secure", "CHILLIN_S3_SECURE", false, "talk HTTPS to a host:port media storage endpoint: true or false")
	s.String(&p.Region, "s3-region", "CHILLIN_S3_REGION", "", "media storage region (default us-east-1)")
	if withPublic {
		s.String(&p.PublicURL, "s3-public-url", "CHILLIN_S3_PUBLIC_URL", "", "URL at which browsers reach the media storage, if not the endpoint")
	}
	s.check(func() error {
		if !p.Enabled() {
			return nil
		}
		return p.Validate()
	})
}

// Logger registers -log-format (CHILLIN_LOG_FORMAT, json or text, default
// format) and -log-level (CHILLIN_LOG_LEVEL, default info). After Check
// succeeded, the function returned gives the logger, writing to w.
func (s *Set) Logger(format string, w io.Writer) func() *slog.Logger {
	var f, l string
	var log *slog.Logger
	s.String(&f, "log-format", "CHILLIN_LOG_FORMAT", format, "log format: json or text")
	s.String(&l, "log-level", "CHILLIN_LOG_LEVEL", "info", "log level: debug, info, warn or error")
	s.check(func() (err error) {
		log, err = NewLogger(f, l, w)
		return err
	})
	return func() *slog.Logger { return log }
}
