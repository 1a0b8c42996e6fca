package validator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
	"github.com/prometheus/client_golang/prometheus"
)

// maxCommitBatch bounds the facts of one atomic batch (the server takes up
// to 1,000). With one fact per worker at a time it is rarely reached.
const maxCommitBatch = 256

// minAtomicBatch is the smallest batch written as an atomic batch where
// the server syncs every write. An atomic batch has a fixed cost on a single
// node (the server stages it in a store of its own, then syncs the stream
// once): about that of sixteen facts published one by one, each synced.
// Fewer facts are published one by one, all at once.
const minAtomicBatch = 16

// minAtomic is the smallest atomic batch for a server that syncs every write
// or not (deferredSync): without syncs to save, none pays, and 0 turns them
// off.
func minAtomic(deferredSync bool) int {
	if deferredSync {
		return 0
	}
	return minAtomicBatch
}

// Headers of JetStream's atomic batch publish.
const (
	batchIDHeader     = "Nats-Batch-Id"
	batchSeqHeader    = "Nats-Batch-Sequence"
	batchCommitHeader = "Nats-Batch-Commit"
)

// committer writes the facts the workers decide to CHAT_EVT, group
// committed: whatever the workers handed in while the previous batch was
// being written goes out as one atomic batch, which the server stores, syncs
// to disk once and acknowledges as a whole (docs/adr/0011-group-commit.md).
//
// Each fact keeps the checks it would have alone: its command id as
// Nats-Msg-Id and its room's expected last subject sequence. A batch refused
// as a whole (one stale sequence, one duplicate id) is split: each fact is
// published on its own, so only the facts that were refused are refused, and
// their workers reload the room and decide again as before.
//
// One goroutine runs it, one batch in flight at a time: batches then grow
// with the load, and a room never has two facts in flight (its worker waits
// for each).
type committer struct {
	nc      *nats.Conn
	js      jetstream.JetStream
	q       chan *pendingFact
	batches prometheus.Histogram // facts per atomic batch; nil: not recorded
	// took records each group's write time by how it was written; nil:
	// not recorded.
	took *prometheus.HistogramVec
	// minAtomic is the smallest batch written as an atomic batch; 0: none.
	minAtomic int

	// carry holds facts put off to the next batch: a batch may hold one
	// fact per room, since the server cannot check a subject's expected
	// sequence against a fact of the same batch.
	carry []*pendingFact
	// now is the clock deadlines are read on.
	now func() time.Time
}

// pendingFact is one fact handed to the committer, and how it ended.
type pendingFact struct {
	subject string
	data    []byte
	msgID   string
	expect  uint64 // the room's expected last subject sequence
	// deadline, if set, is when the fact's command stops being decided:
	// a fact not yet written by then is not written (errExpired).
	deadline time.Time
	done     chan commitResult
}

// errExpired: the fact's command reached its deadline before the fact was
// written; nothing was written.
var errExpired = errors.New("the command's deadline passed before its fact was written")

type commitResult struct {
	ack *jetstream.PubAck
	err error
}

func newCommitter(nc *nats.Conn, js jetstream.JetStream, batches prometheus.Histogram, took *prometheus.HistogramVec, minAtomic int) *committer {
	return &committer{nc: nc, js: js, q: make(chan *pendingFact, maxCommitBatch), batches: batches, took: took, minAtomic: minAtomic, now: time.Now}
}

// observe records that a group written how began at start.
func (c *committer) observe(how string, start time.Time) {
	if c.took != nil {
		c.took.WithLabelValues(how).Observe(time.Since(start).Seconds())
	}
}

