package validator

import (
	"context"
	"errors"
	"hash/fnv"
	"slices"
	"sync"

	"github.com/chillin-chat/chillin/events"
	"github.com/chillin-chat/chillin/events/pinned"
	"github.com/nats-io/nats.go/jetstream"
)

// A command partition is one durable consumer of CHAT_CMD, pinned to one
// instance at a time. Its pull loop hands each command to the worker of its
// subject, in delivery order; a partition taken over is first read from the
// stream (takeOver), so that commands another instance held are decided
// before newer ones.

// pull asks partition p for commands and dispatches them until ctx ends
// (pinned.Loop). It pulls with explicit requests (Fetch) rather than a
// continuous Consume: a request always ends at the server (batch full or
// expired) before its inbox goes away, so stopping never strands a command
// in a dead inbox. A stranded command would keep the partition pinned to
// this instance (which never saw its pin id) until the pinned TTL, and come
// back in the server's redelivery order rather than the stream's.
func (v *validator) pull(ctx context.Context, p int, cons jetstream.Consumer) {
	pinned.Loop{
		Group: events.ValidatorGroup, Batch: pullBatch, Wait: pullWait,
		Deliver:   func(m jetstream.Msg) { v.dispatch(p, m) },
		Delivered: func(n int) { v.metrics.batch.Observe(float64(n)) },
		// No one answered the request, or the consumer is gone: NATS may
		// have restarted without the consumer and the stream, which live
		// in memory.
		Recover: func(ctx context.Context, cons jetstream.Consumer, _ error) (jetstream.Consumer, bool) {
			return v.recover(ctx, p, cons)
		},
		MinBackoff: backoffMin, MaxBackoff: backoffMax,
		Logger: v.log.With("partition", p),
	}.Run(ctx, cons)
}

// lost reports whether a request failed because the consumer, or the
// command stream itself, is gone.
func lost(err error) bool { return pinned.Ended(err) == pinned.Gone }

// recover checks that partition p's consumer still exists, and restores it
// if it does not. It reports the consumer to pull from and whether to pull
// again at once.
func (v *validator) recover(ctx context.Context, p int, cons jetstream.Consumer) (jetstream.Consumer, bool) {
	ctx, cancel := context.WithTimeout(ctx, publishTimeout)
	defer cancel()
	_, err := cons.Info(ctx)
	if err == nil {
		return cons, true
	}
	if !lost(err) {
		return cons, false // NATS is away: wait and try again
	}
	c, err := v.restore(ctx, p)
	if err != nil {
		v.log.Warn("restore command partition", "partition", p, "err", err)
		return cons, false
	}
	return c, true
}

// restore makes partition p's consumer again, and the command stream first
// if it is gone too: both are kept in memory, so a NATS restart loses them
// (with the commands they held, which their gateways answer once their
// deadline has passed). A stream made anew numbers its commands from 1
// again, so what this instance knew of p's sequences is forgotten.
func (v *validator) restore(ctx context.Context, p int) (jetstream.Consumer, error) {
	if err := events.EnsureStreams(ctx, v.js, v.cfg.Streams); err != nil {
		return nil, err
	}
	if err := v.states.ensure(ctx); err != nil {
		v.log.Warn("room states will be folded from the log", "err", err)
	}
	c, err := v.cmds.CreateOrUpdateConsumer(ctx, events.ValidatorConsumerConfig(p))
	if err != nil {
		return nil, err
	}
	v.consumers.set(p, c)
	v.queued[p] = 0
	v.pins[p].Lost()
	v.readMu.Lock()
	v.read[p] = nil
	v.readMu.Unlock()
	v.log.Info("command partition restored", "partition", p)
	return c, nil
}

// consumerSet holds the partitions' consumers: a partition's pull loop
// replaces its own when NATS lost it, while metrics read them all.
type consumerSet struct {
	mu sync.Mutex
	c  []jetstream.Consumer
}

func (s *consumerSet) get(p int) jetstream.Consumer {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.c[p]
}

func (s *consumerSet) set(p int, c jetstream.Consumer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.c[p] = c
}

