package main

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/chillin-chat/chillin/events"
	"github.com/chillin-chat/chillin/events/natstest"
	"github.com/chillin-chat/chillin/schema/schematest"
)

// After `make clean` (a new JetStream store, the same database) the
// all-in-one rebuilds the projection from the new log: a user registered in
// the new log is in Postgres, the old log's users are gone.
func TestRebuildOtherLog(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s := natstest.Start(t)
	_, js := natstest.Connect(t, s)
	if err := events.EnsureStreams(ctx, js, events.StreamOptions{}); err != nil {
		t.Fatal(err)
	}
	alice, err := events.NewFact(events.UserRegistered, "", 0, "alice", "cmd-1", time.Now(), events.UserRegisteredData{Username: "alice", PasswordHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := alice.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, events.UserSubject("alice"), b); err != nil {
		t.Fatal(err)
	}

	// The old log's projection: through its fact 7, with a user of its own.
	pool, dsn := schematest.NewDB(t)
	for _, sql := range []string{
		`INSERT INTO projection_checkpoints (view, seq, log_id, updated_at) VALUES ('pg', 7, '2026-01-01T00:00:00Z', now())`,
		`INSERT INTO users (id, display_name, password_hash, created_at, fact_id) VALUES ('ghost', 'Ghost', 'x', now(), 3)`,
	} {
		if _, err := pool.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}

	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	for range 2 { // the second start finds the projection of this log
		if err := rebuildOtherLog(ctx, s.ClientURL(), dsn, events.StreamOptions{}, log); err != nil {
			t.Fatalf("rebuildOtherLog: %v\n%s", err, logs.String())
		}
	}
	var users string
	if err := pool.QueryRow(ctx, `SELECT string_agg(id, ',' ORDER BY id) FROM users`).Scan(&users); err != nil {
		t.Fatal(err)
	}
	if users != "alice" {
		t.Errorf("users %q after the rebuild, want the new log's alice alone", users)
	}
	var (
		seq   int64
		logID string
	)
	if err := pool.QueryRow(ctx, `SELECT seq, log_id FROM projection_checkpoints WHERE view = 'pg'`).Scan(&seq, &logID); err != nil {
		t.Fatal(err)
	}
	evt, err := js.Stream(ctx, events.EvtStream)
	if err != nil {
		t.Fatal(err)
	}
	if want := evt.CachedInfo().Created.UTC().Format(time.RFC3339Nano); seq != 1 || logID != want {
		t.Errorf("checkpoint %d of log %q, want 1 of %q", seq, logID, want)
	}
	if n := strings.Count(logs.String(), "rebuilding it from this log"); n != 1 {
		t.Errorf("the rebuild was logged %d times, want once:\n%s", n, logs.String())
	}
}
