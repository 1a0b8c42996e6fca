package gateway

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/chillin-chat/chillin/events"
	"github.com/chillin-chat/chillin/events/media"
	"github.com/chillin-chat/chillin/events/objstore"
	"github.com/chillin-chat/chillin/events/password"
	"github.com/chillin-chat/chillin/events/ratelimit"
)

// Config is everything a gateway needs. Run validates it.
type Config struct {
	// Listener serves HTTP; if nil, Run listens on HTTPAddr.
	Listener net.Listener
	HTTPAddr string
	// PprofAddr, if set, is where the Go runtime's profiles are served
	// (/debug/pprof/), apart from the other endpoints.
	PprofAddr string

	NATSURL     string
	PostgresURL string
	RedisURL    string
	RedisPrefix string // prefix of every Redis key and channel
	// Streams tunes the streams created if absent (replicas, dedup window).
	Streams events.StreamOptions

	// AllowedOrigins are extra browser origins (host patterns, as in
	// path.Match) allowed to open WebSockets; the request's own host always is.
	AllowedOrigins []string
	// SecureCookies marks the session cookie Secure (serve over HTTPS).
	SecureCookies bool
	// SessionTTL is the sliding lifetime of a session (default 24h).
	SessionTTL time.Duration
	// SessionMaxAge is the absolute lifetime of a session, however much it
	// is used (default 30 days).
	SessionMaxAge time.Duration
	// SessionRecheck is how often the sessions of open sockets are checked
	// against the session store (default 1m): a socket whose session was
	// revoked or expired is closed with 4001.
	SessionRecheck time.Duration
	// TrustedProxies are the peers whose X-Forwarded-For names the client's
	// address (CHILLIN_TRUSTED_PROXIES); from anyone else it is ignored.
	TrustedProxies []netip.Prefix
	// Throttle bounds login, registration and room password attempts and
	// concurrent password hashing (throttle.go).
	Throttle Throttle
	// Password is the argon2id cost for new hashes (default password.OWASP).
	Password password.Params

	// SendQueue bounds the frames queued for one socket (default 512), and
	// SendQueueBytes their bytes, those being written included (default
	// 1 MiB); a socket whose queue is full is closed as too slow (1008).
	SendQueue      int
	SendQueueBytes int
	// PingInterval is the WebSocket keepalive period (default 30s): a
	// socket silent for that long is pinged, and closed if its pong does
	// not come back within it.
	PingInterval time.Duration
	// FrameRate and FrameBurst bound the frames one socket may send: a
	// socket above FrameRate per second sustained, beyond a burst of
	// FrameBurst, is closed with 4008 (defaults 50 and 100).
	FrameRate  float64
	FrameBurst int
	// MaxSocketsPerUser bounds the sockets one user holds, on all the
	// gateways sharing RedisURL together (default 20); one more handshake
	// is refused with 429 TOO_MANY_SOCKETS (sockets.go).
	MaxSocketsPerUser int
	// SocketLease is how long the hold a socket takes on one of its user's
	// MaxSocketsPerUser slots lasts in Redis unless renewed (default 90s);
	// the gateway renews it every third of that while the socket lives, so
	// a gateway that dies frees its sockets' slots within SocketLease.
	SocketLease time.Duration
	// PresenceBeat is how often a gateway refreshes its sockets' presence
	// (default 10s); a gateway that dies leaves its users online for at most
	// two beats.
	PresenceBeat time.Duration
	// JoinTimeout bounds the wait for a validator's decision: room:join and
	// room:leave, and the REST commands (registration, sessions, avatar,
	// room creation) (default 10s).
	JoinTimeout time.Duration
	// CommandLifetime is how long a command may wait for its decision
	// (default events.CommandLifetime); AnswerGrace how long after that the
	// gateway answers for one no decision reached (default
	// events.AnswerGrace). See answers.go.
	CommandLifetime, AnswerGrace time.Duration
	// RateLimits are the per-user limits, shared through Redis, of what the
	// gateway itself admits: typing, presence and room creation (limits.go).
	// Nil means ratelimit.DefaultRules; a kind without a rule is not limited.
	RateLimits ratelimit.Rules

	// UI is the web app served at /, if any.
	UI fs.FS

	// Storage is the media storage for attachments and avatars
	// (CHILLIN_S3_*). Not enabled: uploads answer 503 STORAGE_UNAVAILABLE.
	Storage objstore.Config
	// UploadExpiry is how long an upload form stays valid (default 5m, at
	// most media.RecordTTL).
	UploadExpiry time.Duration

	// Metrics receives the gateway's series and is what /metrics serves
	// (the all-in-one shares one registry between its three services). Nil:
	// a registry of its own, with the Go runtime and process series too.
	Metrics *prometheus.Registry

	Logger *slog.Logger
}

