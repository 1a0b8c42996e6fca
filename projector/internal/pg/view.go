package pg

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/chillin-chat/chillin/events"
	"github.com/chillin-chat/chillin/projector/internal/backoff"
	"github.com/chillin-chat/chillin/projector/internal/feed"
	"github.com/chillin-chat/chillin/projector/internal/logid"
	"github.com/chillin-chat/chillin/schema"
)

// Name is the view's name: its consumer is projector-pg, its checkpoint row
// projection_checkpoints.view = 'pg'.
const Name = "pg"

// allFacts is every subject of CHAT_EVT: this view folds all of them.
const allFacts = "chat.evt.>"

// LockKey is the transaction advisory lock that serializes appliers of the
// live view across processes ("chillin.projector.pg"). A View applying into
// another schema (a rebuild) takes a key of its own, so that it never waits
// for the live view nor the live view for it.
const LockKey int64 = 0x6368696c6c706701

const (
	sqlLock           = `SELECT pg_advisory_xact_lock($1)`
	sqlCheckpoint     = `SELECT seq, log_id FROM projection_checkpoints WHERE view = $1`
	sqlSaveCheckpoint = `INSERT INTO projection_checkpoints (view, seq, log_id, updated_at) VALUES ($1, $2, NULLIF($3, ''), now())
ON CONFLICT (view) DO UPDATE SET seq = GREATEST(projection_checkpoints.seq, EXCLUDED.seq),
    log_id = COALESCE(EXCLUDED.log_id, projection_checkpoints.log_id), updated_at = EXCLUDED.updated_at`
	sqlAdoptLog = `UPDATE projection_checkpoints SET log_id = $2 WHERE view = $1 AND log_id IS NULL`
)

// ErrOtherLog is the answer when the stored checkpoint counts the facts of
// another log (CHAT_EVT was created again, or the database belongs to
// another deployment): applying this log after it would skip its facts up
// to that checkpoint as if they were applied.
var ErrOtherLog = errors.New("postgres holds the projection of another log")

// RebuildCommand replaces the pg view with a projection of the current log.
const RebuildCommand = "chillin-replay rebuild -view pg"

// Config is what the view needs.
type Config struct {
	Pool          *pgxpool.Pool
	JS            jetstream.JetStream
	BatchSize     int
	FlushInterval time.Duration
	Logger        *slog.Logger
	Backoff       backoff.Policy
	Observer      feed.Observer // metrics; may be nil
}

// Run ensures the schema, then applies the log to Postgres until ctx ends.
func Run(ctx context.Context, cfg Config) error {
	v := &View{pool: cfg.Pool, log: cfg.Logger, maxFill: cfg.BatchSize, lockKey: LockKey}
	if err := backoff.Retry(ctx, cfg.Logger, cfg.Backoff, "migrate postgres", func(ctx context.Context) error {
		return schema.Migrate(ctx, cfg.Pool)
	}, nil); err != nil {
		return nil
	}
	if err := backoff.Retry(ctx, cfg.Logger, cfg.Backoff, "open stream "+events.EvtStream, func(ctx context.Context) error {
		s, err := cfg.JS.Stream(ctx, events.EvtStream)
		v.evt = s
		return err
	}, nil); err != nil {
		return nil
	}
	v.logID = logid.Of(v.evt.CachedInfo())
	var mismatch error
	if err := backoff.Retry(ctx, cfg.Logger, cfg.Backoff, "check the log of the checkpoint", func(ctx context.Context) error {
		err := CheckLog(ctx, cfg.Pool, v.evt, cfg.Logger)
		if errors.Is(err, ErrOtherLog) {
			mismatch = err
			return nil
		}
		return err
	}, nil); err != nil {
		return nil
	}
	if mismatch != nil {
		return mismatch
	}
	return feed.Run(ctx, cfg.JS, feed.Config{
		View:     Name,
		Consumer: events.ProjectionConsumerConfig(Name, true, allFacts),
		Start: func(ctx context.Context) (uint64, error) {
			cp, err := ReadCheckpoint(ctx, cfg.Pool)
			return cp.Seq + 1, err
		},
		BatchSize:     cfg.BatchSize,
		FlushInterval: cfg.FlushInterval,
		Logger:        cfg.Logger,
		Backoff:       cfg.Backoff,
		Observer:      cfg.Observer,
	}, v.Apply)
}

