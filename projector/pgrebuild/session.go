package pgrebuild

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/chillin-chat/chillin/schema"
)

// maintenanceKey is the session advisory lock a rebuild or verify holds for
// its whole run, so that only one runs per database ("chillpm" 1).
const maintenanceKey int64 = 0x6368696c6c706d01

// minConns is how many connections of the live pool a run uses at once: the
// maintenance lock, the switch's or snapshot's lock, and the snapshot.
const minConns = 3

// ErrBusy is returned when another rebuild or verify holds the database.
var ErrBusy = errors.New("another rebuild or verify of the pg view is running on this database")

// scratchName matches the schemas a rebuild or verify creates; one that
// exists while no run holds the maintenance lock was left by a killed run.
var scratchName = regexp.MustCompile(`^(rebuild|verify)_[0-9]{8}t[0-9]{6}$`)

// session is one rebuild's or verify's hold on the live database.
type session struct {
	live   *pgxpool.Pool
	conn   *pgxpool.Conn // holds maintenanceKey
	schema string        // the live schema
	log    *slog.Logger
}

// begin takes the maintenance lock, finds the live schema and drops
// schemas left by killed runs.
func begin(ctx context.Context, live *pgxpool.Pool, log *slog.Logger) (*session, error) {
	if n := live.Config().MaxConns; n < minConns {
		return nil, fmt.Errorf("the live pool allows %d connections: a rebuild or verify needs %d", n, minConns)
	}
	conn, err := live.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	var ok bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, maintenanceKey).Scan(&ok); err != nil {
		conn.Release()
		return nil, fmt.Errorf("postgres: take the maintenance lock: %w", err)
	}
	if !ok {
		conn.Release()
		return nil, ErrBusy
	}
	s := &session{live: live, conn: conn, log: log}
	var cur *string
	if err := conn.QueryRow(ctx, `SELECT current_schema()`).Scan(&cur); err != nil {
		s.close()
		return nil, fmt.Errorf("postgres: current schema: %w", err)
	}
	if cur == nil {
		s.close()
		return nil, errors.New("postgres: the connection's search_path names no schema that exists")
	}
	s.schema = *cur
	if err := s.dropLeftovers(ctx); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

// close lets go of the maintenance lock.
func (s *session) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := s.conn.Exec(ctx, `SELECT pg_advisory_unlock($1)`, maintenanceKey); err != nil {
		// The lock belongs to the session: end it, and the lock goes too.
		_ = s.conn.Conn().Close(ctx)
	}
	s.conn.Release()
}

func (s *session) dropLeftovers(ctx context.Context) error {
	rows, err := s.conn.Query(ctx, `SELECT nspname FROM pg_namespace ORDER BY nspname`)
	if err != nil {
		return fmt.Errorf("postgres: list schemas: %w", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("postgres: list schemas: %w", err)
	}
	for _, n := range names {
		if !scratchName.MatchString(n) {
			continue
		}
		if err := s.dropSchema(ctx, n); err != nil {
			return err
		}
		s.log.Warn("dropped a schema left by an interrupted rebuild or verify", "schema", n)
	}
	return nil
}

// stamp names a scratch schema after the time.
func stamp(prefix string) string {
	return prefix + "_" + time.Now().UTC().Format("20060102t150405")
}

// createSchema creates and migrates schema name and returns a pool whose
// connections use it (search_path), configured like the live pool.
func (s *session) createSchema(ctx context.Context, name string) (*pgxpool.Pool, error) {
	if _, err := s.conn.Exec(ctx, `CREATE SCHEMA `+pgx.Identifier{name}.Sanitize()); err != nil {
		return nil, fmt.Errorf("create schema %s: %w", name, err)
	}
	cfg := s.live.Config().Copy()
	if cfg.ConnConfig.RuntimeParams == nil {
		cfg.ConnConfig.RuntimeParams = map[string]string{}
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = pgx.Identifier{name}.Sanitize()
	cfg.MinConns = 0
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err == nil {
		if err = schema.Migrate(ctx, pool); err != nil {
			pool.Close()
		}
	}
	if err != nil {
		if derr := s.dropSchema(context.WithoutCancel(ctx), name); derr != nil {
			s.log.Error("could not drop the new schema", "schema", name, "err", derr)
		}
		return nil, fmt.Errorf("schema %s: %w", name, err)
	}
	return pool, nil
}

// dropSchema drops a scratch schema and everything in it.
func (s *session) dropSchema(ctx context.Context, name string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if _, err := s.conn.Exec(ctx, `DROP SCHEMA IF EXISTS `+pgx.Identifier{name}.Sanitize()+` CASCADE`); err != nil {
		return fmt.Errorf("drop schema %s: %w", name, err)
	}
	return nil
}

// preflight checks, before a long replay, what the switch will need: the
// current role is a member of the roles that own the live schema and what
// is in it (to rename the schema and give the new objects the same owners),
// and this build knows every migration the live schema has.
func (s *session) preflight(ctx context.Context, next string) error {
	var owner string
	var mine bool
	if err := s.conn.QueryRow(ctx, `SELECT nspowner::regrole::text, pg_has_role(nspowner, 'MEMBER') FROM pg_namespace WHERE nspname = $1`, s.schema).Scan(&owner, &mine); err != nil {
		return fmt.Errorf("postgres: schema %s: %w", s.schema, err)
	}
	if !mine {
		return fmt.Errorf("schema %s belongs to role %s: run the rebuild as that role or a member of it", s.schema, owner)
	}
	var rel string
	err := s.conn.QueryRow(ctx, `SELECT c.relname, c.relowner::regrole::text FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND NOT pg_has_role(c.relowner, 'MEMBER')
ORDER BY c.relname LIMIT 1`, s.schema).Scan(&rel, &owner)
	switch {
	case err == nil:
		return fmt.Errorf("%s.%s belongs to role %s: run the rebuild as that role or a member of it", s.schema, rel, owner)
	case !errors.Is(err, pgx.ErrNoRows):
		return fmt.Errorf("postgres: owners in schema %s: %w", s.schema, err)
	}
	return missingMigrations(ctx, s.conn, s.schema, next)
}

// missingMigrations fails if live has a migration next lacks: the live
// schema was migrated by a newer build than this one.
func missingMigrations(ctx context.Context, q querier, live, next string) error {
	var exists bool
	lt := pgx.Identifier{live, "schema_migrations"}.Sanitize()
	if err := q.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, lt).Scan(&exists); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	if !exists {
		return nil
	}
	var version int
	var name string
	err := q.QueryRow(ctx, `SELECT version, name FROM `+lt+` EXCEPT SELECT version, name FROM `+
		pgx.Identifier{next, "schema_migrations"}.Sanitize()+` ORDER BY version LIMIT 1`).Scan(&version, &name)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil
	case err != nil:
		return fmt.Errorf("postgres: compare migrations: %w", err)
	}
	return fmt.Errorf("schema %s has migration %04d_%s, which this build does not know: use a build as new as the services'", live, version, name)
}

