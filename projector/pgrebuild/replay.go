package pgrebuild

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/chillin-chat/chillin/events"
	"github.com/chillin-chat/chillin/projector/internal/feed"
	"github.com/chillin-chat/chillin/projector/internal/pg"
)

// LiveLockKey is the advisory lock every live pg view transaction holds.
// Whoever holds it (pg_advisory_xact_lock) knows that no projector batch is
// in flight or can start until it lets go.
const LiveLockKey = pg.LockKey

// ReplayLockKey is the advisory lock a Replayer's transactions hold: not the
// live one, so a replay never waits for the live view, and a switch that
// holds the live lock can still apply into the new schema.
const ReplayLockKey int64 = 0x6368696c6c707201 // "chillpr" 1

// DefaultBatchSize is how many facts a Replayer applies per transaction.
const DefaultBatchSize = 2000

// Replayer applies the log to one schema with the pg view's code: the pool
// given to NewReplayer decides the schema (its search_path).
type Replayer struct {
	pool  *pgxpool.Pool
	js    jetstream.JetStream
	view  *pg.View
	log   *slog.Logger
	batch int
}

// NewReplayer returns a Replayer applying into the migrated schema pool's
// connections use, batch facts per transaction (0: DefaultBatchSize).
func NewReplayer(ctx context.Context, pool *pgxpool.Pool, js jetstream.JetStream, log *slog.Logger, batch int) (*Replayer, error) {
	if batch <= 0 {
		batch = DefaultBatchSize
	}
	evt, err := js.Stream(ctx, events.EvtStream)
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", events.EvtStream, err)
	}
	return &Replayer{
		pool: pool, js: js, log: log, batch: batch,
		view: pg.NewViewLocked(pool, evt, log, batch, ReplayLockKey),
	}, nil
}

// Log names the log the Replayer applies (see the projector's logid).
func (r *Replayer) Log() string { return r.view.Log() }

// Checkpoint is the last stream seq applied to the schema (0: none).
func (r *Replayer) Checkpoint(ctx context.Context) (uint64, error) {
	return checkpoint(ctx, r.pool, "")
}

// To applies every fact after the schema's checkpoint through stream seq
// upto, in batches, each in one transaction with the checkpoint, calling
// progress (if not nil) with the checkpoint after each. The log is read
// with an ordered consumer (no durable state on the server) while the
// previous batch is being applied. A fact that cannot be decoded is logged
// and skipped, as the live view skips it.
func (r *Replayer) To(ctx context.Context, upto uint64, progress func(seq uint64)) error {
	from, err := r.Checkpoint(ctx)
	if err != nil {
		return err
	}
	if from >= upto {
		return nil
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	batches := make(chan []feed.Item, 2)
	read := make(chan error, 1)
	go func() {
		defer close(batches)
		read <- r.read(ctx, from+1, upto, batches)
	}()
	for items := range batches {
		if err := r.view.Apply(ctx, items); err != nil {
			cancel(err)
			for range batches {
			}
			<-read
			return fmt.Errorf("apply through seq %d: %w", items[len(items)-1].Seq, err)
		}
		for _, it := range items {
			if it.Err != nil {
				r.log.Error("poison fact skipped", "seq", it.Seq, "err", it.Err)
			}
		}
		if progress != nil {
			progress(items[len(items)-1].Seq)
		}
	}
	if err := <-read; err != nil {
		return err
	}
	return ctx.Err()
}

// read sends the facts with from <= seq <= upto in batches of r.batch.
func (r *Replayer) read(ctx context.Context, from, upto uint64, out chan<- []feed.Item) error {
	cons, err := r.js.OrderedConsumer(ctx, events.EvtStream, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:   from,
	})
	if err != nil {
		return fmt.Errorf("read %s from seq %d: %w", events.EvtStream, from, err)
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(2 * r.batch))
	if err != nil {
		return fmt.Errorf("read %s from seq %d: %w", events.EvtStream, from, err)
	}
	defer it.Stop()
	items := make([]feed.Item, 0, r.batch)
	for {
		m, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			if ctx.Err() != nil {
				return context.Cause(ctx)
			}
			return fmt.Errorf("read %s: %w", events.EvtStream, err)
		}
		md, err := m.Metadata()
		if err != nil {
			return fmt.Errorf("read %s: fact metadata: %w", events.EvtStream, err)
		}
		seq := md.Sequence.Stream
		if seq > upto {
			break // only when the log holds no fact with seq upto
		}
		item := feed.Item{Seq: seq}
		if f, err := events.DecodeFact(m.Data()); err != nil {
			item.Err = err
		} else {
			item.Fact = events.Stored{ID: seq, Fact: f}
		}
		items = append(items, item)
		if len(items) == r.batch || seq == upto {
			select {
			case out <- items:
			case <-ctx.Done():
				return context.Cause(ctx)
			}
			items = make([]feed.Item, 0, r.batch)
		}
		if seq == upto {
			return nil
		}
	}
	if len(items) > 0 {
		select {
		case out <- items:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
	return nil
}

// LastSeq is the stream seq of the log's last fact.
func LastSeq(ctx context.Context, js jetstream.JetStream) (uint64, error) {
	evt, err := js.Stream(ctx, events.EvtStream)
	if err != nil {
		return 0, fmt.Errorf("stream %s: %w", events.EvtStream, err)
	}
	info, err := evt.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("stream %s: %w", events.EvtStream, err)
	}
	return info.State.LastSeq, nil
}

// querier is a pool, a connection or a transaction.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// checkpoint reads the pg view's checkpoint in schema (the search_path's
// first schema if empty); 0 if none or if the schema has no checkpoint
// table (not migrated yet).
func checkpoint(ctx context.Context, q querier, schema string) (uint64, error) {
	table := "projection_checkpoints"
	if schema != "" {
		table = pgx.Identifier{schema, table}.Sanitize()
	}
	var exists bool
	if err := q.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, table).Scan(&exists); err != nil {
		return 0, fmt.Errorf("read checkpoint of %s: %w", table, err)
	}
	if !exists {
		return 0, nil
	}
	var seq int64
	if err := q.QueryRow(ctx, `SELECT COALESCE((SELECT seq FROM `+table+` WHERE view = $1), 0)`, pg.Name).Scan(&seq); err != nil {
		return 0, fmt.Errorf("read checkpoint of %s: %w", table, err)
	}
	return uint64(seq), nil
}

// checkpointLog reads the log the pg view's checkpoint in schema counts in:
// "" if there is no checkpoint, it does not record its log, or the schema
// predates the column.
func checkpointLog(ctx context.Context, q querier, schema string) (string, error) {
	table := pgx.Identifier{schema, "projection_checkpoints"}.Sanitize()
	var log *string
	err := q.QueryRow(ctx, `SELECT to_jsonb(c)->>'log_id' FROM `+table+` c WHERE view = $1`, pg.Name).Scan(&log)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && log == nil) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read the log of the checkpoint of %s: %w", table, err)
	}
	return *log, nil
}
