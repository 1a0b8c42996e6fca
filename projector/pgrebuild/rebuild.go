package pgrebuild

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
)

// Options are what Rebuild and Verify need.
type Options struct {
	// Live is a pool on the live database, connecting as the services do:
	// its current_schema() is the live schema. It must allow 3 connections.
	Live   *pgxpool.Pool
	JS     jetstream.JetStream
	Logger *slog.Logger
	// BatchSize is how many facts one transaction applies (0: DefaultBatchSize).
	BatchSize int
	// Progress, if not nil, is called after every batch with the stream seq
	// applied so far and the seq the run is heading for (which moves while
	// a rebuild catches up with a log that grows).
	Progress func(done, total uint64)
	// LockTimeout bounds each wait of a switch or snapshot for a lock
	// (0: DefaultLockTimeout); a switch that gives up tries again.
	LockTimeout time.Duration
	// CatchUp: a rebuild switches once a round of catching up had at most
	// this many facts to apply (0: BatchSize), so the switch, during which
	// the live projector waits, applies about that many.
	CatchUp uint64
}

// DefaultLockTimeout is Options.LockTimeout's default.
const DefaultLockTimeout = 10 * time.Second

// switchAttempts is how often a rebuild tries to switch before giving up.
const switchAttempts = 5

// maxRounds bounds the catch-up rounds of a rebuild: a log that grows faster
// than it can be replayed is never caught up.
const maxRounds = 1000