// copyAccess gives schema to and its tables the owners of schema from and
// its tables of the same names, then grants on them what is granted on
// those, so that the services, whatever role they connect as, keep their
// access.
func copyAccess(ctx context.Context, tx pgx.Tx, from, to string) error {
	rows, err := tx.Query(ctx, `SELECT 'SCHEMA ' || quote_ident($2), n.nspowner::regrole::text
FROM pg_namespace n, pg_namespace m
WHERE n.nspname = $1 AND m.nspname = $2 AND n.nspowner <> m.nspowner
UNION ALL
SELECT CASE WHEN c.relkind = 'S' THEN 'SEQUENCE ' ELSE 'TABLE ' END || quote_ident($2) || '.' || quote_ident(c.relname), c.relowner::regrole::text
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_class c2 ON c2.relname = c.relname AND c2.relkind = c.relkind
JOIN pg_namespace n2 ON n2.oid = c2.relnamespace
WHERE n.nspname = $1 AND n2.nspname = $2 AND c.relkind IN ('r', 'p', 'S') AND c.relowner <> c2.relowner`, from, to)
	if err != nil {
		return fmt.Errorf("read owners of schema %s: %w", from, err)
	}
	owners, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) ([2]string, error) {
		var o [2]string
		return o, r.Scan(&o[0], &o[1])
	})
	if err != nil {
		return fmt.Errorf("read owners of schema %s: %w", from, err)
	}
	for _, o := range owners {
		if _, err := tx.Exec(ctx, `ALTER `+o[0]+` OWNER TO `+o[1]); err != nil {
			return fmt.Errorf("give %s to %s: %w", o[0], o[1], err)
		}
	}
	return copyPrivileges(ctx, tx, from, to)
}

// copyPrivileges grants on schema to and its tables what is granted on
// schema from and its tables of the same names.
func copyPrivileges(ctx context.Context, tx pgx.Tx, from, to string) error {
	type grant struct {
		object, privilege, grantee string
		grantable                  bool
	}
	rows, err := tx.Query(ctx, `SELECT 'SCHEMA ' || quote_ident($2), a.privilege_type,
	CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(a.grantee)) END, a.is_grantable
FROM pg_namespace n, aclexplode(n.nspacl) a
WHERE n.nspname = $1
UNION ALL
SELECT CASE WHEN c.relkind = 'S' THEN 'SEQUENCE ' ELSE 'TABLE ' END || quote_ident($2) || '.' || quote_ident(c.relname), a.privilege_type,
	CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(a.grantee)) END, a.is_grantable
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace, aclexplode(c.relacl) a
WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
	AND EXISTS (SELECT 1 FROM pg_class c2 JOIN pg_namespace n2 ON n2.oid = c2.relnamespace WHERE n2.nspname = $2 AND c2.relname = c.relname)`, from, to)
	if err != nil {
		return fmt.Errorf("read privileges of schema %s: %w", from, err)
	}
	grants, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (grant, error) {
		var g grant
		return g, r.Scan(&g.object, &g.privilege, &g.grantee, &g.grantable)
	})
	if err != nil {
		return fmt.Errorf("read privileges of schema %s: %w", from, err)
	}
	for _, g := range grants {
		sql := `GRANT ` + g.privilege + ` ON ` + g.object + ` TO ` + g.grantee
		if g.grantable {
			sql += ` WITH GRANT OPTION`
		}
		if _, err := tx.Exec(ctx, sql); err != nil {
			return fmt.Errorf("grant %s on %s to %s: %w", g.privilege, g.object, g.grantee, err)
		}
	}
	return nil
}

// retryable reports whether a switch failed only because it gave way to a
// lock: lock_timeout (55P03) or a deadlock Postgres broke (40P01).
func retryable(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "55P03" || pgErr.Code == "40P01")
}
