package validator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/chillin-chat/chillin/events"
	"github.com/chillin-chat/chillin/validator/internal/decide"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

// Room states evicted from a worker's cache are kept as snapshots in
// CHAT_ROOMSTATE, a stream in the NATS servers' memory, so that the next
// command of the room starts from the state and reads only the facts after
// it. Without them, a reload folds the room from its first fact, and the
// server finds each next fact of a room by scanning the facts of every other
// room in between: the cost of a reload grows with the whole log.
//
// A snapshot is a cache of the log, never a source: it names the log it was
// folded from and its last fact, the facts after it are read from the log
// before it decides anything, and one that does not fit the log is dropped
// for a fold. Losing the stream (a NATS restart) costs folds, nothing else.
const (
	StateStream = "CHAT_ROOMSTATE"
	// DefaultRoomSnapshotBytes is the default of Config.RoomSnapshotBytes.
	DefaultRoomSnapshotBytes = 256 << 20
	// maxSnapshot bounds one snapshot: a room whose state is larger (some
	// 40,000 messages and more) is folded from the log when evicted. Such a
	// room is busy, and rarely the least recently used.
	maxSnapshot = 1 << 20
	// logHeader names the log (the creation time of CHAT_EVT) a snapshot
	// was folded from: a log made anew numbers its facts from 1 again.
	logHeader = "Chillin-Log"
)

func stateSubject(room string) string { return "chat.state.room." + room }

// stateStreamConfig keeps the newest snapshot of each room, within maxBytes,
// the oldest dropped first. One replica: it is a cache.
func stateStreamConfig(maxBytes int64) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:              StateStream,
		Description:       "Chillin validator room states: a cache of the log",
		Subjects:          []string{stateSubject("*")},
		Retention:         jetstream.LimitsPolicy,
		Storage:           jetstream.MemoryStorage,
		MaxMsgsPerSubject: 1,
		MaxBytes:          maxBytes,
		MaxMsgSize:        maxSnapshot + 1024,
		Discard:           jetstream.DiscardOld,
		Replicas:          1,
		AllowDirect:       true,
	}
}

// roomStates saves and loads the snapshots of one validator instance's
// rooms. The zero budget turns it off: nothing is saved, nothing found.
type roomStates struct {
	nc       *nats.Conn
	js       jetstream.JetStream
	maxBytes int64
	log      string // the log the rooms are folded from
	window   int
	digests  int
	logger   *slog.Logger
	// saved counts snapshots by outcome (saved, too_large).
	saved  *prometheus.CounterVec
	stream atomic.Pointer[jetstream.Stream]
}

// ensure creates CHAT_ROOMSTATE or sets its bound; it is kept in memory, so
// a NATS restart loses it and the validator makes it again.
func (s *roomStates) ensure(ctx context.Context) error {
	if s.maxBytes <= 0 {
		return nil
	}
	st, err := events.UntilAnswered(ctx, func(ctx context.Context) (jetstream.Stream, error) {
		return s.js.CreateOrUpdateStream(ctx, stateStreamConfig(s.maxBytes))
	})
	if err != nil {
		return fmt.Errorf("stream %s: %w", StateStream, err)
	}
	s.stream.Store(&st)
	return nil
}

// save publishes r's snapshot without waiting: a snapshot lost on the way
// costs a fold, nothing else.
func (s *roomStates) save(r *decide.Room) {
	if s.maxBytes <= 0 {
		return
	}
	snap := r.Snapshot()
	if len(snap) > maxSnapshot {
		s.saved.WithLabelValues("too_large").Inc()
		return
	}
	m := nats.NewMsg(stateSubject(r.ID))
	m.Header.Set(logHeader, s.log)
	m.Data = snap
	if err := s.nc.PublishMsg(m); err != nil {
		s.logger.Debug("room snapshot not saved", "room", r.ID, "err", err)
		return
	}
	s.saved.WithLabelValues("saved").Inc()
}

// load returns the snapshot of room id, if there is one of this log and
// window. Any failure to read one is a miss: the room is then folded.
func (s *roomStates) load(ctx context.Context, id string) (*decide.Room, bool) {
	st := s.stream.Load()
	if st == nil {
		return nil, false
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	m, err := (*st).GetLastMsgForSubject(ctx, stateSubject(id))
	if err != nil {
		if !errors.Is(err, jetstream.ErrMsgNotFound) {
			s.logger.Debug("room snapshot not read", "room", id, "err", err)
		}
		return nil, false
	}
	if m.Header.Get(logHeader) != s.log {
		return nil, false
	}
	r, err := decide.RestoreRoom(id, s.window, m.Data)
	if err != nil {
		s.logger.Warn("room snapshot refused", "room", id, "err", err)
		return nil, false
	}
	r.SetDigestWindow(s.digests)
	return r, true
}
