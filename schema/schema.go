package schema

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"strconv"

	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed migrations/*.sql
var files embed.FS

// Migration is one embedded SQL migration.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// lockKey is the advisory lock Migrate holds while it works ("chillin.schema").
const lockKey int64 = 0x6368696c6c696e01

var fileRe = regexp.MustCompile(`^([0-9]{4})_([a-z0-9_]+)\.sql$`)

// Migrations returns the embedded migrations in version order.
func Migrations() ([]Migration, error) {
	entries, err := fs.ReadDir(files, "migrations")
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return parse(names, func(name string) (string, error) {
		b, err := fs.ReadFile(files, path.Join("migrations", name))
		return string(b), err
	})
}

// parse turns migration file names into ordered migrations. Versions must run
// 1, 2, 3, … without gaps or repeats, so a merge that adds two migrations with
// one number fails here rather than in production.
func parse(names []string, read func(name string) (string, error)) ([]Migration, error) {
	byVersion := map[int]Migration{}
	for _, name := range names {
		m := fileRe.FindStringSubmatch(name)
		if m == nil {
			return nil, fmt.Errorf("migration %q: name is not NNNN_name.sql", name)
		}
		v, _ := strconv.Atoi(m[1])
		if v == 0 {
			return nil, fmt.Errorf("migration %q: versions start at 0001", name)
		}
		if prev, dup := byVersion[v]; dup {
			return nil, fmt.Errorf("migration %q: version %d is also %s", name, v, prev.Name)
		}
		sql, err := read(name)
		if err != nil {
			return nil, fmt.Errorf("migration %q: %w", name, err)
		}
		byVersion[v] = Migration{Version: v, Name: m[2], SQL: sql}
	}
	out := make([]Migration, 0, len(byVersion))
	for v := 1; v <= len(byVersion); v++ {
		m, ok := byVersion[v]
		if !ok {
			return nil, fmt.Errorf("migrations: version %04d is missing", v)
		}
		out = append(out, m)
	}
	return out, nil
}

// pending returns the migrations not yet applied. applied maps each recorded
// version to its recorded name; a recorded version this binary does not know
// (a newer binary migrated the database) is left alone.
func pending(all []Migration, applied map[int]string) ([]Migration, error) {
	var out []Migration
	for _, m := range all {
		name, ok := applied[m.Version]
		switch {
		case !ok:
			out = append(out, m)
		case name != m.Name:
			return nil, fmt.Errorf("migration %04d: database has %q applied, this build has %q", m.Version, name, m.Name)
		}
	}
	return out, nil
}

// Migrate applies every embedded migration the database has not recorded, in
// version order, each in one transaction together with its schema_migrations
// row. Concurrent callers serialize on an advisory lock.
func Migrate(ctx context.Context, pool *pgxpool.Pool) (err error) {
	all, err := Migrations()
	if err != nil {
		return err
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("migrate: acquire connection: %w", err)
	}
	defer conn.Release()

	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", lockKey); err != nil {
		return fmt.Errorf("migrate: take lock: %w", err)
	}
	defer func() {
		// The lock belongs to the session: if it cannot be released, end the
		// session so the lock goes with it.
		if _, uerr := conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", lockKey); uerr != nil {
			_ = conn.Conn().Close(context.WithoutCancel(ctx))
			if err == nil {
				err = fmt.Errorf("migrate: release lock: %w", uerr)
			}
		}
	}()

	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    int PRIMARY KEY,
		name       text NOT NULL,
		applied_at timestamptz NOT NULL
	)`); err != nil {
		return fmt.Errorf("migrate: create schema_migrations: %w", err)
	}
	rows, err := conn.Query(ctx, "SELECT version, name FROM schema_migrations")
	if err != nil {
		return fmt.Errorf("migrate: read schema_migrations: %w", err)
	}
	applied := map[int]string{}
	var (
		v    int
		name string
	)
	for rows.Next() {
		if err := rows.Scan(&v, &name); err != nil {
			rows.Close()
			return fmt.Errorf("migrate: read schema_migrations: %w", err)
		}
		applied[v] = name
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("migrate: read schema_migrations: %w", err)
	}

	todo, err := pending(all, applied)
	if err != nil {
		return err
	}
	for _, m := range todo {
		if err := apply(ctx, conn, m); err != nil {
			return err
		}
	}
	return nil
}

func apply(ctx context.Context, conn *pgxpool.Conn, m Migration) error {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return fmt.Errorf("migration %04d_%s: begin: %w", m.Version, m.Name, err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	// Without arguments pgx sends the file over the simple protocol, so one
	// migration may hold many statements.
	if _, err := tx.Exec(ctx, m.SQL); err != nil {
		return fmt.Errorf("migration %04d_%s: %w", m.Version, m.Name, err)
	}
	if _, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, now())", m.Version, m.Name); err != nil {
		return fmt.Errorf("migration %04d_%s: record: %w", m.Version, m.Name, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("migration %04d_%s: commit: %w", m.Version, m.Name, err)
	}
	return nil
}
