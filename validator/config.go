package validator

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/chillin-chat/chillin/events"
	"github.com/chillin-chat/chillin/events/objstore"
	"github.com/chillin-chat/chillin/events/ratelimit"
	"github.com/chillin-chat/chillin/validator/internal/decide"
	"github.com/chillin-chat/chillin/validator/internal/sessions"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// Defaults of Config.
const (
	DefaultRateLimit    = 10
	DefaultRateWindow   = 10 * time.Second
	DefaultMaxTextRunes = decide.DefaultMaxTextRunes
	// DefaultWorkers is the default of Config.Workers. A worker decides one
	// command at a time and waits for its fact to be written, a group
	// commit of a few milliseconds when every write is synced: enough
	// workers that a busy room rarely shares one keep a slow room from
	// holding up others, and make the groups larger. An idle worker is a
	// parked goroutine.
	DefaultWorkers = 512
	// DefaultRoomCacheBytes is the default of Config.RoomCacheBytes.
	DefaultRoomCacheBytes = 100 << 20
	// DefaultRoomMessages is the default of Config.RoomMessages.
	DefaultRoomMessages = decide.DefaultMessageWindow
	// DefaultRoomDigests is the default of Config.RoomDigests.
	DefaultRoomDigests = decide.DefaultDigestWindow
	// DefaultSessions is the default of Config.Sessions.
	DefaultSessions = sessions.DefaultSize
)

const (
	// maxInFlight bounds, per partition, the commands this instance holds
	// without having settled them. It bounds what a stopping instance must
	// finish before it hands the partition over.
	maxInFlight = 256
	// queueLen bounds each worker's queue of commands awaiting a decision.
	queueLen = 512
	// pullWait is how long one pull request waits at the server. It must be
	// well below the consumers' pinned TTL (5 s): a pinned instance keeps its
	// pin only while it keeps asking for more. It also bounds how long a
	// stopping instance waits for its last request to end.
	pullWait = time.Second
	// pullBatch is how many commands one pull request asks for.
	pullBatch = 64
	// publishTimeout bounds one append and one read of the log.
	publishTimeout = 5 * time.Second
	// shutdownGrace is how long a stopping instance may take to settle the
	// commands it holds once it stopped pulling. With pullWait it stays below
	// the pinned TTL, so that no other instance takes a partition over while
	// its commands are being settled.
	shutdownGrace = 2 * time.Second
)

