package validator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/chillin-chat/chillin/events"
	"github.com/chillin-chat/chillin/validator/internal/decide"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// A room keeps the idempotency digests of its newest messages only
// (Config.RoomDigests). A message.send whose clientId it does not hold, in a
// room that dropped some, may repeat one of the older messages: the archive
// says which, from the Postgres view when it can answer for this log, else
// from the log itself (docs/adr/0016-archived-idempotency-digests.md).
const (
	// archivePGTimeout bounds one question to Postgres: past it, the log
	// answers instead.
	archivePGTimeout = 2 * time.Second
	// archivePGConns bounds the connections the validator opens to Postgres.
	archivePGConns = 4
	// archiveAnswers is how many answers the archive remembers, all rooms
	// together: an answer never changes (the messages up to a query's
	// Through are what they are), so a client resending the same old
	// clientId again and again costs one lookup.
	archiveAnswers = 4096
	// sqlArchived reads, in one statement and so one snapshot of the view,
	// how far the pg view applied this log (NULL when its checkpoint counts
	// another log, or none) and the message the user posted with the
	// clientId among the room's messages up to the archive's end.
	sqlArchived = `SELECT
  (SELECT seq FROM projection_checkpoints WHERE view = 'pg' AND log_id = $5),
  (SELECT id FROM messages WHERE room_id = $1 AND user_id = $2 AND client_id = $3 AND id <= $4)`
)

// archive finds the messages whose digests the rooms dropped.
type archive struct {
	pool    *pgxpool.Pool // nil: no Postgres, the log answers
	logID   string        // the log (CHAT_EVT's creation time) the view must be of
	logger  *slog.Logger
	lookups *prometheus.CounterVec // by source: postgres, log
	olds    *prometheus.CounterVec // the same, for messages older than the window

	mu      sync.Mutex
	answers map[decide.ArchiveQuery]uint64
	order   []decide.ArchiveQuery // a ring of answers' keys, the oldest at next
	next    int
}

// remembered returns the answer to q, if the archive still has it.
func (a *archive) remembered(q decide.ArchiveQuery) (uint64, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	id, ok := a.answers[q]
	return id, ok
}

// remember keeps the answer to q, forgetting the oldest beyond
// archiveAnswers.
func (a *archive) remember(q decide.ArchiveQuery, id uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.answers == nil {
		a.answers = map[decide.ArchiveQuery]uint64{}
	}
	if _, ok := a.answers[q]; ok {
		return
	}
	if len(a.order) < archiveAnswers {
		a.order = append(a.order, q)
	} else {
		delete(a.answers, a.order[a.next])
		a.order[a.next] = q
		a.next = (a.next + 1) % archiveAnswers
	}
	a.answers[q] = id
}

// openArchive opens the pool of the Postgres view, if a URL is given. It
// does not connect: a database that does not answer is a question the log
// answers, never a reason not to start.
func openArchive(url, logID string, logger *slog.Logger, register func(prometheus.Collector) error) (*archive, error) {
	a := &archive{logID: logID, logger: logger, lookups: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "chillin_validator_archive_lookups_total",
		Help: "Resend checks of a clientId older than a room's digests, by what answered: postgres, or log (Postgres absent, behind, of another log or failing).",
	}, []string{"source"})}
	a.olds = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "chillin_validator_old_message_lookups_total",
		Help: "Lookups of the state (deleted, reactions) of a message older than a room's window, by what answered: postgres, or log (Postgres absent, behind the room, of another log or failing).",
	}, []string{"source"})
	for _, c := range []prometheus.Collector{a.lookups, a.olds} {
		if err := register(c); err != nil {
			return nil, fmt.Errorf("validator: metrics: %w", err)
		}
	}
	if url == "" {
		return a, nil
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("validator: postgres URL: %w", err)
	}
	cfg.MaxConns = archivePGConns
	if a.pool, err = pgxpool.NewWithConfig(context.Background(), cfg); err != nil {
		return nil, fmt.Errorf("validator: postgres: %w", err)
	}
	return a, nil
}

func (a *archive) close() {
	if a.pool != nil {
		a.pool.Close()
	}
}

// errPGCannotAnswer: the view is absent, behind the archive, or of another log.
var errPGCannotAnswer = errors.New("the postgres view cannot answer")

