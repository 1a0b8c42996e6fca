package projector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"

	"github.com/chillin-chat/chillin/events"
	"github.com/chillin-chat/chillin/events/natsconn"
	"github.com/chillin-chat/chillin/events/opshttp"
	"github.com/chillin-chat/chillin/projector/internal/backoff"
	"github.com/chillin-chat/chillin/projector/internal/cacheview"
	"github.com/chillin-chat/chillin/projector/internal/live"
	"github.com/chillin-chat/chillin/projector/internal/pg"
)

// View names.
const (
	ViewPG    = pg.Name
	ViewLive  = live.Name
	ViewCache = cacheview.Name
)

// Defaults.
const (
	DefaultBatchSize     = 500
	DefaultFlushInterval = 5 * time.Millisecond
)

// Config configures Run.
type Config struct {
	NATSURL     string
	PostgresURL string // needed by the pg view
	RedisURL    string // needed by the live and cache views
	// RedisPrefix is put before every Redis key and channel, e.g. "chillin:".
	RedisPrefix string
	// Views to run: a subset of ViewPG, ViewLive and ViewCache.
	Views []string
	// CacheWindow is how many of a room's newest messages the cache view
	// keeps (default 100). It applies to generations created from now on;
	// `chillin-replay rebuild --view redis` rebuilds the cache with it.
	CacheWindow int
	// BatchSize is the most facts a view applies at once (default 500).
	BatchSize int
	// FlushInterval is how long a view waits for a batch to fill after its
	// first fact (default 5 ms).
	FlushInterval time.Duration
	// Streams tunes the streams created if absent (replicas, dedup window).
	Streams events.StreamOptions
	// HTTPAddr, if set, is where /health, /ready and /metrics are served
	// (the projector binary's default is 127.0.0.1:9102). HTTPListener, if
	// set, is used instead. With neither, nothing is served.
	HTTPAddr     string
	HTTPListener net.Listener
	// PprofAddr, if set, is where the Go runtime's profiles are served
	// (/debug/pprof/), apart from the other endpoints.
	PprofAddr string
	// Metrics receives this process's series (removed again when Run
	// returns) and is what /metrics serves. Nil: a registry of its own, with
	// the Go runtime and process series too.
	Metrics *prometheus.Registry
	Logger  *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.BatchSize <= 0 {
		c.BatchSize = DefaultBatchSize
	}
	if c.FlushInterval <= 0 {
		c.FlushInterval = DefaultFlushInterval
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Validate reports what is wrong with a configuration.
func (c Config) Validate() error {
	var errs []error
	if c.NATSURL == "" {
		errs = append(errs, errors.New("NATS URL is required"))
	}
	if len(c.Views) == 0 {
		errs = append(errs, errors.New("no views to run"))
	}
	seen := map[string]bool{}
	for _, v := range c.Views {
		switch {
		case v != ViewPG && v != ViewLive && v != ViewCache:
			errs = append(errs, fmt.Errorf("unknown view %q (want %s, %s or %s)", v, ViewPG, ViewLive, ViewCache))
		case seen[v]:
			errs = append(errs, fmt.Errorf("view %q named twice", v))
		}
		seen[v] = true
	}
	if seen[ViewPG] && c.PostgresURL == "" {
		errs = append(errs, errors.New("the pg view needs a Postgres URL"))
	}
	if seen[ViewLive] && c.RedisURL == "" {
		errs = append(errs, errors.New("the live view needs a Redis URL"))
	}
	if seen[ViewCache] && c.RedisURL == "" {
		errs = append(errs, errors.New("the cache view needs a Redis URL"))
	}
	if c.CacheWindow < 0 {
		errs = append(errs, fmt.Errorf("cache window %d: want a positive number of messages", c.CacheWindow))
	}
	return errors.Join(errs...)
}

// Run runs the configured views until ctx ends, then returns nil once each
// has stopped cleanly. It returns an error for a bad configuration. While a
// dependency (NATS, Postgres, Redis) is away the affected view waits and
// retries; nothing it has not applied is acked.
func Run(ctx context.Context, cfg Config) error {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("projector config: %w", err)
	}
	log := cfg.Logger.With("service", "projector")
	ops, err := opshttp.Open(opshttp.EndpointsConfig{Listener: cfg.HTTPListener, Addr: cfg.HTTPAddr, PprofAddr: cfg.PprofAddr, Registry: cfg.Metrics, Logger: log})
	if err != nil {
		return fmt.Errorf("projector: %w", err)
	}
	defer ops.Close()

	var (
		pool *pgxpool.Pool
		rdb  *redis.Client
	)
	if slices.Contains(cfg.Views, ViewPG) {
		pcfg, err := pgxpool.ParseConfig(cfg.PostgresURL)
		if err != nil {
			return fmt.Errorf("projector: postgres URL: %w", err)
		}
		pcfg.ConnConfig.ConnectTimeout = 5 * time.Second
		if pool, err = pgxpool.NewWithConfig(ctx, pcfg); err != nil {
			return fmt.Errorf("projector: postgres pool: %w", err)
		}
		defer pool.Close()
	}
	if slices.Contains(cfg.Views, ViewLive) || slices.Contains(cfg.Views, ViewCache) {
		ropt, err := redis.ParseURL(cfg.RedisURL)
		if err != nil {
			return fmt.Errorf("projector: redis URL: %w", err)
		}
		rdb = redis.NewClient(ropt)
		defer rdb.Close()
	}

	// ctx now also ends when the connection is closed for good.
	natsCtx, nc, err := natsconn.Connect(ctx, cfg.NATSURL, "chillin-projector", log)
	if err != nil {
		if ctx.Err() != nil {
			return nil // stopped before NATS answered
		}
		return fmt.Errorf("projector: %w", err)
	}
	ctx = natsCtx
	defer func() {
		// Acks and naks are fire-and-forget publishes: send them before closing.
		if nc.IsConnected() {
			_ = nc.FlushTimeout(2 * time.Second)
		}
		nc.Close()
	}()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("projector: jetstream: %w", err)
	}
	unregister := &opshttp.Registrations{Registry: ops.Registry}
	defer unregister.UnregisterAll()
	m, err := newMetrics(unregister.Register, js, cfg.Views)
	if err != nil {
		return fmt.Errorf("projector: metrics: %w", err)
	}
	observers := map[string]*viewObserver{}
	for _, view := range cfg.Views {
		observers[view] = m.observer(view)
	}
	probes := []opshttp.Probe{opshttp.NATS(nc)}
	if o := observers[ViewPG]; o != nil {
		probes = append(probes, o.probe(ViewPG))
	}
	if pool != nil {
		probes = append(probes, opshttp.Probe{Name: "postgres", Check: pool.Ping})
	}
	if rdb != nil {
		probes = append(probes, opshttp.Probe{Name: "redis", Check: func(ctx context.Context) error { return rdb.Ping(ctx).Err() }})
	}
	ops.Serve(probes)

	var pol backoff.Policy
	if err := backoff.Retry(ctx, log, pol, "ensure streams", func(ctx context.Context) error {
		return events.EnsureStreams(ctx, js, cfg.Streams)
	}, nil); err != nil {
		return natsconn.Lost(ctx) // stopped before NATS answered
	}

	g, gctx := errgroup.WithContext(ctx)
	for _, view := range cfg.Views {
		vlog := log.With("view", view)
		switch view {
		case ViewPG:
			g.Go(func() error {
				return pg.Run(gctx, pg.Config{Pool: pool, JS: js, BatchSize: cfg.BatchSize, FlushInterval: cfg.FlushInterval, Logger: vlog, Backoff: pol, Observer: observers[view]})
			})
		case ViewLive:
			g.Go(func() error {
				return live.Run(gctx, live.Config{Redis: rdb, Prefix: cfg.RedisPrefix, JS: js, BatchSize: cfg.BatchSize, FlushInterval: cfg.FlushInterval, Logger: vlog, Backoff: pol, Observer: observers[view]})
			})
		case ViewCache:
			g.Go(func() error {
				return cacheview.Run(gctx, cacheview.Config{Redis: rdb, Prefix: cfg.RedisPrefix, Window: cfg.CacheWindow, JS: js, BatchSize: cfg.BatchSize, FlushInterval: cfg.FlushInterval, Logger: vlog, Backoff: pol, Observer: observers[view]})
			})
		}
		vlog.Info("view started")
	}
	err = g.Wait()
	log.Info("projector stopped")
	if lost := natsconn.Lost(ctx); lost != nil {
		return fmt.Errorf("projector: %w", lost)
	}
	return err
}