func (c *Config) setDefaults() error {
	if c.Listener == nil && c.HTTPAddr == "" {
		c.HTTPAddr = "127.0.0.1:8080"
	}
	if c.SessionTTL == 0 {
		c.SessionTTL = 24 * time.Hour
	}
	if c.SessionMaxAge == 0 {
		c.SessionMaxAge = 30 * 24 * time.Hour
	}
	if c.SessionRecheck == 0 {
		c.SessionRecheck = time.Minute
	}
	if c.Password == (password.Params{}) {
		c.Password = password.OWASP
	}
	if c.SendQueue == 0 {
		c.SendQueue = 512
	}
	if c.SendQueueBytes == 0 {
		c.SendQueueBytes = 1 << 20
	}
	if c.PingInterval == 0 {
		c.PingInterval = 30 * time.Second
	}
	if c.FrameRate == 0 {
		c.FrameRate = 50
	}
	if c.FrameBurst == 0 {
		c.FrameBurst = 100
	}
	if c.MaxSocketsPerUser == 0 {
		c.MaxSocketsPerUser = 20
	}
	if c.SocketLease == 0 {
		c.SocketLease = 90 * time.Second
	}
	if c.PresenceBeat == 0 {
		c.PresenceBeat = 10 * time.Second
	}
	if c.JoinTimeout == 0 {
		c.JoinTimeout = 10 * time.Second
	}
	if c.CommandLifetime == 0 {
		c.CommandLifetime = events.CommandLifetime
	}
	if c.AnswerGrace == 0 {
		c.AnswerGrace = events.AnswerGrace
	}
	if c.UploadExpiry == 0 {
		c.UploadExpiry = 5 * time.Minute
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.RateLimits == nil {
		c.RateLimits = ratelimit.DefaultRules()
	}
	var errs []error
	if c.NATSURL == "" {
		errs = append(errs, errors.New("gateway: NATS URL is required"))
	}
	if c.PostgresURL == "" {
		errs = append(errs, errors.New("gateway: Postgres URL is required"))
	}
	if c.RedisURL == "" {
		errs = append(errs, errors.New("gateway: Redis URL is required"))
	}
	if err := c.RateLimits.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("gateway: %w", err))
	}
	if c.SessionTTL < time.Hour {
		errs = append(errs, errors.New("gateway: session TTL must be at least 1h"))
	}
	if c.SessionMaxAge < time.Second || c.SessionRecheck < 10*time.Millisecond {
		errs = append(errs, errors.New("gateway: session max age must be at least 1s, recheck at least 10ms"))
	}
	if c.SocketLease < time.Second {
		errs = append(errs, fmt.Errorf("gateway: socket lease %v must be at least 1s", c.SocketLease))
	}
	if err := c.Throttle.setDefaults(); err != nil {
		errs = append(errs, err)
	}
	if c.SendQueueBytes < 2*replyBudget {
		errs = append(errs, fmt.Errorf("gateway: send queue bytes %d must be at least %d, two replies", c.SendQueueBytes, 2*replyBudget))
	}
	if c.UploadExpiry < time.Second || c.UploadExpiry > media.RecordTTL {
		errs = append(errs, fmt.Errorf("gateway: upload expiry %v must be 1s to %v", c.UploadExpiry, media.RecordTTL))
	}
	if c.Storage.Enabled() {
		if err := c.Storage.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("gateway: %w", err))
		}
	}
	return errors.Join(errs...)
}