// ErrStopped is matched by the error of a batch that reaches a fact the view
// cannot apply: one that does not decode, or whose data Postgres refuses.
// The view does not skip it. It applies and checkpoints everything before
// it, then stops there: the feed offers the batch again (with backoff) and
// the view refuses it again, until the fact can be applied (a projector
// that reads it, a schema that takes it). The projector reports a stopped
// view in its metrics and /ready.
var ErrStopped = errors.New("the view stopped at a fact it cannot apply")

// stopError is the fact a view stopped at.
type stopError struct {
	seq uint64
	err error
}

func (e *stopError) Error() string {
	return fmt.Sprintf("%v: seq %d: %v", ErrStopped, e.seq, e.err)
}

func (e *stopError) Is(target error) bool { return target == ErrStopped }

// View applies batches of facts to Postgres.
type View struct {
	pool *pgxpool.Pool
	evt  jetstream.Stream // for facts the consumer did not hand over
	log  *slog.Logger
	// applied is a checkpoint this view has seen committed. The checkpoint
	// never moves back, so facts at or below it need no transaction.
	applied uint64
	// maxFill bounds how many missing facts one transaction reads from the log.
	maxFill int
	// lockKey is the advisory lock taken by every transaction.
	lockKey int64
	// stoppedAt is the fact the view last stopped at, logged once.
	stoppedAt uint64
	// logID names the log evt is (see logid); "" when there is no evt.
	// Every checkpoint saved records it, and one of another log is refused.
	logID string
}

// NewView returns a View on a migrated database. evt is CHAT_EVT, read when
// facts before a batch were not delivered to this instance.
func NewView(pool *pgxpool.Pool, evt jetstream.Stream, log *slog.Logger, maxFill int) *View {
	return NewViewLocked(pool, evt, log, maxFill, LockKey)
}

// NewViewLocked is NewView with its own advisory lock key: the view of a
// schema other than the live one (see LockKey).
func NewViewLocked(pool *pgxpool.Pool, evt jetstream.Stream, log *slog.Logger, maxFill int, lockKey int64) *View {
	v := &View{pool: pool, evt: evt, log: log, maxFill: max(maxFill, 1), lockKey: lockKey}
	if evt != nil {
		v.logID = logid.Of(evt.CachedInfo())
	}
	return v
}

// Log names the log this view applies (see logid); "" if it has no stream.
func (v *View) Log() string { return v.logID }

// Checkpoint is the pg view's stored checkpoint.
type Checkpoint struct {
	Seq uint64 // the last CHAT_EVT seq applied (0: none)
	Log string // the log it counts in (see logid); "" if not recorded
}

// querier is a pool, a connection or a transaction.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// ReadCheckpoint reads the stored checkpoint (zero if there is none).
func ReadCheckpoint(ctx context.Context, q querier) (Checkpoint, error) {
	var (
		seq int64
		log *string
	)
	err := q.QueryRow(ctx, sqlCheckpoint, Name).Scan(&seq, &log)
	if errors.Is(err, pgx.ErrNoRows) {
		return Checkpoint{}, nil
	}
	if err != nil {
		return Checkpoint{}, fmt.Errorf("read checkpoint: %w", err)
	}
	cp := Checkpoint{Seq: uint64(seq)}
	if log != nil {
		cp.Log = *log
	}
	return cp, nil
}

// CheckLog returns an error wrapping ErrOtherLog, saying what to do, if the
// stored checkpoint belongs to another log than evt. A checkpoint that does
// not record its log (written before logs were recorded) is taken to be of
// this log, and from now on records it, unless it lies beyond the log's last
// fact: then it is of another log too.
func CheckLog(ctx context.Context, pool *pgxpool.Pool, evt jetstream.Stream, log *slog.Logger) error {
	info, err := evt.Info(ctx)
	if err != nil {
		return fmt.Errorf("stream %s: %w", events.EvtStream, err)
	}
	id, last := logid.Of(info), info.State.LastSeq
	cp, err := ReadCheckpoint(ctx, pool)
	if err != nil {
		return err
	}
	switch {
	case cp.Seq == 0 && cp.Log == "":
		return nil // nothing applied yet: the first batch records the log
	case cp.Log == id:
		return nil
	case cp.Log == "" && cp.Seq <= last:
		if _, err := pool.Exec(ctx, sqlAdoptLog, Name, id); err != nil {
			return fmt.Errorf("record the log of the checkpoint: %w", err)
		}
		log.Info("recorded the log of the pg checkpoint", "log", id, "seq", cp.Seq)
		return nil
	}
	other := cp.Log
	if other == "" {
		other = "unrecorded, past this log's end"
	}
	return fmt.Errorf("%w: its checkpoint is fact %d of the log created %s, but %s was created %s (last fact %d): "+
		"rebuild the view from this log with `%s`, or connect to the database of this log",
		ErrOtherLog, cp.Seq, other, events.EvtStream, id, last, RebuildCommand)
}

