package schema_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/errgroup"

	"github.com/chillin-chat/chillin/schema"
	"github.com/chillin-chat/chillin/schema/schematest"
)

func ctxT(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func applied(t *testing.T, pool *pgxpool.Pool) []string {
	t.Helper()
	rows, err := pool.Query(ctxT(t), "SELECT version, name FROM schema_migrations ORDER BY version")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for rows.Next() {
		var (
			v    int
			name string
		)
		if err := rows.Scan(&v, &name); err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%04d_%s", v, name))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func want(t *testing.T) []string {
	t.Helper()
	all, err := schema.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range all {
		out = append(out, fmt.Sprintf("%04d_%s", m.Version, m.Name))
	}
	return out
}

func TestMigrateTwice(t *testing.T) {
	pool, _ := schematest.NewEmptyDB(t)
	for i := range 2 {
		if err := schema.Migrate(ctxT(t), pool); err != nil {
			t.Fatalf("migrate #%d: %v", i+1, err)
		}
		if got := applied(t, pool); !slices.Equal(got, want(t)) {
			t.Fatalf("after migrate #%d: applied %v, want %v", i+1, got, want(t))
		}
	}
}

func TestMigrateConcurrent(t *testing.T) {
	const procs = 4
	_, dsn := schematest.NewEmptyDB(t)
	g, ctx := errgroup.WithContext(ctxT(t))
	for range procs {
		// One pool each, as separate processes would have.
		pool, err := pgxpool.New(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(pool.Close)
		g.Go(func() error { return schema.Migrate(ctx, pool) })
	}
	if err := g.Wait(); err != nil {
		t.Fatalf("concurrent migrate: %v", err)
	}
	pool, err := pgxpool.New(ctxT(t), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if got := applied(t, pool); !slices.Equal(got, want(t)) {
		t.Fatalf("applied %v, want %v", got, want(t))
	}
}

func TestMigrateRefusesRenamedMigration(t *testing.T) {
	pool, _ := schematest.NewDB(t)
	if _, err := pool.Exec(ctxT(t), "UPDATE schema_migrations SET name = 'renamed' WHERE version = 1"); err != nil {
		t.Fatal(err)
	}
	err := schema.Migrate(ctxT(t), pool)
	if err == nil || !strings.Contains(err.Error(), "renamed") {
		t.Fatalf("migrate over a renamed migration: err = %v", err)
	}
	// The lock was released: a second call reaches the same check instead of hanging.
	if err := schema.Migrate(ctxT(t), pool); err == nil {
		t.Fatal("second migrate: want the same refusal")
	}
}

// TestColumns pins the tables and columns other services are written against:
// a migration may add to them, never rename or drop.
func TestColumns(t *testing.T) {
	pool, _ := schematest.NewDB(t)
	wantCols := map[string]string{
		"users":                  "id display_name password_hash avatar_key created_at fact_id",
		"rooms":                  "id name description is_private password_hash created_by created_at head_seq last_fact_id",
		"room_members":           "room_id user_id joined_at",
		"messages":               "id room_id seq user_id client_id text reply_to created_at edited_at deleted_at",
		"reactions":              "message_id user_id emoji created_at",
		"attachments":            "message_id position key name content_type size",
		"sessions":               "id user_id created_at expires_at revoked_at",
		"projection_checkpoints": "view seq updated_at",
		"schema_migrations":      "version name applied_at",
		"read_positions":         "user_id room_id seq",
		"room_events":            "id room_id seq kind user_id at",
	}
	for table, cols := range wantCols {
		t.Run(table, func(t *testing.T) {
			rows, err := pool.Query(ctxT(t), `SELECT column_name FROM information_schema.columns
				WHERE table_schema = 'public' AND table_name = $1 ORDER BY ordinal_position`, table)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for rows.Next() {
				var c string
				if err := rows.Scan(&c); err != nil {
					t.Fatal(err)
				}
				got = append(got, c)
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			for _, c := range strings.Fields(cols) {
				if !slices.Contains(got, c) {
					t.Errorf("table %s lacks column %s (has %v)", table, c, got)
				}
			}
		})
	}
}
