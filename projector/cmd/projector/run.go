package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/chillin-chat/chillin/events/cachelayout"
	"github.com/chillin-chat/chillin/projector"
)

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := parseConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	cfg.Logger.Info("projector starting", "views", strings.Join(cfg.Views, ","), "batch", cfg.BatchSize, "flush", cfg.FlushInterval)
	return projector.Run(ctx, cfg)
}

// parseConfig reads the configuration from the environment (CHILLIN_*), then
// from flags, which override it.
func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (projector.Config, error) {
	env := func(key, def string) string {
		if v := getenv(key); v != "" {
			return v
		}
		return def
	}
	var (
		cfg       projector.Config
		views     string
		logFormat string
		batch     string
		flush     string
		replicas  string
		window    string
	)
	fs := flag.NewFlagSet("projector", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.NATSURL, "nats", env("CHILLIN_NATS_URL", "nats://127.0.0.1:4222"), "NATS URL (CHILLIN_NATS_URL)")
	fs.StringVar(&cfg.PostgresURL, "postgres", env("CHILLIN_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/chillin?sslmode=disable"), "Postgres URL, for the pg view (CHILLIN_POSTGRES_URL)")
	fs.StringVar(&cfg.RedisURL, "redis", env("CHILLIN_REDIS_URL", "redis://127.0.0.1:6379/0"), "Redis URL, for the live and cache views (CHILLIN_REDIS_URL)")
	fs.StringVar(&cfg.RedisPrefix, "redis-prefix", env("CHILLIN_REDIS_PREFIX", "chillin:"), "prefix of Redis keys and channels (CHILLIN_REDIS_PREFIX)")
	fs.StringVar(&views, "views", env("CHILLIN_PROJECTOR_VIEWS", "pg,live,cache"), "comma-separated views to run: pg, live, cache (CHILLIN_PROJECTOR_VIEWS)")
	fs.StringVar(&window, "cache-window", env("CHILLIN_CACHE_WINDOW", fmt.Sprint(cachelayout.DefaultWindow)), "newest messages per room the cache view keeps (CHILLIN_CACHE_WINDOW)")
	fs.StringVar(&batch, "batch-size", env("CHILLIN_PROJECTOR_BATCH_SIZE", fmt.Sprint(projector.DefaultBatchSize)), "most facts applied at once (CHILLIN_PROJECTOR_BATCH_SIZE)")
	fs.StringVar(&flush, "flush-interval", env("CHILLIN_PROJECTOR_FLUSH_INTERVAL", projector.DefaultFlushInterval.String()), "longest wait for a batch to fill (CHILLIN_PROJECTOR_FLUSH_INTERVAL)")
	fs.StringVar(&cfg.HTTPAddr, "http", env("CHILLIN_HTTP_ADDR", "127.0.0.1:9102"), "address serving /health, /ready and /metrics; empty serves nothing (CHILLIN_HTTP_ADDR)")
	fs.StringVar(&cfg.PprofAddr, "pprof", env("CHILLIN_PPROF_ADDR", ""), "serve the Go runtime's profiles (/debug/pprof/) on this address, e.g. 127.0.0.1:6060; empty serves none (CHILLIN_PPROF_ADDR)")
	fs.StringVar(&replicas, "stream-replicas", env("CHILLIN_STREAM_REPLICAS", "1"), "replicas of the streams ensured at start-up: 1 on one node, 3 in a cluster (CHILLIN_STREAM_REPLICAS)")
	fs.StringVar(&logFormat, "log-format", env("CHILLIN_LOG_FORMAT", "json"), "log format: json or text (CHILLIN_LOG_FORMAT)")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}

	for _, v := range strings.Split(views, ",") {
		if v = strings.TrimSpace(v); v != "" {
			cfg.Views = append(cfg.Views, v)
		}
	}
	if _, err := fmt.Sscan(batch, &cfg.BatchSize); err != nil || cfg.BatchSize < 1 {
		return cfg, fmt.Errorf("batch size %q: want a positive integer", batch)
	}
	d, err := time.ParseDuration(flush)
	if err != nil || d <= 0 {
		return cfg, fmt.Errorf("flush interval %q: want a positive duration such as 5ms", flush)
	}
	cfg.FlushInterval = d
	if _, err := fmt.Sscan(window, &cfg.CacheWindow); err != nil || cfg.CacheWindow < 1 {
		return cfg, fmt.Errorf("cache window %q: want a positive number of messages", window)
	}
	if _, err := fmt.Sscan(replicas, &cfg.Streams.Replicas); err != nil || cfg.Streams.Replicas < 1 {
		return cfg, fmt.Errorf("stream replicas %q: want a positive integer", replicas)
	}

	opts := &slog.HandlerOptions{Level: slog.LevelInfo}
	switch logFormat {
	case "json":
		cfg.Logger = slog.New(slog.NewJSONHandler(stderr, opts))
	case "text":
		cfg.Logger = slog.New(slog.NewTextHandler(stderr, opts))
	default:
		return cfg, fmt.Errorf("log format %q: want json or text", logFormat)
	}
	return cfg, cfg.Validate()
}
