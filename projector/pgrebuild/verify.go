package pgrebuild

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// VerifyResult is the live schema compared with a replay of the log.
type VerifyResult struct {
	Schema string // the live schema (A in Tables); B is the replay
	Seq    uint64 // the checkpoint both were compared at
	Tables []TableResult
	Took   time.Duration
	// Pause is how long the live view's lock was held (the live projector
	// waited): to catch the replay up and take the snapshot.
	Pause time.Duration
}

// Equal reports whether every table is the same.
func (r VerifyResult) Equal() bool {
	for _, t := range r.Tables {
		if !t.Equal() {
			return false
		}
	}
	return true
}

// Verify replays the log into a scratch schema up to the live checkpoint
// and compares the two, table by table (Compare). It holds the live view's
// lock only to apply the facts the live view applied meanwhile and to take
// one snapshot of both schemas; the comparison reads that snapshot while
// the live view goes on. The scratch schema is dropped at the end, also on
// error or cancellation.
func Verify(ctx context.Context, o Options) (VerifyResult, error) {
	o = o.withDefaults()
	start := time.Now()
	s, err := begin(ctx, o.Live, o.Logger)
	if err != nil {
		return VerifyResult{}, err
	}
	defer s.close()
	res := VerifyResult{Schema: s.schema}

	name := stamp("verify")
	pool, err := s.createSchema(ctx, name)
	if err != nil {
		return res, err
	}
	defer func() {
		pool.Close()
		if err := s.dropSchema(context.WithoutCancel(ctx), name); err != nil {
			o.Logger.Error("could not drop the scratch schema; the next rebuild or verify drops it", "schema", name, "err", err)
		}
	}()
	rep, err := NewReplayer(ctx, pool, o.JS, o.Logger, o.BatchSize)
	if err != nil {
		return res, err
	}
	target, err := checkpoint(ctx, o.Live, s.schema)
	if err != nil {
		return res, err
	}
	var done uint64
	if err := rep.To(ctx, target, progress(o.Progress, target, &done)); err != nil {
		return res, err
	}

	snap, pause, err := s.snapshot(ctx, rep, o, &done)
	if err != nil {
		return res, err
	}
	defer snap.Rollback(context.WithoutCancel(ctx))
	res.Pause = pause
	if res.Seq, err = rep.Checkpoint(ctx); err != nil {
		return res, err
	}
	if res.Tables, err = Compare(ctx, snap, s.schema, name); err != nil {
		return res, err
	}
	res.Took = time.Since(start)
	return res, nil
}

// snapshot holds the live lock while it catches the replay up to the live
// checkpoint and opens a read-only repeatable-read transaction on both
// schemas; then it lets the live view go on.
func (s *session) snapshot(ctx context.Context, rep *Replayer, o Options, done *uint64) (pgx.Tx, time.Duration, error) {
	lock, err := s.live.Begin(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("verify: begin: %w", err)
	}
	defer lock.Rollback(context.WithoutCancel(ctx))
	if _, err := lock.Exec(ctx, fmt.Sprintf(`SET LOCAL lock_timeout = %d`, o.LockTimeout.Milliseconds())); err != nil {
		return nil, 0, fmt.Errorf("verify: %w", err)
	}
	if _, err := lock.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, LiveLockKey); err != nil {
		return nil, 0, fmt.Errorf("verify: take the live view's lock: %w", err)
	}
	locked := time.Now()
	target, err := checkpoint(ctx, lock, s.schema)
	if err != nil {
		return nil, 0, err
	}
	if err := rep.To(ctx, target, progress(o.Progress, target, done)); err != nil {
		return nil, 0, fmt.Errorf("verify: %w", err)
	}
	cp, err := rep.Checkpoint(ctx)
	if err != nil {
		return nil, 0, err
	}
	if cp != target {
		return nil, 0, fmt.Errorf("verify: the replay reached seq %d, the live checkpoint is %d", cp, target)
	}
	snap, err := s.live.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, 0, fmt.Errorf("verify: begin snapshot: %w", err)
	}
	// The snapshot is taken by the first statement.
	if _, err := checkpoint(ctx, snap, s.schema); err != nil {
		snap.Rollback(context.WithoutCancel(ctx))
		return nil, 0, err
	}
	pause := time.Since(locked)
	if err := lock.Rollback(ctx); err != nil {
		snap.Rollback(context.WithoutCancel(ctx))
		return nil, 0, fmt.Errorf("verify: release the live view's lock: %w", err)
	}
	return snap, pause, nil
}