func (o Options) withDefaults() Options {
	if o.BatchSize <= 0 {
		o.BatchSize = DefaultBatchSize
	}
	if o.LockTimeout <= 0 {
		o.LockTimeout = DefaultLockTimeout
	}
	if o.CatchUp == 0 {
		o.CatchUp = uint64(o.BatchSize)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// RebuildResult is what a rebuild did.
type RebuildResult struct {
	Schema string // the live schema, now rebuilt
	// Seq is the new schema's checkpoint at the switch: the log's last
	// fact then. Every fact up to it was replayed before readers saw it.
	Seq    uint64
	Rounds int           // catch-up rounds before the switch
	Took   time.Duration // the whole rebuild
	// Pause is how long the switch held the live view's lock: the live
	// projector waited that long. Readers waited only for the rename.
	Pause time.Duration
}

// Rebuild replays the whole log into a new schema and makes it the live
// schema (see the package comment), while the system keeps running. On
// error or cancellation the new schema is dropped and the live one is as it
// was.
func Rebuild(ctx context.Context, o Options) (RebuildResult, error) {
	o = o.withDefaults()
	start := time.Now()
	s, err := begin(ctx, o.Live, o.Logger)
	if err != nil {
		return RebuildResult{}, err
	}
	defer s.close()
	res := RebuildResult{Schema: s.schema}

	name := stamp("rebuild")
	pool, err := s.createSchema(ctx, name)
	if err != nil {
		return res, err
	}
	switched := false
	defer func() {
		pool.Close()
		if !switched {
			if err := s.dropSchema(context.WithoutCancel(ctx), name); err != nil {
				o.Logger.Error("could not drop the unfinished schema; the next rebuild or verify drops it", "schema", name, "err", err)
			}
		}
	}()
	if err := s.preflight(ctx, name); err != nil {
		return res, err
	}
	rep, err := NewReplayer(ctx, pool, o.JS, o.Logger, o.BatchSize)
	if err != nil {
		return res, err
	}
	o.Logger.Info("rebuilding the pg view", "schema", s.schema, "into", name)

	// Catch up until one round had little to do.
	var done uint64
	for {
		res.Rounds++
		target, err := LastSeq(ctx, o.JS)
		if err != nil {
			return res, err
		}
		before := done
		if err := rep.To(ctx, target, progress(o.Progress, target, &done)); err != nil {
			return res, err
		}
		done = max(done, target)
		if target-before <= o.CatchUp {
			break
		}
		if res.Rounds == maxRounds {
			return res, fmt.Errorf("the log grows faster than it is replayed: the last of %d rounds still had %d facts to apply", res.Rounds, target-before)
		}
	}

	for attempt := 1; ; attempt++ {
		res.Seq, res.Pause, err = s.switchTo(ctx, name, rep, o, &done)
		if err == nil {
			break
		}
		if !retryable(err) || attempt == switchAttempts {
			return res, err
		}
		o.Logger.Warn("the switch gave way to a lock it waited for; trying again", "attempt", attempt, "err", err)
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-time.After(time.Duration(attempt) * time.Second):
		}
	}
	switched = true
	res.Took = time.Since(start)
	o.Logger.Info("switched to the rebuilt pg view", "schema", s.schema, "seq", res.Seq, "pause", res.Pause, "took", res.Took)
	return res, nil
}

// progress reports a replay's progress to fn, if not nil.
func progress(fn func(done, total uint64), total uint64, done *uint64) func(uint64) {
	if fn != nil {
		fn(*done, total)
	}
	return func(seq uint64) {
		*done = seq
		if fn != nil {
			fn(seq, total)
		}
	}
}

// switchTo makes schema next, which rep applies into, the live schema:
// holding the live view's lock it applies the log up to its last fact, then
// renames the live schema away, renames next to the live name and drops the
// old one, all in one transaction. It returns the new schema's checkpoint
// and how long the live lock was held.
func (s *session) switchTo(ctx context.Context, next string, rep *Replayer, o Options, done *uint64) (uint64, time.Duration, error) {
	tx, err := s.live.Begin(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("switch: begin: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if _, err := tx.Exec(ctx, fmt.Sprintf(`SET LOCAL lock_timeout = %d`, o.LockTimeout.Milliseconds())); err != nil {
		return 0, 0, fmt.Errorf("switch: %w", err)
	}
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, LiveLockKey); err != nil {
		return 0, 0, fmt.Errorf("switch: take the live view's lock: %w", err)
	}
	locked := time.Now()
	// No live batch is in flight or can start: the live checkpoint stays
	// where it is, at or below the log's last fact.
	last, err := LastSeq(ctx, o.JS)
	if err != nil {
		return 0, 0, err
	}
	if err := rep.To(ctx, last, progress(o.Progress, last, done)); err != nil {
		return 0, 0, fmt.Errorf("switch: %w", err)
	}
	*done = max(*done, last)
	cp, err := rep.Checkpoint(ctx)
	if err != nil {
		return 0, 0, err
	}
	liveCP, err := checkpoint(ctx, tx, s.schema)
	if err != nil {
		return 0, 0, err
	}
	liveLog, err := checkpointLog(ctx, tx, s.schema)
	if err != nil {
		return 0, 0, err
	}
	// The live view's checkpoint can be past the log's last fact only when
	// it counts another log's facts (CHAT_EVT was created again): then the
	// rebuild is what replaces it.
	otherLog := (liveLog != "" && liveLog != rep.Log()) || (liveLog == "" && liveCP > cp)
	if liveCP > cp && !otherLog {
		return 0, 0, fmt.Errorf("switch: the live checkpoint %d is past the rebuilt one %d", liveCP, cp)
	}
	if otherLog {
		o.Logger.Warn("the live schema holds the projection of another log: replacing it with this log's", "schema", s.schema,
			"live_checkpoint", liveCP, "live_log", liveLog, "log", rep.Log())
	}
	// A projector of a newer build may have migrated the live schema since
	// the rebuild began.
	if err := missingMigrations(ctx, tx, s.schema, next); err != nil {
		return 0, 0, fmt.Errorf("switch: %w", err)
	}
	if err := copyAccess(ctx, tx, s.schema, next); err != nil {
		return 0, 0, fmt.Errorf("switch: %w", err)
	}
	old := s.schema + "_old_" + time.Now().UTC().Format("20060102t150405")
	if len(old) > 63 {
		old = stamp("old")
	}
	for _, sql := range []string{
		`ALTER SCHEMA ` + pgx.Identifier{s.schema}.Sanitize() + ` RENAME TO ` + pgx.Identifier{old}.Sanitize(),
		`ALTER SCHEMA ` + pgx.Identifier{next}.Sanitize() + ` RENAME TO ` + pgx.Identifier{s.schema}.Sanitize(),
		// Waits for readers still on the old tables; readers that come
		// meanwhile wait for the commit and then read the new ones.
		`DROP SCHEMA ` + pgx.Identifier{old}.Sanitize() + ` CASCADE`,
	} {
		if _, err := tx.Exec(ctx, sql); err != nil {
			return 0, 0, fmt.Errorf("switch: %s: %w", sql, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, 0, fmt.Errorf("switch: commit: %w", err)
	}
	return cp, time.Since(locked), nil
}
