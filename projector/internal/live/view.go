package live

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"

	"github.com/chillin-chat/chillin/events"
	"github.com/chillin-chat/chillin/projector/internal/backoff"
	"github.com/chillin-chat/chillin/projector/internal/feed"
)

// Name is the view's name: its consumer is projector-live.
const Name = "live"

// Config is what the view needs.
type Config struct {
	Redis         *redis.Client
	Prefix        string // deployment key prefix of every channel
	JS            jetstream.JetStream
	BatchSize     int
	FlushInterval time.Duration
	Logger        *slog.Logger
	Backoff       backoff.Policy
	Observer      feed.Observer // metrics; may be nil
}

// RejectionsName names the view's second feed, of CHAT_REJ: its consumer
// is projector-live-rejections.
const RejectionsName = Name + "-rejections"

// Run publishes live facts until ctx ends, from two feeds: the log (room,
// session and read facts, and the refusals that validators from before CHAT_REJ
// still record there) and CHAT_REJ (refusals). Their consumers start at new
// facts the first time they are made: facts from before the view existed
// are history, which clients read from the log.
func Run(ctx context.Context, cfg Config) error {
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		return feed.Run(gctx, cfg.JS, cfg.feed(Name, events.EvtStream,
			events.AllRoomFacts, events.AllRejections, events.AllSessionFacts, events.AllReadFacts), NewView(cfg.Redis, cfg.Prefix, cfg.Logger).Apply)
	})
	g.Go(func() error {
		return feed.Run(gctx, cfg.JS, cfg.feed(RejectionsName, events.RejStream, events.AllRejSubjects),
			NewView(cfg.Redis, cfg.Prefix, cfg.Logger).Apply)
	})
	return g.Wait()
}

// feed is the feed of one of the view's consumers. Each has a View of its
// own: a View's redelivery mark is a sequence of one stream.
func (cfg Config) feed(name, stream string, filters ...string) feed.Config {
	return feed.Config{
		View:          name,
		Stream:        stream,
		Consumer:      events.ProjectionConsumerConfig(name, false, filters...),
		BatchSize:     cfg.BatchSize,
		FlushInterval: cfg.FlushInterval,
		Eager:         true,
		Logger:        cfg.Logger,
		Backoff:       cfg.Backoff,
		Observer:      cfg.Observer,
	}
}

// View publishes batches of facts to Redis.
type View struct {
	rdb    *redis.Client
	prefix string
	log    *slog.Logger
	// published is the highest stream sequence this view has published; a
	// fact at or below it is a redelivery and is not published again.
	published uint64
}

// NewView returns a View publishing with rdb under prefix.
func NewView(rdb *redis.Client, prefix string, log *slog.Logger) *View {
	return &View{rdb: rdb, prefix: prefix, log: log}
}

// Apply publishes a batch in stream order in one pipeline.
func (v *View) Apply(ctx context.Context, items []feed.Item) error {
	facts := make([]events.Stored, 0, len(items))
	var last uint64
	for _, it := range items {
		last = max(last, it.Seq)
		if it.Err == nil && it.Seq > v.published {
			facts = append(facts, it.Fact)
		}
	}
	slices.SortFunc(facts, func(a, b events.Stored) int {
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	pubs, skips := plan(v.prefix, facts)
	for _, s := range skips {
		for i := range items {
			if items[i].Seq == s.Seq {
				items[i].Err = fmt.Errorf("%s: %w", s.Type, s.Err)
			}
		}
	}
	if len(pubs) > 0 {
		pipe := v.rdb.Pipeline()
		for _, p := range pubs {
			pipe.Publish(ctx, p.Channel, p.Payload)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return fmt.Errorf("publish %d live messages: %w", len(pubs), err)
		}
	}
	v.published = max(v.published, last)
	return nil
}
