package cacheview

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
	"github.com/redis/go-redis/v9"

	"github.com/chillin-chat/chillin/events"
	"github.com/chillin-chat/chillin/projector/cachewriter"
	"github.com/chillin-chat/chillin/projector/internal/backoff"
	"github.com/chillin-chat/chillin/projector/internal/feed"
)

// Name is the view's name: its consumer is projector-cache.
const Name = "cache"

// allFacts is every subject of CHAT_EVT. The view changes the cache only for
// room facts, but takes every fact so that the stream seqs of a batch are
// contiguous and a hole in them means facts it was not handed.
const allFacts = "chat.evt.>"

// Defaults.
const (
	DefaultCheckEvery = 5 * time.Second
	leaseTTL          = 30 * time.Second
	// warnEvery is how often a lasting failure of the check is logged again.
	warnEvery = 30 * time.Second
)

// ErrRebuilding is Apply's answer while another projector process rebuilds
// the lost cache: the feed retries the batch.
var ErrRebuilding = errors.New("another projector is rebuilding the cache")

// Config is what the view needs.
type Config struct {
	Redis  *redis.Client
	Prefix string // deployment key prefix
	// Window is how many of a room's newest messages are cached
	// (cachelayout.DefaultWindow if 0).
	Window        int
	JS            jetstream.JetStream
	BatchSize     int
	FlushInterval time.Duration
	// CheckEvery is how often the view checks that the cache exists, to
	// rebuild it when Redis lost it while no fact arrives (default 5 s).
	CheckEvery time.Duration
	Logger     *slog.Logger
	Backoff    backoff.Policy
	Observer   feed.Observer // metrics; may be nil
}

// Run keeps the cache current until ctx ends.
func Run(ctx context.Context, cfg Config) error {
	if cfg.CheckEvery <= 0 {
		cfg.CheckEvery = DefaultCheckEvery
	}
	st := cachewriter.NewStore(cfg.Redis, cfg.Prefix, cfg.Window)
	v := NewView(st, cachewriter.Source{JS: cfg.JS, Log: cfg.Logger}, cfg.Logger, cfg.BatchSize)
	// The cache of another log is replaced before any fact is applied to it.
	if err := v.Check(ctx); err != nil && ctx.Err() == nil {
		cfg.Logger.Warn("cache check failed, retrying", "err", err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		v.checkLoop(ctx, cfg.CheckEvery)
	}()
	defer wg.Wait()
	return feed.Run(ctx, cfg.JS, feed.Config{
		View:     Name,
		Consumer: events.ProjectionConsumerConfig(Name, true, allFacts),
		Start: func(ctx context.Context) (uint64, error) {
			_, cp, ok, err := st.Current(ctx)
			if !ok {
				return 0, err // no cache yet: from the first fact
			}
			return cp + 1, err
		},
		BatchSize:     cfg.BatchSize,
		FlushInterval: cfg.FlushInterval,
		Logger:        cfg.Logger,
		Backoff:       cfg.Backoff,
		Observer:      cfg.Observer,
	}, v.Apply)
}

// View applies batches of facts to the current cache generation.
type View struct {
	mu     sync.Mutex
	store  *cachewriter.Store
	src    cachewriter.Source
	log    *slog.Logger
	holder string // this view's name in the lease
	// maxFill bounds how many missing facts one script applies.
	maxFill int
}

// NewView returns a View writing to st and reading missing facts from src.
func NewView(st *cachewriter.Store, src cachewriter.Source, log *slog.Logger, maxFill int) *View {
	return &View{store: st, src: src, log: log, holder: nuid.Next(), maxFill: max(maxFill, 1)}
}

// Apply applies a batch: each run of contiguous stream seqs in one script
// (or a few, for a long one), after reading from the log whatever lies
// between the current generation's checkpoint and the run.
func (v *View) Apply(ctx context.Context, items []feed.Item) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	sorted := make([]*feed.Item, 0, len(items))
	for i := range items {
		if items[i].Seq != 0 { // 0: no metadata, a poison fact the feed terminates
			sorted = append(sorted, &items[i])
		}
	}
	slices.SortFunc(sorted, func(a, b *feed.Item) int { return cmp.Compare(a.Seq, b.Seq) })
	sorted = slices.CompactFunc(sorted, func(a, b *feed.Item) bool { return a.Seq == b.Seq }) // delivered twice
	for i := 0; i < len(sorted); {
		j := i
		for j+1 < len(sorted) && sorted[j+1].Seq == sorted[j].Seq+1 {
			j++
		}
		var facts []events.Stored
		for _, it := range sorted[i : j+1] {
			if it.Err == nil {
				facts = append(facts, it.Fact)
			}
		}
		if err := v.applyRun(ctx, sorted[i].Seq, sorted[j].Seq, facts, items); err != nil {
			return err
		}
		i = j + 1
	}
	return nil
}

