package events

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// MaxCommandSize bounds one command on CHAT_CMD (the stream's MaxMsgSize).
const MaxCommandSize = 16 << 10

// DefaultDedupWindow is the JetStream duplicate window of both streams.
const DefaultDedupWindow = 2 * time.Minute

// StreamOptions tune the streams for a deployment.
type StreamOptions struct {
	Replicas    int           // 1 for a single node, 3 in a cluster
	DedupWindow time.Duration // >= 2 min in production; tests may shrink it
}

func (o StreamOptions) withDefaults() StreamOptions {
	if o.Replicas == 0 {
		o.Replicas = 1
	}
	if o.DedupWindow == 0 {
		o.DedupWindow = DefaultDedupWindow
	}
	return o
}

// CmdMaxBytes bounds the commands awaiting a decision. Past it a gateway's
// append is refused (UNAVAILABLE: could not be queued) rather than growing
// the servers' memory.
const CmdMaxBytes = 256 << 20

// CmdStreamConfig is the work-queue stream of commands awaiting a decision.
// It is kept in memory: a command lost before its fact exists was never
// confirmed, and its client sends it again with the same clientId, so
// syncing it to disk would buy nothing (ADR 0012). A stream created on disk
// before keeps its storage: it cannot change once created.
func CmdStreamConfig(o StreamOptions) jetstream.StreamConfig {
	o = o.withDefaults()
	return jetstream.StreamConfig{
		Name:        CmdStream,
		Description: "Chillin commands awaiting the validator",
		Subjects:    []string{"chat.cmd.>"},
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     jetstream.MemoryStorage,
		MaxMsgSize:  MaxCommandSize,
		MaxBytes:    CmdMaxBytes,
		Discard:     jetstream.DiscardNew,
		Duplicates:  o.DedupWindow,
		Replicas:    o.Replicas,
	}
}

// EvtStreamConfig is the log: every fact, kept forever, never deleted. It
// takes atomic batches, so that the validator syncs many commands' facts to
// disk at once (docs/adr/0011-group-commit.md).
func EvtStreamConfig(o StreamOptions) jetstream.StreamConfig {
	o = o.withDefaults()
	return jetstream.StreamConfig{
		Name:        EvtStream,
		Description: "Chillin facts: the system of record",
		Subjects:    []string{"chat.evt.>"},
		Retention:   jetstream.LimitsPolicy,
		Storage:     jetstream.FileStorage,
		MaxMsgSize:  64 << 10,
		Duplicates:  o.DedupWindow,
		Replicas:    o.Replicas,
		DenyDelete:  true,
		DenyPurge:   true,
		AllowDirect: true,

		AllowAtomicPublish: true,
	}
}

// Retention of CHAT_REJ: a refusal is kept for a week at most, each user's
// newest refusals only, and the stream within a size, whichever ends first.
const (
	RejMaxAge            = 7 * 24 * time.Hour
	RejMaxMsgsPerSubject = 1000
	RejMaxBytes          = 1 << 30
)

// RejStreamConfig is the record of refusals: limits retention, the oldest
// discarded first (ADR 0009). Its duplicate window lets a retried refusal
// store nothing new.
func RejStreamConfig(o StreamOptions) jetstream.StreamConfig {
	o = o.withDefaults()
	return jetstream.StreamConfig{
		Name:              RejStream,
		Description:       "Chillin refused commands: kept 7 days, bounded per user",
		Subjects:          []string{AllRejSubjects},
		Retention:         jetstream.LimitsPolicy,
		Storage:           jetstream.FileStorage,
		MaxMsgSize:        64 << 10, // as CHAT_EVT's: a refusal echoes parts of a command of up to 16 KiB
		MaxAge:            RejMaxAge,
		MaxMsgsPerSubject: RejMaxMsgsPerSubject,
		MaxBytes:          RejMaxBytes,
		Discard:           jetstream.DiscardOld,
		Duplicates:        o.DedupWindow,
		Replicas:          o.Replicas,
		AllowDirect:       true,
	}
}

// EnsureStreams creates the streams, or updates them where their settings
// differ from the current config. It is safe to call from every instance of
// every service at start-up; a stream already as configured is left alone.
// A JetStream that is still starting, or too busy to answer, is waited for
// (UntilAnswered).
func EnsureStreams(ctx context.Context, js jetstream.JetStream, o StreamOptions) error {
	_, err := UntilAnswered(ctx, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, ensureStreams(ctx, js, o)
	})
	return err
}

// answerTimeout bounds one try of UntilAnswered.
const answerTimeout = 5 * time.Second

// UntilAnswered calls try until JetStream answers it, refusal or not: it
// tries again, backing off up to 2 s, while try's error says JetStream did
// not answer (NotAnswering: still starting, a stream or consumer just made
// on a cluster with no leader yet, a server too busy to answer within the
// API timeout), until ctx ends. Each try has its own deadline: a request
// lost with a server that went away is never answered, and must not hold
// the caller until ctx ends.
func UntilAnswered[T any](ctx context.Context, try func(context.Context) (T, error)) (T, error) {
	wait := 100 * time.Millisecond
	for {
		tctx, cancel := context.WithTimeout(ctx, answerTimeout)
		v, err := try(tctx)
		cancel()
		if err == nil || !NotAnswering(err) || ctx.Err() != nil {
			return v, err
		}
		select {
		case <-ctx.Done():
			return v, err
		case <-time.After(wait):
		}
		wait = min(2*wait, 2*time.Second)
	}
}

