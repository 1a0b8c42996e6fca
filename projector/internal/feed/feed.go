package feed

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/chillin-chat/chillin/events"
	"github.com/chillin-chat/chillin/events/pinned"
	"github.com/chillin-chat/chillin/projector/internal/backoff"
)

// Item is one fact delivered to the view.
type Item struct {
	Seq  uint64        // stream sequence: the fact id on CHAT_EVT
	Fact events.Stored // the decoded fact, when Err is nil
	// Err is why the fact cannot be read: a poison fact. The feed sets it when
	// the envelope does not decode; Apply sets it when the payload does not.
	// Poison facts are logged with their seq and terminated, never retried.
	Err error

	msg jetstream.Msg
}

// Apply applies a batch in log order, all or nothing. An error leaves the
// whole batch unacked and it is offered again. Apply may set Err on items it
// skipped as unreadable.
type Apply func(ctx context.Context, items []Item) error

// Config is one view's feed.
type Config struct {
	View string
	// Stream is the stream the consumer reads; empty means CHAT_EVT.
	Stream   string
	Consumer jetstream.ConsumerConfig
	// Start, if not nil, says where a consumer made anew starts: the first
	// stream seq the view has not applied (its checkpoint + 1). Consumers
	// keep their state in memory (events.ProjectionConsumerConfig), so a
	// NATS restart loses them and the feed makes them again; it starts
	// them at the later of Start and the fact after the last it applied.
	Start         func(ctx context.Context) (uint64, error)
	BatchSize     int
	FlushInterval time.Duration
	// Eager flushes as soon as no further fact is waiting, instead of
	// waiting FlushInterval for the batch to fill: for views whose readers
	// wait on every fact (live fan-out), not for group commit.
	Eager   bool
	Logger  *slog.Logger
	Backoff backoff.Policy
	// Observer, if not nil, is told about every batch applied and every
	// failed attempt to apply one.
	Observer Observer
}

// Observer watches a feed, for metrics. Its methods are called from the
// feed's goroutine and must not block.
type Observer interface {
	// Applied is called once a batch is applied and acked, with its items
	// (poison ones carry Err).
	Applied(items []Item)
	// Failed is called for each failed attempt to apply a batch (not for an
	// attempt cut short by shutdown).
	Failed(err error)
}

const (
	// fetchWait bounds one pull request. It stays well under the consumer's
	// pinned TTL so the pinned instance renews its pin while idle, and it
	// bounds how long a shutdown waits for the open request to end.
	fetchWait = time.Second
	// fetchPause is how long a failed pull request is followed by no other.
	fetchPause = time.Second
	// progressEvery is how often a batch held across retries has its ack
	// timer reset, well under the consumer's AckWait.
	progressEvery = 10 * time.Second
	// unpinTimeout bounds the hand-over at shutdown.
	unpinTimeout = 2 * time.Second
)

type feed struct {
	js    jetstream.JetStream
	cfg   Config
	apply Apply
	log   *slog.Logger
	cons  jetstream.Consumer
	pin   pinned.Pin // the pin id this instance was last given
	next  uint64     // the stream seq after the last fact this instance applied
}

// Run feeds the view until ctx ends, then gives back what it holds, unpins
// and returns nil. It returns an error only for an invalid Config; NATS being
// away, or refusing the consumer, is logged and retried.
func Run(ctx context.Context, js jetstream.JetStream, cfg Config, apply Apply) error {
	if cfg.BatchSize <= 0 || cfg.FlushInterval <= 0 {
		return fmt.Errorf("feed %s: batch size and flush interval must be positive", cfg.View)
	}
	f := &feed{js: js, cfg: cfg, apply: apply, log: cfg.Logger}
	if err := f.ensure(ctx); err != nil {
		return nil // ctx ended before NATS answered
	}
	defer f.unpin(ctx)
	f.pull(ctx)
	return nil
}

func (f *feed) stream() string {
	if f.cfg.Stream == "" {
		return events.EvtStream
	}
	return f.cfg.Stream
}

// ensure creates or updates the consumer, retrying while NATS is away.
func (f *feed) ensure(ctx context.Context) error {
	return backoff.Retry(ctx, f.log, f.cfg.Backoff, "create consumer "+f.cfg.Consumer.Durable, func(ctx context.Context) error {
		cfg, err := f.consumerConfig(ctx)
		if err != nil {
			return err
		}
		c, err := f.js.CreateOrUpdateConsumer(ctx, f.stream(), cfg)
		if err != nil {
			return err
		}
		f.cons = c
		return nil
	}, nil)
}

