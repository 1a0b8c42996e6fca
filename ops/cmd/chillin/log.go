package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/chillin-chat/chillin/events"
	"github.com/chillin-chat/chillin/projector/pgrebuild"
)

// rebuildOtherLog replaces a Postgres projection of another log with one of
// this log. `make clean` removes the JetStream store and keeps the
// database, so the all-in-one then starts a new log under the old log's
// checkpoint; the projector binary refuses that, and the development
// runner rebuilds instead (the old projection is of a log that is gone).
// The cache view replaces a cache of another log on its own.
func rebuildOtherLog(ctx context.Context, natsURL, pgURL string, streams events.StreamOptions, log *slog.Logger) error {
	nc, err := nats.Connect(natsURL, nats.Name("chillin-startup"))
	if err != nil {
		return fmt.Errorf("check the projection's log: nats: %w", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("check the projection's log: %w", err)
	}
	if err := events.EnsureStreams(ctx, js, streams); err != nil {
		return fmt.Errorf("check the projection's log: %w", err)
	}
	pool, err := pgxpool.New(ctx, pgURL)
	if err != nil {
		return fmt.Errorf("check the projection's log: postgres: %w", err)
	}
	defer pool.Close()
	err = pgrebuild.CheckLog(ctx, pool, js, log)
	if !errors.Is(err, pgrebuild.ErrOtherLog) {
		return err
	}
	log.Warn("the database holds the projection of another log (the JetStream store is new, e.g. after `make clean`): rebuilding it from this log",
		"reason", err.Error())
	res, err := pgrebuild.Rebuild(ctx, pgrebuild.Options{Live: pool, JS: js, Logger: log})
	if err != nil {
		return fmt.Errorf("rebuild the projection of another log: %w", err)
	}
	log.Info("the database now holds the projection of this log", "schema", res.Schema, "seq", res.Seq)
	return nil
}
