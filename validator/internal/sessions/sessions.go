package sessions

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/chillin-chat/chillin/events"
	"github.com/chillin-chat/chillin/validator/internal/decide"
	"github.com/nats-io/nats.go/jetstream"
)

// DefaultSize is the default bound of a Directory, in sessions.
const DefaultSize = 100_000

// Directory is the live session directory.
type Directory struct {
	js   jetstream.JetStream
	evt  jetstream.Stream
	log  *slog.Logger
	size int
	now  func() time.Time

	mu  sync.Mutex
	ss  decide.Sessions
	lru list.List                // session ids, most recently used first
	at  map[string]*list.Element // each id's element of lru

	cc jetstream.ConsumeContext
}

// Start folds every session fact in the log, returns once the directory has
// caught up with the facts that were there when it started, and keeps
// folding new facts until Stop. It holds at most size sessions (DefaultSize
// if size < 1).
func Start(ctx context.Context, js jetstream.JetStream, evt jetstream.Stream, size int, log *slog.Logger) (*Directory, error) {
	if size < 1 {
		size = DefaultSize
	}
	d := &Directory{js: js, evt: evt, log: log, size: size, now: time.Now, ss: decide.Sessions{}, at: map[string]*list.Element{}}
	var target uint64
	switch last, err := lastSessionFact(ctx, evt); {
	case errors.Is(err, jetstream.ErrMsgNotFound):
	case err != nil:
		return nil, fmt.Errorf("sessions: last session fact: %w", err)
	default:
		target = last.Sequence
	}
	cons, err := js.OrderedConsumer(ctx, events.EvtStream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{events.AllSessionFacts},
		DeliverPolicy:  jetstream.DeliverAllPolicy,
	})
	if err != nil {
		return nil, fmt.Errorf("sessions: consumer: %w", err)
	}
	caught := make(chan struct{})
	var once sync.Once
	if target == 0 {
		once.Do(func() { close(caught) })
	}
	d.cc, err = cons.Consume(func(m jetstream.Msg) {
		s, err := events.DecodeConsumedMsg(m)
		if err == nil {
			d.mu.Lock()
			err = d.fold(s)
			d.mu.Unlock()
		}
		if err != nil {
			d.log.Error("sessions: skipping a session fact", "err", err)
		}
		if md, mdErr := m.Metadata(); mdErr == nil && md.Sequence.Stream >= target {
			once.Do(func() { close(caught) })
		}
	}, jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		d.log.Debug("sessions: consumer", "err", err)
	}))
	if err != nil {
		return nil, fmt.Errorf("sessions: consume: %w", err)
	}
	select {
	case <-caught:
		return d, nil
	case <-ctx.Done():
		d.cc.Stop()
		return nil, ctx.Err()
	}
}

// Stop ends the live feed.
func (d *Directory) Stop() { d.cc.Stop() }

// Lookup returns the session id of user as the log knows it; known is false
// when the log has no such session of that user. A session the directory
// does not hold (never seen, or evicted) is read from the log.
func (d *Directory) Lookup(ctx context.Context, user, id string) (s decide.Session, known bool, err error) {
	if s, known = d.get(id); known || id == "" || !events.ValidUsername(user) {
		return s, known, nil
	}
	subject := events.SessionSubject(user)
	last, ok, err := events.LastOnSubject(ctx, d.evt, subject)
	if err != nil || !ok {
		return s, false, err
	}
	facts, err := events.ReadSubject(ctx, d.js, subject, 1, last.ID, 0)
	if err != nil {
		return s, false, fmt.Errorf("sessions of %s: %w", user, err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, f := range facts {
		// Only the session asked for is folded: the user's others would
		// crowd out sessions in use.
		if fid, err := decide.SessionOf(f); err != nil || fid != id {
			continue
		}
		if err := d.fold(f); err != nil {
			d.log.Error("sessions: skipping a session fact", "user", user, "err", err)
		}
	}
	s, known = d.ss[id]
	return s, known, nil
}

// Record folds a session fact this instance appended, so that the commands
// it decides next see it before the live feed brings it (which folds it
// again, to no effect).
func (d *Directory) Record(s events.Stored) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.fold(s)
}

// get returns session id if the directory holds it, as the most recently
// used. A session past its expiry is answered once more and evicted: it can
// never be used again, and a later lookup reads it from the log.
func (d *Directory) get(id string) (decide.Session, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	s, ok := d.ss[id]
	if !ok {
		return s, false
	}
	if !s.ExpiresAt.IsZero() && !d.now().Before(s.ExpiresAt) {
		d.evict(d.at[id])
		return s, true
	}
	d.lru.MoveToFront(d.at[id])
	return s, true
}

// fold applies a session fact and makes its session the most recently
// used, evicting the least recently used beyond the directory's size. It
// runs under d.mu.
func (d *Directory) fold(s events.Stored) error {
	id, err := d.ss.Fold(s)
	if err != nil {
		return err
	}
	if e, ok := d.at[id]; ok {
		d.lru.MoveToFront(e)
	} else {
		d.at[id] = d.lru.PushFront(id)
	}
	for d.lru.Len() > d.size {
		d.evict(d.lru.Back())
	}
	return nil
}

func (d *Directory) evict(e *list.Element) {
	id := d.lru.Remove(e).(string)
	delete(d.ss, id)
	delete(d.at, id)
}

// Len is how many sessions the directory holds.
func (d *Directory) Len() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.ss)
}

// lastSessionFact reads the log's last session fact, waiting while
// JetStream does not answer (a stream just made on a cluster has no leader
// yet) until ctx ends.
func lastSessionFact(ctx context.Context, evt jetstream.Stream) (*jetstream.RawStreamMsg, error) {
	return events.UntilAnswered(ctx, func(ctx context.Context) (*jetstream.RawStreamMsg, error) {
		return evt.GetLastMsgForSubject(ctx, events.AllSessionFacts)
	})
}