// consumerConfig is the consumer to create or update. A consumer that
// exists keeps where it started (the server refuses to change it); one of
// an older release, whose state is on disk or which is acked fact by fact
// (neither can be changed in place), is deleted and made again at the
// view's own position. A consumer made anew starts where the view stands.
func (f *feed) consumerConfig(ctx context.Context) (jetstream.ConsumerConfig, error) {
	cfg := f.cfg.Consumer
	c, err := f.js.Consumer(ctx, f.stream(), cfg.Durable)
	switch {
	case err == nil && c.CachedInfo().Config.MemoryStorage == cfg.MemoryStorage && c.CachedInfo().Config.AckPolicy == cfg.AckPolicy:
		have := c.CachedInfo().Config
		cfg.DeliverPolicy, cfg.OptStartSeq = have.DeliverPolicy, have.OptStartSeq
		return cfg, nil
	case err == nil:
		f.log.Info("the consumer is of an older release: making it again at the view's position")
		if err := f.js.DeleteConsumer(ctx, f.stream(), cfg.Durable); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
			return cfg, err
		}
	case !errors.Is(err, jetstream.ErrConsumerNotFound):
		return cfg, err
	}
	start := f.next
	if f.cfg.Start != nil {
		seq, err := f.cfg.Start(ctx)
		if err != nil {
			return cfg, fmt.Errorf("the view's position: %w", err)
		}
		start = max(start, seq)
	}
	if start > 0 {
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, start
	}
	return cfg, nil
}

// pull feeds the view until ctx ends (pinned.Loop), then gives back what it
// holds. The next pull request is opened as soon as the open one has
// brought a whole batch, so that its facts arrive while that batch is
// applied. The last request is not cut short at shutdown but waited out
// (fetchWait at most): what the view did not apply is given back only once
// no request of this instance is open at the server, which would otherwise
// be handed it again, and a fact the server is sending right now is not
// left pending until AckWait.
func (f *feed) pull(ctx context.Context) {
	var held []Item
	pinned.Loop{
		Group: events.ProjectorGroup, Batch: f.cfg.BatchSize, Wait: fetchWait,
		Deliver: func(m jetstream.Msg) { held = append(held, f.decode(m)) },
		Ahead:   true,
		Flush: func() {
			if f.flush(ctx, held) {
				held = held[:0]
			}
		},
		FlushAfter: f.cfg.FlushInterval, FlushIdle: f.cfg.Eager,
		Unpinned: func() {
			if f.pin.Lost() {
				f.log.Info("unpinned: another instance applies the view")
			}
		},
		Recover:    f.recover,
		MinBackoff: fetchPause, MaxBackoff: fetchPause,
		Logger: f.log,
	}.Run(ctx, f.cons)
	// Given back for immediate redelivery, in the order it came.
	for _, it := range held {
		_ = it.msg.Nak()
	}
}

func (f *feed) decode(m jetstream.Msg) Item {
	if changed, prev := f.pin.Seen(m); changed && prev == "" {
		f.log.Info("pinned: this instance applies the view")
	}
	it := Item{msg: m}
	md, err := m.Metadata()
	if err != nil {
		it.Err = fmt.Errorf("fact metadata: %w", err)
		return it
	}
	it.Seq = md.Sequence.Stream
	fact, err := events.DecodeFact(m.Data())
	if err != nil {
		it.Err = err
		return it
	}
	it.Fact = events.Stored{ID: it.Seq, Fact: fact}
	return it
}

// flush applies a batch until it succeeds, then acks it: the consumer acks
// all, so an ack of its last fact answers for the batch. It reports false
// if ctx ended first; the batch is then still unacked.
func (f *feed) flush(ctx context.Context, items []Item) bool {
	lastProgress := time.Now()
	err := backoff.Retry(ctx, f.log, f.cfg.Backoff, "apply batch", func(ctx context.Context) error {
		err := f.apply(ctx, items)
		if err != nil && ctx.Err() == nil && f.cfg.Observer != nil {
			f.cfg.Observer.Failed(err)
		}
		return err
	}, func() {
		if time.Since(lastProgress) >= progressEvery {
			lastProgress = time.Now()
			for _, it := range items {
				_ = it.msg.InProgress()
			}
		}
	})
	if err != nil {
		return false
	}
	for _, it := range items {
		if it.Err != nil {
			f.log.Error("poison fact skipped", "seq", it.Seq, "subject", it.msg.Subject(), "err", it.Err)
		}
	}
	if n := len(items); n > 0 {
		_ = items[n-1].msg.Ack()
		f.next = max(f.next, items[n-1].Seq+1)
	}
	if f.cfg.Observer != nil {
		f.cfg.Observer.Applied(items)
	}
	return true
}

// recover makes the consumer again if it is gone (someone deleted it, for
// example to replay the view from the start, or NATS restarted without it),
// and asks again at once.
func (f *feed) recover(ctx context.Context, _ jetstream.Consumer, err error) (jetstream.Consumer, bool) {
	if pinned.Ended(err) == pinned.Gone {
		f.log.Warn("consumer gone, creating it again", "err", err)
		_ = f.ensure(ctx)
	}
	return f.cons, true
}

// unpin hands the view to a standby at once instead of after the pinned TTL,
// if this instance still holds the pin.
func (f *feed) unpin(ctx context.Context) {
	pin := f.pin.ID()
	if pin == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), unpinTimeout)
	defer cancel()
	s, err := f.js.Stream(ctx, f.stream())
	if err == nil {
		err = pinned.Unpin(ctx, s, f.cons, events.ProjectorGroup, pin)
	}
	if err != nil {
		f.log.Warn("unpin", "err", err)
	}
}