// Apply applies a batch: every fact after the stored checkpoint up to the
// batch's highest sequence, in stream order, then the new checkpoint, in one
// transaction (several, if a long stretch before the batch has to be read
// from the log first).
func (v *View) Apply(ctx context.Context, items []feed.Item) error {
	var last uint64
	for _, it := range items {
		last = max(last, it.Seq)
	}
	if last <= v.applied {
		return nil
	}
	careful := false
	for {
		done, err := v.applyOnce(ctx, items, last, careful)
		var stop *stopError
		if errors.As(err, &stop) {
			if !careful {
				// Apply fact by fact, so that every fact before it lands.
				careful = true
				continue
			}
			if stop.seq != v.stoppedAt {
				v.stoppedAt = stop.seq
				v.log.Error("fact cannot be projected: the view stops before it", "seq", stop.seq, "err", stop.err)
			}
			return err
		}
		if err != nil {
			if isDataError(err) && !careful {
				// A fact the schema refuses (for example text Postgres cannot
				// store): find it by applying fact by fact.
				v.log.Warn("batch refused by postgres, applying fact by fact", "err", err)
				careful = true
				continue
			}
			return err
		}
		if done {
			return nil
		}
	}
}

// applyOnce runs one transaction. It reports done once the checkpoint has
// reached last.
func (v *View) applyOnce(ctx context.Context, items []feed.Item, last uint64, careful bool) (done bool, err error) {
	tx, err := v.pool.Begin(ctx)
	if err != nil {
		return false, fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))

	// The lock goes alone, before any statement that names a table: pgx
	// prepares every new statement of a batch before running the first,
	// and preparing one locks its tables until the transaction ends. A
	// holder of this lock that then locks the tables (a rebuild's switch,
	// which drops them) would deadlock with a batch waiting here.
	if _, err := tx.Exec(ctx, sqlLock, v.lockKey); err != nil {
		return false, fmt.Errorf("take the view's lock: %w", err)
	}
	stored, err := ReadCheckpoint(ctx, tx)
	if err != nil {
		return false, err
	}
	if stored.Log != "" && v.logID != "" && stored.Log != v.logID {
		return false, fmt.Errorf("%w: the checkpoint (fact %d) is of the log created %s, this view applies the log created %s",
			ErrOtherLog, stored.Seq, stored.Log, v.logID)
	}
	cp := stored.Seq
	if cp >= last {
		v.applied = cp
		return true, nil
	}

	// A stop ends the facts to apply; those before it are applied.
	var stop *stopError
	facts, upto, err := v.collect(ctx, items, cp, last)
	if err != nil && !errors.As(err, &stop) {
		return false, err
	}
	if careful {
		err = v.execCareful(ctx, tx, facts)
	} else {
		err = v.exec(ctx, tx, facts)
	}
	if careful && errors.As(err, &stop) {
		upto, err = stop.seq-1, nil
	}
	if err != nil {
		return false, err
	}
	if upto > cp {
		if _, err := tx.Exec(ctx, sqlSaveCheckpoint, Name, int64(upto), v.logID); err != nil {
			return false, fmt.Errorf("save checkpoint %d: %w", upto, err)
		}
		if err := tx.Commit(ctx); err != nil {
			return false, fmt.Errorf("commit through seq %d: %w", upto, err)
		}
		v.applied = upto
	}
	if stop != nil {
		return false, stop
	}
	return upto >= last, nil
}