// append hands a fact to the batch being gathered and waits until it is
// written. The error is JetStream's own when it refused the fact (wrong last
// sequence, for one); when ctx ends first the fact may or may not be in the
// log, as with any publish whose answer was lost. A fact whose deadline
// (if not zero) passes before its batch is written is not written: errExpired.
func (c *committer) append(ctx context.Context, subject string, data []byte, msgID string, expect uint64, deadline time.Time) (*jetstream.PubAck, error) {
	f := &pendingFact{subject: subject, data: data, msgID: msgID, expect: expect, deadline: deadline, done: make(chan commitResult, 1)}
	select {
	case c.q <- f:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case r := <-f.done:
		return r.ack, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// run writes batches until ctx ends.
func (c *committer) run(ctx context.Context) {
	for {
		batch, ok := c.gather(ctx)
		if !ok {
			return
		}
		c.write(ctx, batch)
	}
}

// gather waits for a first fact, then takes whatever else is waiting, at
// most one fact per subject.
func (c *committer) gather(ctx context.Context) ([]*pendingFact, bool) {
	batch := make([]*pendingFact, 0, len(c.carry)+1)
	subjects := make(map[string]struct{}, len(c.carry)+1)
	add := func(f *pendingFact) {
		if _, dup := subjects[f.subject]; dup {
			c.carry = append(c.carry, f)
			return
		}
		subjects[f.subject] = struct{}{}
		batch = append(batch, f)
	}
	carried := c.carry
	c.carry = nil
	for _, f := range carried {
		add(f)
	}
	if len(batch) == 0 {
		select {
		case f := <-c.q:
			add(f)
		case <-ctx.Done():
			return nil, false
		}
	}
	for len(batch) < maxCommitBatch {
		select {
		case f := <-c.q:
			add(f)
		default:
			return batch, true
		}
	}
	return batch, true
}

// write publishes batch and tells each fact how it ended.
func (c *committer) write(ctx context.Context, batch []*pendingFact) {
	batch = c.dropExpired(batch)
	if len(batch) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, publishTimeout)
	defer cancel()
	start := time.Now()
	if c.minAtomic == 0 || len(batch) < c.minAtomic {
		c.publishEach(ctx, batch)
		c.observe("each", start)
		return
	}
	defer c.observe("atomic", start)
	if c.batches != nil {
		c.batches.Observe(float64(len(batch)))
	}
	last, err := c.publishBatch(ctx, batch)
	var refused *jetstream.APIError
	switch {
	case err == nil:
		// An atomic batch is stored in order with nothing between its
		// messages: the commit's sequence is the last one's.
		for i, f := range batch {
			seq := last.Sequence - uint64(len(batch)-1-i)
			f.done <- commitResult{ack: &jetstream.PubAck{Stream: last.Stream, Sequence: seq, Domain: last.Domain}}
		}
	case errors.As(err, &refused):
		// Nothing of the batch was stored: split it.
		c.publishEach(ctx, batch)
	default:
		// No answer: the batch may have been stored or not. Each worker
		// finds out when it reloads its room.
		for _, f := range batch {
			f.done <- commitResult{err: fmt.Errorf("atomic batch of %d facts: %w", len(batch), err)}
		}
	}
}

// dropExpired tells the facts of batch whose deadline has passed that they
// are not written, and returns the others.
func (c *committer) dropExpired(batch []*pendingFact) []*pendingFact {
	now := c.now()
	return slices.DeleteFunc(batch, func(f *pendingFact) bool {
		if f.deadline.IsZero() || !now.After(f.deadline) {
			return false
		}
		f.done <- commitResult{err: errExpired}
		return true
	})
}

// publishEach publishes each fact of batch on its own, all at once, and
// tells each how it ended.
func (c *committer) publishEach(ctx context.Context, batch []*pendingFact) {
	futures := make([]jetstream.PubAckFuture, len(batch))
	for i, f := range batch {
		fut, err := c.js.PublishMsgAsync(f.msg())
		if err != nil {
			f.done <- commitResult{err: err}
			continue
		}
		futures[i] = fut
	}
	for i, fut := range futures {
		if fut == nil {
			continue
		}
		var r commitResult
		select {
		case r.ack = <-fut.Ok():
		case r.err = <-fut.Err():
		case <-ctx.Done():
			r.err = ctx.Err()
		}
		batch[i].done <- r
	}
}

// batchAck is the server's answer to a batch's commit.
type batchAck struct {
	jetstream.PubAck
	Count int                 `json:"count"`
	Error *jetstream.APIError `json:"error,omitempty"`
}

// publishBatch sends batch as one atomic batch: every message but the last
// without a reply, the last as the commit, whose answer covers them all.
func (c *committer) publishBatch(ctx context.Context, batch []*pendingFact) (*jetstream.PubAck, error) {
	id := nuid.Next()
	for i, f := range batch {
		m := f.msg()
		m.Header.Set(batchIDHeader, id)
		m.Header.Set(batchSeqHeader, strconv.Itoa(i+1))
		if i < len(batch)-1 {
			if err := c.nc.PublishMsg(m); err != nil {
				return nil, err
			}
			continue
		}
		m.Header.Set(batchCommitHeader, "1")
		resp, err := c.nc.RequestMsgWithContext(ctx, m)
		if err != nil {
			return nil, err
		}
		var ack batchAck
		if err := json.Unmarshal(resp.Data, &ack); err != nil {
			return nil, fmt.Errorf("batch commit answer: %w", err)
		}
		if ack.Error != nil {
			return nil, ack.Error
		}
		if ack.Count != len(batch) {
			return nil, fmt.Errorf("batch commit stored %d of %d facts", ack.Count, len(batch))
		}
		return &ack.PubAck, nil
	}
	return nil, errors.New("empty batch")
}

// msg is the fact as a message of its own, with its checks.
func (f *pendingFact) msg() *nats.Msg {
	m := nats.NewMsg(f.subject)
	m.Data = f.data
	m.Header.Set(jetstream.MsgIDHeader, f.msgID)
	m.Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(f.expect, 10))
	return m
}