// Config configures Run.
type Config struct {
	// NATSURL is the NATS server (or comma-separated servers) to use.
	NATSURL string
	// RedisURL is the Redis shared by the instances for the rate limit. Empty
	// means each instance counts on its own.
	RedisURL string
	// RedisPrefix is prepended to every Redis key, e.g. "chillin:".
	RedisPrefix string
	// RateLimit messages per user are accepted in any sliding RateWindow.
	RateLimit  int
	RateWindow time.Duration
	// RateLimits are the limits of the other command kinds (edits, deletes,
	// reactions, joins and leaves), per user; a kind without a rule is not
	// limited. Nil means ratelimit.DefaultRules. Its message rule, if any,
	// is replaced by RateLimit per RateWindow.
	RateLimits ratelimit.Rules
	// MaxTextRunes bounds a message's length in code points.
	MaxTextRunes int
	// Workers is how many rooms are decided at once.
	Workers int
	// DeferredSync says the NATS servers acknowledge writes before they
	// sync them (CHILLIN_UNSAFE_DEFERRED_SYNC). Facts are then published one
	// by one: atomic batches only pay where every write is synced.
	DeferredSync bool
	// RoomCacheBytes bounds the room states this instance holds, all workers
	// together, in estimated bytes: the least recently used rooms are
	// evicted and read from the log again on their next command. Each
	// worker has its share, and keeps the room it is deciding even alone
	// over it: a worker holds at least one room (with RoomMessages, about
	// 1 MB at most).
	RoomCacheBytes int
	// RoomSnapshotBytes bounds CHAT_ROOMSTATE, the snapshots of evicted
	// room states that spare a reload most of the log (roomstates.go), in
	// the NATS servers' memory. 0 means DefaultRoomSnapshotBytes; < 0 keeps
	// no snapshots.
	RoomSnapshotBytes int
	// RoomMessages is how many of its most recent messages a room state
	// keeps, with their deletions and reactions; a command naming an older
	// one looks it up (PostgresURL's view, else the log).
	RoomMessages int
	// RoomDigests is how many idempotency digests (user, clientId) a room
	// state keeps, of its newest messages: a message.send with a clientId
	// not among them, in a room past RoomDigests messages, is checked
	// against its older messages in PostgresURL's view or, when that
	// cannot answer, in the log.
	RoomDigests int
	// PostgresURL, if set, is the database of the projector's pg view,
	// where a resend of a clientId older than a room's digests is looked
	// up (read only). Empty: the room's log is read instead, which is
	// slower.
	PostgresURL string
	// Sessions bounds the sessions the session directory holds; the least
	// recently used are evicted and read from the log again when named.
	Sessions int
	// Streams tunes the streams this instance ensures at start-up.
	Streams events.StreamOptions
	// Storage is the media storage holding attachments (CHILLIN_S3_*).
	// Without it, messages with attachments are refused. With it, RedisURL
	// is required: the gateway's upload records live there.
	Storage objstore.Config
	// HTTPAddr, if set, is where /health, /ready and /metrics are served
	// (the validator binary's default is 127.0.0.1:9101). HTTPListener, if
	// set, is used instead. With neither, nothing is served.
	HTTPAddr     string
	HTTPListener net.Listener
	// PprofAddr, if set, is where the Go runtime's profiles are served
	// (/debug/pprof/), apart from the other endpoints.
	PprofAddr string
	// Metrics receives this instance's series (removed again when Run
	// returns) and is what /metrics serves. Nil: a registry of its own, with
	// the Go runtime and process series too.
	Metrics *prometheus.Registry
	Logger  *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.RateLimit == 0 {
		c.RateLimit = DefaultRateLimit
	}
	if c.RateWindow == 0 {
		c.RateWindow = DefaultRateWindow
	}
	if c.RateLimits == nil {
		c.RateLimits = ratelimit.DefaultRules()
	}
	if c.MaxTextRunes == 0 {
		c.MaxTextRunes = DefaultMaxTextRunes
	}
	if c.Workers == 0 {
		c.Workers = DefaultWorkers
	}
	if c.RoomCacheBytes == 0 {
		c.RoomCacheBytes = DefaultRoomCacheBytes
	}
	if c.RoomMessages == 0 {
		c.RoomMessages = DefaultRoomMessages
	}
	if c.RoomDigests == 0 {
		c.RoomDigests = DefaultRoomDigests
	}
	if c.RoomSnapshotBytes == 0 {
		c.RoomSnapshotBytes = DefaultRoomSnapshotBytes
	}
	if c.Sessions == 0 {
		c.Sessions = DefaultSessions
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// rules are the limiter's rules: RateLimits with the message rule of
// RateLimit and RateWindow.
func (c Config) rules() ratelimit.Rules {
	rs := ratelimit.Rules{}
	for k, r := range c.RateLimits {
		rs[k] = r
	}
	rs[ratelimit.Message] = ratelimit.Rule{Limit: c.RateLimit, Window: c.RateWindow}
	return rs
}

func (c Config) validate() error {
	switch {
	case c.NATSURL == "":
		return errors.New("validator: no NATS URL")
	case c.RateLimit < 1:
		return fmt.Errorf("validator: rate limit %d must be at least 1", c.RateLimit)
	case c.RateWindow < time.Millisecond:
		return fmt.Errorf("validator: rate window %v must be at least 1ms", c.RateWindow)
	case c.RateLimits.Validate() != nil:
		return fmt.Errorf("validator: %w", c.RateLimits.Validate())
	case c.MaxTextRunes < 1:
		return fmt.Errorf("validator: max message length %d must be at least 1", c.MaxTextRunes)
	case c.Workers < 1:
		return fmt.Errorf("validator: workers %d must be at least 1", c.Workers)
	case c.RoomCacheBytes < 1:
		return fmt.Errorf("validator: room cache of %d bytes must be at least 1", c.RoomCacheBytes)
	case c.RoomMessages < 1:
		return fmt.Errorf("validator: %d messages kept per room must be at least 1", c.RoomMessages)
	case c.RoomDigests < 1:
		return fmt.Errorf("validator: %d digests kept per room must be at least 1", c.RoomDigests)
	case c.Sessions < 1:
		return fmt.Errorf("validator: %d sessions held must be at least 1", c.Sessions)
	case c.Storage.Enabled() && c.RedisURL == "":
		return errors.New("validator: media storage needs Redis, where the gateway keeps the upload records")
	}
	if c.PostgresURL != "" {
		if _, err := pgxpool.ParseConfig(c.PostgresURL); err != nil {
			return fmt.Errorf("validator: postgres URL: %w", err)
		}
	}
	if c.Storage.Enabled() {
		if err := c.Storage.Validate(); err != nil {
			return fmt.Errorf("validator: %w", err)
		}
	}
	return nil
}