// applyRun applies the facts of from..to to the current generation.
func (v *View) applyRun(ctx context.Context, from, to uint64, facts []events.Stored, items []feed.Item) error {
	for ctx.Err() == nil {
		res, skips, err := v.store.Apply(ctx, 0, from, to, facts)
		if err != nil {
			return err
		}
		v.skipped(skips, items)
		switch res.Status {
		case cachewriter.Applied:
			return nil
		case cachewriter.Gap:
			if err := v.fill(ctx, res.Checkpoint+1, from-1); err != nil {
				return err
			}
		case cachewriter.Absent:
			if err := v.recover(ctx); err != nil {
				return err
			}
		}
	}
	return ctx.Err()
}

// fill applies the facts from..to, read from the log, to the current
// generation, at most maxFill per script. It returns early, without error,
// if the current generation changed under it (the caller then looks again).
func (v *View) fill(ctx context.Context, from, to uint64) error {
	v.log.Info("read facts missing before the batch from the log", "from", from, "to", to)
	for from <= to {
		facts, upto, err := v.src.Read(ctx, from, to, v.maxFill)
		if err != nil {
			return err
		}
		res, skips, err := v.store.Apply(ctx, 0, from, upto, facts)
		if err != nil {
			return err
		}
		v.skipped(skips, nil)
		if res.Status != cachewriter.Applied {
			return nil
		}
		from = max(upto, res.Checkpoint) + 1
	}
	return nil
}

// skipped marks skipped facts that came in the batch as poison, for the
// feed to log and terminate; skipped facts read from the log are logged here.
func (v *View) skipped(skips []cachewriter.Skip, items []feed.Item) {
outer:
	for _, s := range skips {
		err := fmt.Errorf("%s: %w", s.Type, s.Err)
		for i := range items {
			if items[i].Seq == s.Seq {
				items[i].Err = err
				continue outer
			}
		}
		v.log.Error("poison fact skipped", "seq", s.Seq, "err", err)
	}
}

// Check rebuilds the cache if there is no current generation (or it lost
// its checkpoint), unless another process is doing it, and replaces a
// current generation built from another log.
func (v *View) Check(ctx context.Context) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	gen, cp, ok, err := v.store.Current(ctx)
	if err != nil {
		return err
	}
	if ok {
		if other, err := v.otherLog(ctx, gen, cp); err != nil || !other {
			return err
		}
		if err := v.store.Retire(ctx, gen); err != nil {
			return err
		}
		if _, err := v.store.Drop(ctx, gen); err != nil {
			v.log.Warn("drop the cache generation of another log", "gen", gen, "err", err)
		}
	}
	if err := v.recover(ctx); err != nil && !errors.Is(err, ErrRebuilding) {
		return err
	}
	return nil
}

// otherLog reports whether generation gen, at checkpoint cp, was built
// from another log than CHAT_EVT's (the stream was created again). A
// generation that records no log (built before generations recorded it) is
// taken to be of this one, and records it from now on, unless its
// checkpoint lies beyond the log's last fact.
func (v *View) otherLog(ctx context.Context, gen, cp uint64) (bool, error) {
	id, last, err := v.src.LogID(ctx)
	if err != nil {
		return false, err
	}
	have, err := v.store.Log(ctx, gen)
	if err != nil {
		return false, err
	}
	switch {
	case have == id:
		return false, nil
	case have == "" && cp <= last:
		return false, v.store.SetLog(ctx, gen, id)
	}
	if have == "" {
		have = "unrecorded, past this log's end"
	}
	v.log.Warn("the cache holds the projection of another log: rebuilding it from this log",
		"gen", gen, "checkpoint", cp, "its_log", have, "log", id, "last", last)
	return true, nil
}

func (v *View) checkLoop(ctx context.Context, every time.Duration) {
	var warned time.Time
	t := time.NewTimer(0) // at once, then every period
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := v.Check(ctx); err != nil && ctx.Err() == nil && time.Since(warned) >= warnEvery {
			warned = time.Now()
			v.log.Warn("cache check failed, retrying", "err", err)
		}
		t.Reset(every)
	}
}

// recover builds a new generation from the first fact and makes it
// current, holding the lease so that one process does it.
func (v *View) recover(ctx context.Context) error {
	ok, err := v.store.Lease(ctx, v.holder, leaseTTL)
	if err != nil {
		return err
	}
	if !ok {
		return ErrRebuilding
	}
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := v.store.ReleaseLease(rctx, v.holder); err != nil {
			v.log.Warn("release the cache lease", "err", err)
		}
	}()
	// Another process may have rebuilt it before this one got the lease.
	if _, _, present, err := v.store.Current(ctx); err != nil || present {
		return err
	}
	v.log.Info("no current cache generation: rebuilding it from the log")
	rep, err := cachewriter.Rebuild{
		Store: v.store, Source: v.src, Log: v.log,
		Keep: func(ctx context.Context) error {
			held, err := v.store.RenewLease(ctx, v.holder, leaseTTL)
			if err == nil && !held {
				err = errors.New("lost the cache lease")
			}
			return err
		},
	}.Run(ctx)
	if err != nil {
		return fmt.Errorf("rebuild the cache: %w", err)
	}
	v.log.Info("cache rebuilt", "gen", rep.Gen, "checkpoint", rep.Checkpoint, "facts", rep.Facts, "took", rep.Took.Round(time.Millisecond))
	return nil
}