func ensureStreams(ctx context.Context, js jetstream.JetStream, o StreamOptions) error {
	for _, cfg := range []jetstream.StreamConfig{CmdStreamConfig(o), EvtStreamConfig(o), RejStreamConfig(o)} {
		st, err := js.Stream(ctx, cfg.Name)
		if err == nil {
			// The storage and persistence mode are chosen when a stream is
			// created and cannot change: a stream created before keeps its own.
			cfg.Storage = st.CachedInfo().Config.Storage
			cfg.PersistMode = st.CachedInfo().Config.PersistMode
			if sameStream(st.CachedInfo().Config, cfg) {
				continue
			}
		}
		if err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
			return fmt.Errorf("ensure stream %s: %w", cfg.Name, err)
		}
		if _, err := js.CreateOrUpdateStream(ctx, cfg); err != nil {
			return fmt.Errorf("ensure stream %s: %w", cfg.Name, err)
		}
	}
	return nil
}

// NotAnswering reports whether err says JetStream did not answer (yet),
// rather than refused: one still starting, or a stream just made on a
// cluster that has no leader yet.
func NotAnswering(err error) bool {
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrJetStreamNotEnabled)
}

// sameStream compares the settings this package chooses.
func sameStream(have, want jetstream.StreamConfig) bool {
	return slices.Equal(have.Subjects, want.Subjects) && have.Retention == want.Retention &&
		have.Storage == want.Storage && have.MaxMsgSize == want.MaxMsgSize &&
		have.Duplicates == want.Duplicates && have.Replicas == want.Replicas &&
		have.DenyDelete == want.DenyDelete && have.DenyPurge == want.DenyPurge &&
		have.AllowDirect == want.AllowDirect && have.Description == want.Description &&
		have.AllowAtomicPublish == want.AllowAtomicPublish && have.PersistMode == want.PersistMode &&
		have.MaxAge == want.MaxAge && unlimited(have.MaxMsgsPerSubject) == unlimited(want.MaxMsgsPerSubject) &&
		unlimited(have.MaxBytes) == unlimited(want.MaxBytes) && have.Discard == want.Discard
}

// unlimited maps the ways of saying "no limit" (0 in a config, -1 from the
// server) to one.
func unlimited(n int64) int64 {
	if n <= 0 {
		return -1
	}
	return n
}

// Durable consumer names and their priority groups.
const (
	ValidatorGroup = "validators"
	ProjectorGroup = "projectors"
)

// pinnedTTL is how long a pinned consumer waits for a silent instance before
// handing its partition to another.
const pinnedTTL = 5 * time.Second

// ValidatorConsumerName names the durable consumer of command partition p.
func ValidatorConsumerName(p int) string { return "validator-" + strconv.Itoa(p) }

// ValidatorConsumerConfig is the durable consumer of command partition p.
// Pinned: one validator instance at a time takes the partition, so commands
// of a room are decided in append order; another takes over if it dies.
func ValidatorConsumerConfig(p int) jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:        ValidatorConsumerName(p),
		Description:    "validator, command partition " + strconv.Itoa(p),
		FilterSubject:  PartitionFilter(p),
		AckPolicy:      jetstream.AckExplicitPolicy,
		AckWait:        30 * time.Second,
		MaxAckPending:  4096,
		DeliverPolicy:  jetstream.DeliverAllPolicy,
		PriorityPolicy: jetstream.PriorityPolicyPinned,
		PinnedTTL:      pinnedTTL,
		PriorityGroups: []string{ValidatorGroup},
	}
}

// ProjectionConsumerConfig is the consumer of one projection view (pg,
// redis, live). It is pinned to one instance at a time so the view is
// applied in log order; a standby instance takes over if it dies.
//
// Its state is kept in memory, not synced to disk: a view keeps its own
// checkpoint in its own store, so a consumer lost with a NATS restart is made
// again where the view stands (the projector's feed does it) and nothing is
// skipped. This spares the servers a synced write of its state up to ten
// times a second (ADR 0012). A new consumer starts at new facts unless the
// feed gives a start; fromStart starts it at the first fact instead.
//
// It acks all: a view applies its facts in stream order, a batch at a
// time, so one ack of a batch's last fact answers for the whole batch,
// where an ack of each would cost the server a message per fact and view.
func ProjectionConsumerConfig(view string, fromStart bool, filters ...string) jetstream.ConsumerConfig {
	deliver := jetstream.DeliverNewPolicy
	if fromStart {
		deliver = jetstream.DeliverAllPolicy
	}
	cfg := jetstream.ConsumerConfig{
		Durable:        "projector-" + view,
		Description:    "projection " + view,
		AckPolicy:      jetstream.AckAllPolicy,
		AckWait:        30 * time.Second,
		MaxAckPending:  20000,
		DeliverPolicy:  deliver,
		PriorityPolicy: jetstream.PriorityPolicyPinned,
		PinnedTTL:      pinnedTTL,
		PriorityGroups: []string{ProjectorGroup},
		MemoryStorage:  true,
	}
	if len(filters) == 1 {
		cfg.FilterSubject = filters[0]
	} else {
		cfg.FilterSubjects = filters
	}
	return cfg
}
