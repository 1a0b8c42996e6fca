package pinned

import (
	"context"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Loop asks a pinned consumer for messages, one Fetch request after
// another, and hands them over until its context ends.
//
// It never cuts a request short: a request always ends at the server (all
// it asked for brought, or expired) before its inbox goes away, so stopping
// never strands a message in a dead inbox, and what the caller gives back
// (Nak) once Run has returned cannot come back to a request of its own.
//
// As it is, a loop opens a request only once the one before has ended and
// every message it brought was handed over: the validator's partitions hand
// each command over as it comes. Ahead and Flush make it a loop for batch
// work (the projector's feeds): the next request is on its way while a
// batch is worked on, and a batch is worked on as soon as it is full or a
// short while after its first message, whichever comes first.
type Loop struct {
	Group string        // the priority group
	Batch int           // messages one request asks for
	Wait  time.Duration // how long one request waits for them
	// Deliver is given every message, in the order the consumer sends
	// them, and Delivered (if set) the count of each request that
	// delivered some.
	Deliver   func(jetstream.Msg)
	Delivered func(n int)

	// Ahead opens the next request as soon as the open one has brought all
	// the Batch messages it asked for, before the last of them is handed
	// over: the next messages are then on their way while Deliver and
	// Flush work on these. Only one request is ever waiting at the server.
	Ahead bool
	// Flush (if set) is called to have the messages handed over since the
	// last Flush worked on together: once Batch of them were handed over,
	// FlushAfter after the first of them, as soon as no further message is
	// waiting (if FlushIdle), and before a request that ended is followed
	// by another. It is never called once ctx has ended: what was handed
	// over and not flushed is then the caller's to give back.
	Flush      func()
	FlushAfter time.Duration
	FlushIdle  bool

	// Unpinned (if set) is called when a request ended because another
	// instance holds the pin.
	Unpinned func()
	// Recover is called with the error a request ended with when it ended
	// Gone or NoAnswer. It returns the consumer to pull from (the same, or
	// one made again) and whether to ask again at once rather than after a
	// pause.
	Recover func(ctx context.Context, cons jetstream.Consumer, err error) (jetstream.Consumer, bool)
	// Pauses after a failed request grow from MinBackoff to MaxBackoff.
	MinBackoff, MaxBackoff time.Duration
	Logger                 *slog.Logger
}

// Run pulls cons until ctx ends. It returns once the last request is over
// and all it brought was handed to Deliver, so nothing can be in flight to
// this instance after it returns: about Wait after ctx ended, unless
// Deliver holds it up.
func (l Loop) Run(ctx context.Context, cons jetstream.Consumer) {
	r := &run{Loop: l, ctx: ctx, cons: cons, backoff: l.MinBackoff}
	r.loop()
}

// run is the state of one Run.
type run struct {
	Loop
	ctx     context.Context
	cons    jetstream.Consumer
	backoff time.Duration
	req     *request // the open request, nil between two
	failed  error    // why the request Ahead opens failed to open, if it did
	held    int      // messages handed over since the last Flush
	timer   *time.Timer
	flushC  <-chan time.Time // FlushAfter after the first held message
}

// request is one pull request.
type request struct {
	batch jetstream.MessageBatch
	msgs  <-chan jetstream.Msg
	n     int // messages it brought
}

func (r *run) loop() {
	stopping := r.ctx.Done()
	defer r.stopTimer()
	for {
		if r.req == nil {
			if r.ctx.Err() != nil {
				return
			}
			err := r.failed
			r.failed = nil
			if err == nil {
				err = r.open()
			}
			if err != nil {
				r.flush()
				r.ended(err)
				continue
			}
		}
		select {
		case m, ok := <-r.req.msgs:
			if !ok {
				r.closed()
				continue
			}
			r.receive(m)
		case <-r.flushC:
			r.flush()
		case <-stopping: // no Flush from now on
			stopping = nil
			r.stopTimer()
		}
	}
}

// open opens a request. It is bounded by Wait, not by ctx.
func (r *run) open() error {
	b, err := r.cons.Fetch(r.Batch, jetstream.FetchMaxWait(r.Wait), jetstream.FetchPriorityGroup(r.Group))
	if err != nil {
		return err
	}
	r.req = &request{batch: b, msgs: b.Messages()}
	return nil
}

// receive hands m over, opening the next request first if m completes the
// open one and the loop runs Ahead.
func (r *run) receive(m jetstream.Msg) {
	r.req.n++
	if r.Ahead && r.req.n == r.Batch {
		r.done()
		if r.ctx.Err() == nil {
			r.failed = r.open()
		}
	}
	r.Deliver(m)
	if r.Flush == nil || r.ctx.Err() != nil {
		return
	}
	r.held++
	idle := r.FlushIdle && (r.req == nil || len(r.req.msgs) == 0)
	if r.held >= r.Batch || idle {
		r.flush()
		return
	}
	if r.held == 1 && r.FlushAfter > 0 {
		// One timer for the whole run: an eager loop would otherwise
		// make one per message.
		if r.timer == nil {
			r.timer = time.NewTimer(r.FlushAfter)
		} else {
			r.timer.Reset(r.FlushAfter)
		}
		r.flushC = r.timer.C
	}
}

// done is the end of the open request: all it brought has arrived.
func (r *run) done() *request {
	req := r.req
	r.req = nil
	if req.n > 0 && r.Delivered != nil {
		r.Delivered(req.n)
	}
	return req
}

// closed handles the end of a request that has brought all it will.
func (r *run) closed() {
	err := r.done().batch.Error()
	r.flush()
	r.ended(err)
}

// flush calls Flush if messages were handed over since the last call and
// ctx has not ended.
func (r *run) flush() {
	if r.held == 0 || r.Flush == nil || r.ctx.Err() != nil {
		return
	}
	r.stopTimer()
	r.held = 0
	r.Flush()
}

func (r *run) stopTimer() {
	if r.timer != nil {
		r.timer.Stop()
	}
	r.flushC = nil
}

// ended handles how a request ended, pausing after a failure.
func (r *run) ended(err error) {
	switch Ended(err) {
	case Done:
	case Unpinned:
		if r.Unpinned != nil {
			r.Unpinned()
		}
	case Gone, NoAnswer:
		if r.Recover == nil {
			r.pause()
			return
		}
		c, again := r.Recover(r.ctx, r.cons, err)
		r.cons = c
		if !again {
			r.pause()
			return
		}
	default:
		r.Logger.Warn("pull", "err", err)
		r.pause()
		return
	}
	r.backoff = r.MinBackoff
}

// pause waits after a failed request, longer each time, until ctx ends.
func (r *run) pause() {
	t := time.NewTimer(r.backoff)
	defer t.Stop()
	select {
	case <-t.C:
	case <-r.ctx.Done():
	}
	r.backoff = min(2*r.backoff, r.MaxBackoff)
}