// collect returns the facts with cp < seq <= upto in stream order, and upto:
// last, or less when more than maxFill facts had to be read from the log.
// At a fact that cannot be read (an item or a fact read from the log), it
// returns the facts before it, upto just before it and a *stopError.
func (v *View) collect(ctx context.Context, items []feed.Item, cp, last uint64) ([]events.Stored, uint64, error) {
	have := make([]*feed.Item, 0, len(items))
	for i := range items {
		if items[i].Seq > cp {
			have = append(have, &items[i])
		}
	}
	slices.SortFunc(have, func(a, b *feed.Item) int {
		switch {
		case a.Seq < b.Seq:
			return -1
		case a.Seq > b.Seq:
			return 1
		}
		return 0
	})
	facts := make([]events.Stored, 0, len(have))
	filled := 0
	next := cp + 1
	for _, it := range append(have, nil) {
		end := last + 1
		if it != nil {
			end = it.Seq
		}
		for ; next < end; next++ {
			if filled == v.maxFill {
				v.log.Info("read facts missing before the batch from the log", "from", cp+1, "count", filled)
				return facts, next - 1, nil
			}
			s, ok, err := v.read(ctx, next)
			var stop *stopError
			if errors.As(err, &stop) {
				return facts, next - 1, err
			}
			if err != nil {
				return nil, 0, err
			}
			filled++
			if ok {
				facts = append(facts, s)
			}
		}
		if it == nil {
			break
		}
		if it.Seq < next {
			continue // delivered twice
		}
		if it.Err != nil {
			return facts, it.Seq - 1, &stopError{seq: it.Seq, err: it.Err}
		}
		facts = append(facts, it.Fact)
		next = it.Seq + 1
	}
	if filled > 0 {
		v.log.Info("read facts missing before the batch from the log", "from", cp+1, "count", filled)
	}
	return facts, last, nil
}

// read fetches one fact from the log. ok is false for a sequence the log does
// not hold; a fact that cannot be read is a *stopError.
func (v *View) read(ctx context.Context, seq uint64) (events.Stored, bool, error) {
	m, err := v.evt.GetMsg(ctx, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return events.Stored{}, false, nil
	}
	if err != nil {
		return events.Stored{}, false, fmt.Errorf("read seq %d from the log: %w", seq, err)
	}
	s, err := events.DecodeStoredMsg(m)
	if err != nil {
		return events.Stored{}, false, &stopError{seq: seq, err: fmt.Errorf("subject %s: %w", m.Subject, err)}
	}
	return s, true, nil
}

// exec runs the plan of facts in one pipelined round trip. A fact whose
// payload the plan cannot read is a *stopError, and nothing is run.
func (v *View) exec(ctx context.Context, tx pgx.Tx, facts []events.Stored) error {
	p := plan(facts)
	if len(p.Skipped) > 0 {
		s := p.Skipped[0]
		return &stopError{seq: s.Seq, err: fmt.Errorf("%s: %w", s.Type, s.Err)}
	}
	if len(p.Stmts) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	for _, s := range p.Stmts {
		b.Queue(s.SQL, s.Args...)
	}
	br := tx.SendBatch(ctx, b)
	var err error
	for i := range p.Stmts {
		if _, err = br.Exec(); err != nil {
			err = fmt.Errorf("apply %d facts (%d..%d), statement %d: %w", len(facts), facts[0].ID, facts[len(facts)-1].ID, i, err)
			break
		}
	}
	if cerr := br.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("apply %d facts: %w", len(facts), cerr)
	}
	return err
}

// execCareful applies fact by fact, each under a savepoint, and stops at
// a fact whose statements Postgres refuses as bad data, or whose payload does
// not decode: it undoes that fact's statements and returns a *stopError; the
// facts before it stay applied.
func (v *View) execCareful(ctx context.Context, tx pgx.Tx, facts []events.Stored) error {
	for _, f := range facts {
		if _, err := tx.Exec(ctx, "SAVEPOINT fact"); err != nil {
			return fmt.Errorf("savepoint: %w", err)
		}
		err := v.exec(ctx, tx, []events.Stored{f})
		var stop *stopError
		if err != nil && !isDataError(err) && !errors.As(err, &stop) {
			return err
		}
		if err != nil {
			if _, rerr := tx.Exec(ctx, "ROLLBACK TO SAVEPOINT fact"); rerr != nil {
				return fmt.Errorf("rollback to savepoint: %w", rerr)
			}
			if stop == nil {
				stop = &stopError{seq: f.ID, err: fmt.Errorf("%s: %w", f.Type, err)}
			}
			return stop
		}
		if _, err := tx.Exec(ctx, "RELEASE SAVEPOINT fact"); err != nil {
			return fmt.Errorf("release savepoint: %w", err)
		}
	}
	return nil
}

// isDataError reports whether Postgres refused the data itself (SQLSTATE
// class 22, data exception, or 23, integrity constraint violation) rather
// than being unavailable: retrying would fail forever.
func isDataError(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || len(pgErr.Code) < 2 {
		return false
	}
	return pgErr.Code[:2] == "22" || pgErr.Code[:2] == "23"
}
