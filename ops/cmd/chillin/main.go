// Command chillin runs the whole Chillin system in one process: an embedded
// NATS JetStream server (its store under the data folder, kept across
// restarts), the database created and migrated, and a gateway, a validator
// and a projector. It is the development and single-machine runner.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/chillin-chat/chillin/events/cachelayout"
	"github.com/chillin-chat/chillin/gateway"
	"github.com/chillin-chat/chillin/ops/internal/stack"
	"github.com/chillin-chat/chillin/projector"
	"github.com/chillin-chat/chillin/ui"
	"github.com/chillin-chat/chillin/validator"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "chillin:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	env := func(key, def string) string {
		if v := getenv(key); v != "" {
			return v
		}
		return def
	}
	fs := flag.NewFlagSet("chillin", flag.ContinueOnError)
	fs.SetOutput(stderr)
	gatewayConfig := gateway.Flags(fs, getenv)
	dataDir := fs.String("data", env("CHILLIN_DATA_DIR", "var/data"), "folder of the embedded JetStream store (CHILLIN_DATA_DIR)")
	natsListen := fs.String("nats-listen", env("CHILLIN_NATS_LISTEN", "127.0.0.1:0"), "listen address of the embedded NATS server; port 0 picks a free one (CHILLIN_NATS_LISTEN)")
	deferredSync := fs.Bool("unsafe-deferred-sync", false, "acknowledge JetStream writes before they are synced to disk: a power cut can lose confirmed messages (CHILLIN_UNSAFE_DEFERRED_SYNC)")
	rateLimit := fs.Int("rate-limit", 10, "accepted messages per user per window (CHILLIN_RATE_LIMIT)")
	rateWindow := fs.Duration("rate-window", 10*time.Second, "rate limit window (CHILLIN_RATE_WINDOW)")
	maxRunes := fs.Int("max-message-runes", 2000, "longest message in code points (CHILLIN_MAX_MESSAGE_RUNES)")
	cacheWindow := fs.Int("cache-window", cachelayout.DefaultWindow, "newest messages per room the Redis cache keeps (CHILLIN_CACHE_WINDOW)")
	logFormat := fs.String("log-format", env("CHILLIN_LOG_FORMAT", "text"), "log format: json or text (CHILLIN_LOG_FORMAT)")
	for name, key := range map[string]string{
		"unsafe-deferred-sync": "CHILLIN_UNSAFE_DEFERRED_SYNC", "rate-limit": "CHILLIN_RATE_LIMIT", "rate-window": "CHILLIN_RATE_WINDOW", "max-message-runes": "CHILLIN_MAX_MESSAGE_RUNES",
		"cache-window": "CHILLIN_CACHE_WINDOW",
	} {
		if v := getenv(key); v != "" {
			if err := fs.Set(name, v); err != nil {
				return fmt.Errorf("%s: %w", key, err)
			}
		}
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	gw, err := gatewayConfig()
	if err != nil {
		return err
	}
	log, err := gateway.NewLogger(*logFormat, stderr)
	if err != nil {
		return err
	}

	dir, err := filepath.Abs(*dataDir)
	if err != nil {
		return err
	}
	ns, err := stack.StartNATS(filepath.Join(dir, "jetstream"), *natsListen, *deferredSync)
	if err != nil {
		return err
	}
	defer func() {
		ns.Shutdown()
		ns.WaitForShutdown()
	}()
	natsURL := ns.ClientURL()
	log.Info("embedded NATS JetStream", "url", natsURL, "store", dir, "unsafe_deferred_sync", *deferredSync)

	if err := stack.EnsureDatabase(ctx, gw.PostgresURL); err != nil {
		return err
	}
	if err := rebuildOtherLog(ctx, natsURL, gw.PostgresURL, gw.Streams, log); err != nil {
		return err
	}
	// One registry for the three services: the gateway's /metrics shows them all.
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	gw.NATSURL, gw.UI, gw.Logger, gw.Metrics = natsURL, ui.FS(), log, reg
	// The stream settings (CHILLIN_STREAM_REPLICAS, -stream-replicas) come
	// with the gateway's flags and hold for all three services.
	fmt.Fprintf(stdout, "Chillin is running at http://%s (Ctrl-C stops it)\n", gw.HTTPAddr)
	return stack.Run(ctx, stack.Config{
		Gateway: gw,
		Validator: validator.Config{
			NATSURL: natsURL, RedisURL: gw.RedisURL, RedisPrefix: gw.RedisPrefix,
			RateLimit: *rateLimit, RateWindow: *rateWindow, RateLimits: gw.RateLimits, MaxTextRunes: *maxRunes, Streams: gw.Streams, Logger: log,
			DeferredSync: *deferredSync,
			// The media storage settings (CHILLIN_S3_*, -s3-*) come with the
			// gateway's flags too: the validator checks attachments there.
			Storage: gw.Storage,
			Metrics: reg,
		},
		Projector: projector.Config{
			NATSURL: natsURL, PostgresURL: gw.PostgresURL, RedisURL: gw.RedisURL, RedisPrefix: gw.RedisPrefix,
			Views: []string{projector.ViewPG, projector.ViewLive, projector.ViewCache}, CacheWindow: *cacheWindow,
			Logger: log, Streams: gw.Streams, Metrics: reg,
		},
	}, log)
}
