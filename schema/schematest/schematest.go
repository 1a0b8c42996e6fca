package schematest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/chillin-chat/chillin/schema"
)

// DefaultURL is the server used when CHILLIN_TEST_POSTGRES_URL is unset.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// ServerURL is the URL of the test server's maintenance database.
func ServerURL() string {
	if u := os.Getenv("CHILLIN_TEST_POSTGRES_URL"); u != "" {
		return u
	}
	return DefaultURL
}

// URL is the URL of database dbname on the test server.
func URL(tb testing.TB, dbname string) string {
	tb.Helper()
	u, err := url.Parse(ServerURL())
	if err != nil || u.Scheme == "" {
		tb.Fatalf("schematest: CHILLIN_TEST_POSTGRES_URL must be a postgres:// URL: %v", err)
	}
	u.Path = "/" + dbname
	return u.String()
}

// NewDB creates a fresh, migrated database and returns a pool on it and its
// URL. The pool is closed and the database dropped when the test ends.
func NewDB(tb testing.TB) (*pgxpool.Pool, string) {
	tb.Helper()
	pool, dsn := NewEmptyDB(tb)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := schema.Migrate(ctx, pool); err != nil {
		tb.Fatalf("schematest: migrate: %v", err)
	}
	return pool, dsn
}

// NewEmptyDB is NewDB without the migrations.
func NewEmptyDB(tb testing.TB) (*pgxpool.Pool, string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		tb.Fatalf("schematest: %v", err)
	}
	name := "chillin_t_" + hex.EncodeToString(b[:])
	if err := admin(ctx, "CREATE DATABASE "+name); err != nil {
		tb.Fatalf("schematest: create database: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := admin(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			tb.Errorf("schematest: drop database %s: %v", name, err)
		}
	})

	dsn := URL(tb, name)
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		tb.Fatalf("schematest: open pool: %v", err)
	}
	tb.Cleanup(pool.Close) // runs before the drop: cleanups run last-in first-out
	return pool, dsn
}

// admin runs one statement on the server's maintenance database. CREATE
// DATABASE fails while another session is copying the template at the same
// moment, which parallel test binaries do; that is retried.
func admin(ctx context.Context, sql string) error {
	for attempt := 0; ; attempt++ {
		err := adminOnce(ctx, sql)
		var pgErr *pgconn.PgError
		if err == nil || !errors.As(err, &pgErr) || pgErr.Code != "55006" || attempt == 20 {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(50*(attempt+1)) * time.Millisecond):
		}
	}
}

func adminOnce(ctx context.Context, sql string) error {
	conn, err := pgx.Connect(ctx, ServerURL())
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	_, err = conn.Exec(ctx, sql)
	return err
}
