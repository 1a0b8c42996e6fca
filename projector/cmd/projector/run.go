package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"strings"

	"github.com/chillin-chat/chillin/events/cachelayout"
	"github.com/chillin-chat/chillin/events/envflag"
	"github.com/chillin-chat/chillin/events/natsconn"
	"github.com/chillin-chat/chillin/projector"
)

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := parseConfig(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	cfg.Logger.Info("projector starting", "views", strings.Join(cfg.Views, ","), "batch", cfg.BatchSize, "flush", cfg.FlushInterval)
	return natsconn.Serve(ctx, cfg.Logger, "projector", func(ctx context.Context) error { return projector.Run(ctx, cfg) })
}

// parseConfig reads the settings (envflag: CHILLIN_* variables, flags
// overriding them) and checks them.
func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (projector.Config, error) {
	var cfg projector.Config
	s := envflag.New(envflag.NewFlagSet("projector", stderr), getenv)
	s.NATSURL(&cfg.NATSURL)
	s.PostgresURL(&cfg.PostgresURL, "Postgres URL, for the pg view")
	s.RedisURL(&cfg.RedisURL, "Redis URL, for the live and cache views")
	s.RedisPrefix(&cfg.RedisPrefix)
	s.List(&cfg.Views, "views", "CHILLIN_PROJECTOR_VIEWS", "pg,live,cache", "comma-separated views to run: pg, live, cache")
	s.Int(&cfg.CacheWindow, "cache-window", "CHILLIN_CACHE_WINDOW", cachelayout.DefaultWindow, 1, "newest messages per room the cache view keeps")
	s.Int(&cfg.BatchSize, "batch-size", "CHILLIN_PROJECTOR_BATCH_SIZE", projector.DefaultBatchSize, 1, "most facts applied at once")
	s.Duration(&cfg.FlushInterval, "flush-interval", "CHILLIN_PROJECTOR_FLUSH_INTERVAL", projector.DefaultFlushInterval, 1, "longest wait for a batch to fill")
	s.HTTPAddr(&cfg.HTTPAddr, "127.0.0.1:9102", "address serving /health, /ready and /metrics; empty serves nothing")
	s.PprofAddr(&cfg.PprofAddr)
	s.Streams(&cfg.Streams)
	logger := s.Logger("json", stderr)
	if err := s.Parse(args); err != nil {
		return cfg, err
	}
	cfg.Logger = logger()
	return cfg, cfg.Validate()
}
