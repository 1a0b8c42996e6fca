package sessions

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/chillin-chat/chillin/events"
	"github.com/chillin-chat/chillin/validator/internal/decide"
	"github.com/nats-io/nats.go/jetstream"
)

// Directory is the live session directory.
type Directory struct {
	js  jetstream.JetStream
	evt jetstream.Stream
	log *slog.Logger

	mu sync.RWMutex
	ss decide.Sessions

	cc jetstream.ConsumeContext
}

// Start folds every session fact in the log, returns once the directory has
// caught up with the facts that were there when it started, and keeps
// folding new facts until Stop.
func Start(ctx context.Context, js jetstream.JetStream, evt jetstream.Stream, log *slog.Logger) (*Directory, error) {
	d := &Directory{js: js, evt: evt, log: log, ss: decide.Sessions{}}
	var target uint64
	switch last, err := evt.GetLastMsgForSubject(ctx, events.AllSessionFacts); {
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
			err = d.ss.Apply(s)
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
// when the log has no such session of that user.
func (d *Directory) Lookup(ctx context.Context, user, id string) (s decide.Session, known bool, err error) {
	d.mu.RLock()
	s, known = d.ss[id]
	d.mu.RUnlock()
	if known || id == "" || !events.ValidUsername(user) {
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
		if err := d.ss.Apply(f); err != nil {
			d.log.Error("sessions: skipping a session fact", "user", user, "err", err)
		}
	}
	s, known = d.ss[id]
	return s, known, nil
}