// fromPostgres asks the pg view; errPGCannotAnswer (wrapped) or any error
// means the log must answer.
func (a *archive) fromPostgres(ctx context.Context, q decide.ArchiveQuery) (uint64, error) {
	if a.pool == nil {
		return 0, errPGCannotAnswer
	}
	ctx, cancel := context.WithTimeout(ctx, archivePGTimeout)
	defer cancel()
	var applied, id *int64
	if err := a.pool.QueryRow(ctx, sqlArchived, q.Room, q.User, q.ClientID, int64(q.Through), a.logID).Scan(&applied, &id); err != nil {
		return 0, err
	}
	if applied == nil || uint64(*applied) < q.Through {
		return 0, fmt.Errorf("%w: checkpoint %v of log %s, archive through %d", errPGCannotAnswer, applied, a.logID, q.Through)
	}
	if id == nil {
		return 0, nil
	}
	return uint64(*id), nil
}

// archived answers q: the id of the message q's user posted in q's room
// with q's clientId, among the messages up to q.Through, 0 if none.
func (w *worker) archived(ctx context.Context, q decide.ArchiveQuery) (uint64, error) {
	a := w.v.archive
	if id, ok := a.remembered(q); ok {
		return id, nil
	}
	id, err := a.fromPostgres(ctx, q)
	if err == nil {
		a.lookups.WithLabelValues("postgres").Inc()
		a.remember(q, id)
		return id, nil
	}
	if ctx.Err() != nil {
		return 0, ctx.Err()
	}
	switch {
	case errors.Is(err, errPGCannotAnswer):
		a.logger.Debug("postgres cannot tell a resend from a new message: reading the log", "room", q.Room, "user", q.User, "err", err)
	default:
		a.logger.Warn("postgres cannot tell a resend from a new message: reading the log", "room", q.Room, "user", q.User, "err", err)
	}
	a.lookups.WithLabelValues("log").Inc()
	id, err = w.scanArchive(ctx, q)
	if err == nil {
		a.remember(q, id)
	}
	return id, err
}

// scanArchive reads the room's facts from the log up to q.Through, a page
// at a time, for the message q's user posted with q's clientId. Slow (the
// room's whole history) but exact, and it holds one page at most.
func (w *worker) scanArchive(ctx context.Context, q decide.ArchiveQuery) (uint64, error) {
	var found uint64
	err := w.scanRoom(ctx, q.Room, 1, q.Through, func(f events.Stored) (bool, error) {
		if f.Type != events.MessagePosted || f.User != q.User {
			return true, nil
		}
		d, err := events.DecodeData[events.MessagePostedData](f.Fact)
		if err != nil {
			return false, fmt.Errorf("room %s seq %d: %w", q.Room, f.Seq, err)
		}
		if d.ClientID == q.ClientID {
			found = f.ID
			return false, nil
		}
		return true, nil
	})
	return found, err
}

// scanRoom hands each fact of room with stream sequence from to through to
// f, in order, reading the log a page at a time, until f says to stop (or
// fails) or the facts end.
func (w *worker) scanRoom(ctx context.Context, room string, from, through uint64, f func(events.Stored) (more bool, err error)) error {
	for next := from; next <= through; {
		page, err := w.readRoomPage(ctx, room, next, through)
		if err != nil || len(page) == 0 {
			return err
		}
		for _, fact := range page {
			if fact.Room != room {
				return fmt.Errorf("read room %s: fact %d is of room %q", room, fact.ID, fact.Room)
			}
			if more, err := f(fact); !more || err != nil {
				return err
			}
		}
		next = page[len(page)-1].ID + 1
	}
	return nil
}

// readRoomPage reads the next page of the room's facts, from stream
// sequence next up to through.
func (w *worker) readRoomPage(ctx context.Context, room string, next, through uint64) ([]events.Stored, error) {
	ctx, cancel := context.WithTimeout(ctx, publishTimeout)
	defer cancel()
	facts, err := events.ReadSubject(ctx, w.v.js, events.RoomSubject(room), next, through, reloadPage)
	if err != nil {
		return nil, fmt.Errorf("read room %s from %d: %w", room, next, err)
	}
	return facts, nil
}
