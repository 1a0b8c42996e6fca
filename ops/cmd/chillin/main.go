// Command chillin runs the whole Chillin system in one process: an embedded
// NATS JetStream server (its store under the data folder, kept across
// restarts), the database created and migrated, and a gateway, a validator
// and a projector. It is the development and single-machine runner.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/chillin-chat/chillin/events/envflag"
	"github.com/chillin-chat/chillin/events/opshttp"
	"github.com/chillin-chat/chillin/gateway"
	"github.com/chillin-chat/chillin/ops/internal/stack"
	"github.com/chillin-chat/chillin/projector"
	"github.com/chillin-chat/chillin/projector/cache"
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
	fs := envflag.NewFlagSet("chillin", stderr)
	gatewayConfig := gateway.Flags(fs, getenv)
	s := envflag.New(fs, getenv)
	var (
		dataDir, natsListen string
		deferredSync        bool
		rateLimit, maxRunes int
		cacheWindow         int
		rateWindow          time.Duration
	)
	s.String(&dataDir, "data", "CHILLIN_DATA_DIR", "var/data", "folder of the embedded JetStream store")
	s.String(&natsListen, "nats-listen", "CHILLIN_NATS_LISTEN", "127.0.0.1:0", "listen address of the embedded NATS server; port 0 picks a free one")
	s.Bool(&deferredSync, "unsafe-deferred-sync", "CHILLIN_UNSAFE_DEFERRED_SYNC", false, "acknowledge JetStream writes before they are synced to disk: a power cut can lose confirmed messages")
	s.Int(&rateLimit, "rate-limit", "CHILLIN_RATE_LIMIT", validator.DefaultRateLimit, 1, "accepted messages per user per window")
	s.Duration(&rateWindow, "rate-window", "CHILLIN_RATE_WINDOW", validator.DefaultRateWindow, time.Millisecond, "rate limit window")
	s.Int(&maxRunes, "max-message-runes", "CHILLIN_MAX_MESSAGE_RUNES", validator.DefaultMaxTextRunes, 1, "longest message in code points")
	s.Int(&cacheWindow, "cache-window", "CHILLIN_CACHE_WINDOW", cache.DefaultWindow, 1, "newest messages per room the Redis cache keeps")
	logger := s.Logger("text", stderr)
	if err := s.Parse(args); errors.Is(err, flag.ErrHelp) {
		return nil
	} else if err != nil {
		return err
	}
	gw, err := gatewayConfig()
	if err != nil {
		return err
	}
	log := logger()

	dir, err := filepath.Abs(dataDir)
	if err != nil {
		return err
	}
	ns, err := stack.StartNATS(filepath.Join(dir, "jetstream"), natsListen, deferredSync)
	if err != nil {
		return err
	}
	defer func() {
		ns.Shutdown()
		ns.WaitForShutdown()
	}()
	natsURL := ns.ClientURL()
	log.Info("embedded NATS JetStream", "url", natsURL, "store", dir, "unsafe_deferred_sync", deferredSync)

	if err := stack.EnsureDatabase(ctx, gw.PostgresURL); err != nil {
		return err
	}
	if err := rebuildOtherLog(ctx, natsURL, gw.PostgresURL, gw.Streams, log); err != nil {
		return err
	}
	// One registry for the three services: the gateway's /metrics shows them all.
	reg := opshttp.NewRegistry()
	gw.NATSURL, gw.UI, gw.Logger, gw.Metrics = natsURL, ui.FS(), log, reg
	// The stream settings (CHILLIN_STREAM_REPLICAS, -stream-replicas) come
	// with the gateway's flags and hold for all three services.
	fmt.Fprintf(stdout, "Chillin is running at http://%s (Ctrl-C stops it)\n", gw.HTTPAddr)
	return stack.Run(ctx, stack.Config{
		Gateway: gw,
		Validator: validator.Config{
			NATSURL: natsURL, RedisURL: gw.RedisURL, RedisPrefix: gw.RedisPrefix,
			RateLimit: rateLimit, RateWindow: rateWindow, RateLimits: gw.RateLimits, MaxTextRunes: maxRunes, Streams: gw.Streams, Logger: log,
			DeferredSync: deferredSync,
			// The media storage settings (CHILLIN_S3_*, -s3-*) come with the
			// gateway's flags too: the validator checks attachments there.
			Storage: gw.Storage,
			Metrics: reg,
		},
		Projector: projector.Config{
			NATSURL: natsURL, PostgresURL: gw.PostgresURL, RedisURL: gw.RedisURL, RedisPrefix: gw.RedisPrefix,
			Views: []string{projector.ViewPG, projector.ViewLive, projector.ViewCache}, CacheWindow: cacheWindow,
			Logger: log, Streams: gw.Streams, Metrics: reg,
		},
	}, log)
}
