package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/chillin-chat/chillin/ops/internal/progress"
	"github.com/chillin-chat/chillin/projector/pgrebuild"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
)

// pgFlags are the flags of the subcommands that work on the pg view.
type pgFlags struct {
	logFlags
	pgURL       *string
	batch       *int
	lockTimeout *time.Duration
	logFormat   *string
}

func newPGFlags(name string, getenv func(string) string, stderr io.Writer) pgFlags {
	f := pgFlags{logFlags: newLogFlags(name, getenv, stderr)}
	env := func(key, def string) string {
		if v := getenv(key); v != "" {
			return v
		}
		return def
	}
	f.fs.String("view", "pg", "the view: pg")
	f.pgURL = f.fs.String("postgres", env("CHILLIN_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/chillin?sslmode=disable"),
		"Postgres URL of the system, as its services use it: the view is in the connection's current schema (CHILLIN_POSTGRES_URL)")
	f.batch = f.fs.Int("batch", pgrebuild.DefaultBatchSize, "facts applied per transaction")
	f.lockTimeout = f.fs.Duration("lock-timeout", pgrebuild.DefaultLockTimeout, "give up a wait for a lock after this long (a switch then tries again)")
	f.logFormat = f.fs.String("log-format", env("CHILLIN_LOG_FORMAT", "text"), "log format: json or text (CHILLIN_LOG_FORMAT)")
	return f
}

// open connects to NATS and Postgres; close both after.
func (f pgFlags) open(ctx context.Context, stderr io.Writer) (*nats.Conn, pgrebuild.Options, error) {
	if *f.batch < 1 {
		return nil, pgrebuild.Options{}, fmt.Errorf("-batch %d: want 1 or more facts", *f.batch)
	}
	if *f.lockTimeout <= 0 {
		return nil, pgrebuild.Options{}, fmt.Errorf("-lock-timeout %s: want a positive duration", *f.lockTimeout)
	}
	log, err := newLogger(*f.logFormat, stderr)
	if err != nil {
		return nil, pgrebuild.Options{}, err
	}
	cfg, err := pgxpool.ParseConfig(*f.pgURL)
	if err != nil {
		return nil, pgrebuild.Options{}, fmt.Errorf("-postgres: %w", err)
	}
	cfg.ConnConfig.ConnectTimeout = 10 * time.Second
	cfg.MaxConns = max(cfg.MaxConns, 4) // the maintenance lock, the switch or snapshot, the comparison
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, pgrebuild.Options{}, fmt.Errorf("postgres: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, pgrebuild.Options{}, fmt.Errorf("postgres: %w", err)
	}
	nc, js, err := f.connect()
	if err != nil {
		pool.Close()
		return nil, pgrebuild.Options{}, err
	}
	return nc, pgrebuild.Options{Live: pool, JS: js, Logger: log, BatchSize: *f.batch, LockTimeout: *f.lockTimeout}, nil
}

// newLogger logs warnings and errors only: progress and the summary say
// the rest, and info lines would break a progress bar.
func newLogger(format string, w io.Writer) (*slog.Logger, error) {
	opts := &slog.HandlerOptions{Level: slog.LevelWarn}
	switch format {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("-log-format %q: want json or text", format)
}

// meter shows a replay's progress on stderr: a bar on a terminal, a plain
// line now and then otherwise.
func meter(stderr io.Writer, label string) (*progress.Meter, func(done, total uint64)) {
	m := progress.New(stderr, label, "facts", 0)
	return m, func(done, total uint64) {
		m.SetTotal(total)
		m.Set(done)
	}
}

// rebuildPG replays the whole log into a new schema while the system runs
// and then makes it the live schema (pgrebuild.Rebuild).
func rebuildPG(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	f := newPGFlags("rebuild", getenv, stderr)
	if err := parseCommand(f.fs, args, "rebuild -view pg [flags]",
		"Replays the whole log into a new Postgres schema while the system keeps running, then switches readers and the projector to it and drops the old one.",
		0, "rebuild takes no arguments, only flags", stderr); err != nil {
		return err
	}
	nc, o, err := f.open(ctx, stderr)
	if err != nil {
		return err
	}
	defer nc.Close()
	defer o.Live.Close()

	m, report := meter(stderr, "rebuild")
	o.Progress = report
	res, err := pgrebuild.Rebuild(ctx, o)
	m.Finish()
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return fmt.Errorf("rebuild interrupted; the live schema %s is as it was and the new one is dropped", res.Schema)
		}
		if res.Schema != "" {
			return fmt.Errorf("rebuild failed; the live schema %s is as it was: %w", res.Schema, err)
		}
		return fmt.Errorf("rebuild failed: %w", err)
	}
	fmt.Fprintf(stdout, "rebuild: schema %s rebuilt from the log through seq %d in %s (%d catch-up rounds); the projector waited %s at the switch\n",
		res.Schema, res.Seq, res.Took.Round(time.Millisecond), res.Rounds, res.Pause.Round(time.Millisecond))
	return nil
}
