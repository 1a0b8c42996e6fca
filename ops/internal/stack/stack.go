// Package stack starts the pieces of a Chillin system on one machine: an
// embedded NATS JetStream server, the Postgres database (created and
// migrated), and the three services in one process. The all-in-one command
// and the end-to-end tests use it.
package stack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/chillin-chat/chillin/events/natsconn"
	"github.com/chillin-chat/chillin/gateway"
	"github.com/chillin-chat/chillin/projector"
	"github.com/chillin-chat/chillin/schema"
	"github.com/chillin-chat/chillin/validator"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats-server/v2/server"
	"golang.org/x/sync/errgroup"
)

// StartNATS runs an embedded NATS server with JetStream, storing in dir and
// listening on addr (host:port; port 0 picks a free one). It syncs every
// write to disk before acknowledging it, unless deferredSync: then it syncs
// every two minutes, and a power cut can lose what it acknowledged since.
func StartNATS(dir, addr string, deferredSync bool) (*server.Server, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("nats listen address %q: %w", addr, err)
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return nil, fmt.Errorf("nats port %q: %w", port, err)
	}
	if p == 0 {
		p = server.RANDOM_PORT
	}
	opts := &server.Options{
		ServerName: "chillin", Host: host, Port: p, JetStream: true, StoreDir: dir,
		NoSigs: true, MaxPayload: 1 << 20,
	}
	opts.SyncAlways = !deferredSync
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("nats server: %w", err)
	}
	go s.Start()
	if !s.ReadyForConnections(30 * time.Second) {
		s.Shutdown()
		return nil, errors.New("nats server did not start within 30s")
	}
	return s, nil
}

// EnsureDatabase creates the database named in pgURL if it does not exist,
// then applies the migrations.
func EnsureDatabase(ctx context.Context, pgURL string) error {
	u, err := url.Parse(pgURL)
	if err != nil {
		return fmt.Errorf("postgres url: %w", err)
	}
	name := strings.TrimPrefix(u.Path, "/")
	if name == "" {
		return errors.New("postgres url names no database")
	}
	admin := *u
	admin.Path = "/postgres"
	conn, err := pgx.Connect(ctx, admin.String())
	if err != nil {
		return fmt.Errorf("connect to postgres: %w", err)
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	var pgErr *pgconn.PgError
	if err != nil && !(errors.As(err, &pgErr) && pgErr.Code == "42P04") { // duplicate_database
		return fmt.Errorf("create database %s: %w", name, err)
	}
	pool, err := pgxpool.New(ctx, pgURL)
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	defer pool.Close()
	return schema.Migrate(ctx, pool)
}

// Config is the whole system in one process.
type Config struct {
	Gateway   gateway.Config
	Validator validator.Config
	Projector projector.Config
}

// Run runs a gateway, a validator and a projector until ctx ends.
func Run(ctx context.Context, cfg Config, log *slog.Logger) error {
	g, ctx := errgroup.WithContext(ctx)
	// A service whose NATS connection was closed for good runs again,
	// dialing anew, rather than taking the others down.
	g.Go(func() error {
		return named("validator", natsconn.Serve(ctx, log, "validator", func(ctx context.Context) error { return validator.Run(ctx, cfg.Validator) }))
	})
	g.Go(func() error {
		return named("projector", natsconn.Serve(ctx, log, "projector", func(ctx context.Context) error { return projector.Run(ctx, cfg.Projector) }))
	})
	g.Go(func() error {
		return named("gateway", natsconn.Serve(ctx, log, "gateway", func(ctx context.Context) error { return gateway.Run(ctx, cfg.Gateway) }))
	})
	err := g.Wait()
	log.Info("stopped", "err", err)
	return err
}

func named(service string, err error) error {
	if err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("%s: %w", service, err)
	}
	return nil
}