func (s *consumerSet) all() []jetstream.Consumer {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.c)
}

// dispatch hands a command to the worker of its subject: one room's commands
// always go to one worker, in the order the partition delivers them.
func (v *validator) dispatch(p int, m jetstream.Msg) {
	it := item{p: p, m: m}
	md, mdErr := m.Metadata()
	if mdErr == nil {
		it.seq = md.Sequence.Stream
	}
	if changed, _ := v.pins[p].Seen(m); changed && mdErr == nil {
		v.takeOver(p, it.seq)
	}
	if mdErr == nil && md.NumDelivered > 1 {
		v.metrics.redeliveries.WithLabelValues(events.ValidatorConsumerName(p)).Inc()
	}
	v.queue(it)
}

// takeOver runs when this instance is given partition p, before the first
// command delivered to it (at stream sequence next): it decides first every
// command of p that was ever delivered and not acked, in append order. Those
// are commands another instance took and never settled (it died: the server
// redelivers them only after AckWait, after newer commands of their rooms)
// or handed back (the server redelivers those in an order of its own). The
// work queue keeps only unacked commands, so reading p up to the consumer's
// last delivered sequence finds exactly those. Their deliveries come later
// and are acked as already decided. What this instance already queued is
// not read again: an instance that lost its pin for being slow and got it
// back holds those commands still, in order.
func (v *validator) takeOver(p int, next uint64) {
	ctx, cancel := context.WithTimeout(v.work, publishTimeout)
	defer cancel()
	end := next // read the commands before end
	if info, err := v.consumers.get(p).Info(ctx); err == nil {
		end = max(end, info.Delivered.Stream+1)
	} else {
		v.log.Warn("takeover: commands handed back may be decided out of order", "partition", p, "err", err)
	}
	n := 0
	for seq := v.queued[p] + 1; seq < end; n++ {
		m, err := v.cmds.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(events.PartitionFilter(p)))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			break
		}
		if err != nil {
			v.log.Warn("takeover: older commands are left to redelivery", "partition", p, "err", err)
			break
		}
		if m.Sequence >= end {
			break
		}
		v.readMu.Lock()
		if v.read[p] == nil {
			v.read[p] = map[uint64]bool{}
		}
		v.read[p][m.Sequence] = true
		v.readMu.Unlock()
		v.queue(item{p: p, read: m, seq: m.Sequence})
		seq = m.Sequence + 1
	}
	if n > 0 {
		v.log.Info("took over a partition with commands left unacked", "partition", p, "commands", n)
	}
}

// readBefore reports whether the delivered command at stream sequence seq
// of partition p was read at a takeover, and forgets it: its read copy, on
// the same worker and queued before, has been decided and answered.
func (v *validator) readBefore(p int, seq uint64) bool {
	v.readMu.Lock()
	defer v.readMu.Unlock()
	if !v.read[p][seq] {
		return false
	}
	delete(v.read[p], seq)
	return true
}

// queue hands it to the worker of its subject.
func (v *validator) queue(it item) {
	v.queued[it.p] = max(v.queued[it.p], it.seq)
	h := fnv.New32a()
	h.Write([]byte(it.subject()))
	w := v.workers[h.Sum32()%uint32(len(v.workers))]
	if it.m == nil {
		w.q <- it
		return
	}
	select {
	case v.inFlight[it.p] <- struct{}{}:
		it.slot = true
	case <-v.work.Done():
		// Past the deadline the workers hold commands without a slot, to
		// return them all at the end.
	}
	w.q <- it
}

// settled frees the in-flight slot of a command that was acked, dropped or
// returned.
func (v *validator) settled(it item) {
	if it.slot {
		<-v.inFlight[it.p]
	}
}

// nak returns a command to the server for redelivery, remembering it as the
// partition's last so shutdown can wait until the server has taken them all.
func (v *validator) nak(it item) {
	defer v.settled(it)
	if it.m == nil {
		return
	}
	if err := it.m.Nak(); err != nil {
		v.log.Debug("nak", "partition", it.p, "err", err)
	}
	v.mu.Lock()
	v.lastNak[it.p] = it.m
	v.mu.Unlock()
}
