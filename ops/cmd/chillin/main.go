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

	"github.com/chillin-chat/chillin/events/cachelayout"
	"github.com/chillin-chat/chillin/events/envflag"
	"github.com/chillin-chat/chillin/events/opshttp"
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
	c, err := parseConfig(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	log := c.stack.Gateway.Logger

	dir, err := filepath.Abs(c.dataDir)
	if err != nil {
		return err
	}
	ns, err := stack.StartNATS(filepath.Join(dir, "jetstream"), c.natsListen, c.stack.Validator.DeferredSync)
	if err != nil {
		return err
	}
	defer func() {
		ns.Shutdown()
		ns.WaitForShutdown()
	}()
	natsURL := ns.ClientURL()
	log.Info("embedded NATS JetStream", "url", natsURL, "store", dir, "unsafe_deferred_sync", c.stack.Validator.DeferredSync)

	gw := &c.stack.Gateway
	if err := stack.EnsureDatabase(ctx, gw.PostgresURL); err != nil {
		return err
	}
	if err := rebuildOtherLog(ctx, natsURL, gw.PostgresURL, gw.Streams, log); err != nil {
		return err
	}
	// One registry for the three services: the gateway's /metrics shows them all.
	reg := opshttp.NewRegistry()
	gw.NATSURL, gw.UI, gw.Metrics = natsURL, ui.FS(), reg
	c.stack.Validator.NATSURL, c.stack.Validator.Metrics = natsURL, reg
	c.stack.Projector.NATSURL, c.stack.Projector.Metrics = natsURL, reg
	fmt.Fprintf(stdout, "Chillin is running at http://%s (Ctrl-C stops it)\n", gw.HTTPAddr)
	return stack.Run(ctx, c.stack, log)
}

// config is the all-in-one's settings: its services' (but where NATS is,
// which it starts) and its own.
type config struct {
	stack               stack.Config
	dataDir, natsListen string
}

// parseConfig reads the settings (envflag: CHILLIN_* variables, flags
// overriding them): the gateway's, which its validator and projector share
// where they have the same (Redis, Postgres, streams, rate limits, media
// storage), and the all-in-one's own.
func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	fs := envflag.NewFlagSet("chillin", stderr)
	gatewayConfig := gateway.Flags(fs, getenv)
	s := envflag.New(fs, getenv)
	var (
		c  config
		v  = &c.stack.Validator
		pr = &c.stack.Projector
	)
	s.String(&c.dataDir, "data", "CHILLIN_DATA_DIR", "var/data", "folder of the embedded JetStream store")
	s.String(&c.natsListen, "nats-listen", "CHILLIN_NATS_LISTEN", "127.0.0.1:0", "listen address of the embedded NATS server; port 0 picks a free one")
	s.Bool(&v.DeferredSync, "unsafe-deferred-sync", "CHILLIN_UNSAFE_DEFERRED_SYNC", false, "acknowledge JetStream writes before they are synced to disk: a power cut can lose confirmed messages")
	// -strict named the mode that synced every write when that was not
	// the default; it is now, so the flag is kept for the scripts that pass
	// it and changes nothing: deferring syncs is -unsafe-deferred-sync.
	strict := fs.Bool("strict", false, "kept for older scripts: every JetStream write is synced unless -unsafe-deferred-sync is set, whatever this says")
	s.Int(&v.RateLimit, "rate-limit", "CHILLIN_RATE_LIMIT", validator.DefaultRateLimit, 1, "accepted messages per user per window")
	s.Duration(&v.RateWindow, "rate-window", "CHILLIN_RATE_WINDOW", validator.DefaultRateWindow, time.Millisecond, "rate limit window")
	s.Int(&v.MaxTextRunes, "max-message-runes", "CHILLIN_MAX_MESSAGE_RUNES", validator.DefaultMaxTextRunes, 1, "longest message in code points")
	s.Int(&pr.CacheWindow, "cache-window", "CHILLIN_CACHE_WINDOW", cachelayout.DefaultWindow, 1, "newest messages per room the Redis cache keeps")
	logger := s.Logger("text", stderr)
	if err := s.Parse(args); err != nil {
		return c, err
	}
	if *strict && v.DeferredSync {
		return c, errors.New("chillin: -strict and -unsafe-deferred-sync contradict each other")
	}
	gw, err := gatewayConfig()
	if err != nil {
		return c, err
	}
	log := logger()
	gw.Logger = log
	c.stack.Gateway = gw
	v.RedisURL, v.RedisPrefix, v.RateLimits, v.Streams, v.Logger = gw.RedisURL, gw.RedisPrefix, gw.RateLimits, gw.Streams, log
	// The validator checks attachments in the gateway's media storage.
	v.Storage = gw.Storage
	// And looks up resends older than a room's digests in the pg view.
	v.PostgresURL = gw.PostgresURL
	pr.PostgresURL, pr.RedisURL, pr.RedisPrefix, pr.Streams, pr.Logger = gw.PostgresURL, gw.RedisURL, gw.RedisPrefix, gw.Streams, log
	pr.Views = []string{projector.ViewPG, projector.ViewLive, projector.ViewCache}
	return c, nil
}
