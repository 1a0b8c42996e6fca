package validator

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/chillin-chat/chillin/events"
	"github.com/chillin-chat/chillin/events/natstest"
)

// commitCase is one fact handed to the committer in a test.
type commitCase struct {
	room   string
	msgID  string
	expect uint64
}

// commitAll hands facts to a committer that starts only once all of them
// wait in its queue, so that they are written as one batch, and returns
// each fact's outcome and the histogram of written batches.
func commitAll(t *testing.T, js jetstream.JetStream, facts []commitCase) ([]commitResult, *dto.Histogram) {
	t.Helper()
	return commitAllWith(t, js, facts, minAtomicBatch)
}

// commitAllWith is commitAll with a committer whose smallest atomic batch is
// minAtomic.
func commitAllWith(t *testing.T, js jetstream.JetStream, facts []commitCase, minAtomic int) ([]commitResult, *dto.Histogram) {
	t.Helper()
	nc := js.Conn()
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "b", Buckets: []float64{1, 2, 4, 8}})
	c := newCommitter(nc, js, h, nil, minAtomic)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out := make([]commitResult, len(facts))
	appendInOrder(ctx, c, len(facts), func(i int) {
		f := facts[i]
		ack, err := c.append(ctx, events.RoomSubject(f.room), []byte(`{"n":`+fmt.Sprint(i)+`}`), f.msgID, f.expect, time.Time{})
		out[i] = commitResult{ack, err}
	})
	var m dto.Metric
	if err := h.Write(&m); err != nil {
		t.Fatal(err)
	}
	return out, m.GetHistogram()
}

// appendInOrder queues n appends, one call of each per append, in the
// order of i, and then runs the committer until every one has its answer.
func appendInOrder(ctx context.Context, c *committer, n int, each func(i int)) {
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { each(i) })
		for len(c.q) < i+1 {
			time.Sleep(time.Millisecond)
		}
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { c.run(runCtx); close(done) }()
	wg.Wait()
	stop()
	<-done
}

// storedID returns the message id of the fact stored at seq.
func storedID(t *testing.T, js jetstream.JetStream, seq uint64) (subject, id string) {
	t.Helper()
	s, err := js.Stream(context.Background(), events.EvtStream)
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.GetMsg(context.Background(), seq)
	if err != nil {
		t.Fatalf("get %d: %v", seq, err)
	}
	return m.Subject, m.Header.Get(jetstream.MsgIDHeader)
}

// fill returns facts of n rooms of their own, none in the log yet.
func fill(n int) []commitCase {
	var out []commitCase
	for i := range n {
		out = append(out, commitCase{fmt.Sprint("fill-", i), fmt.Sprint("f", i), 0})
	}
	return out
}

// Facts waiting together are written as one atomic batch, each at the
// sequence its answer names; a few are published one by one.
func TestCommitterWritesWaitingFactsAsOneBatch(t *testing.T) {
	for _, n := range []int{minAtomicBatch - 1, minAtomicBatch, 3 * minAtomicBatch} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			js := natstest.Streams(t)
			facts := fill(n)
			out, h := commitAll(t, js, facts)
			atomic := n >= minAtomicBatch
			if atomic && (h.GetSampleCount() != 1 || h.GetSampleSum() != float64(n)) ||
				!atomic && h.GetSampleCount() != 0 {
				t.Fatalf("atomic batches: %d holding %v facts", h.GetSampleCount(), h.GetSampleSum())
			}
			checkStored(t, js, facts, out)
		})
	}
}

// Where the server does not sync every write, atomic batches save nothing:
// facts are published one by one, however many wait.
func TestCommitterWithoutSyncsPublishesOneByOne(t *testing.T) {
	js := natstest.Streams(t)
	facts := fill(3 * minAtomicBatch)
	out, h := commitAllWith(t, js, facts, minAtomic(true))
	if h.GetSampleCount() != 0 {
		t.Fatalf("%d atomic batches, want none", h.GetSampleCount())
	}
	checkStored(t, js, facts, out)
}

// checkStored asserts that each fact was stored where its answer says.
func checkStored(t *testing.T, js jetstream.JetStream, facts []commitCase, out []commitResult) {
	t.Helper()
	for i, r := range out {
		if r.err != nil {
			t.Fatalf("fact %d: %v", i, r.err)
		}
		subj, id := storedID(t, js, r.ack.Sequence)
		if subj != events.RoomSubject(facts[i].room) || id != facts[i].msgID {
			t.Errorf("fact %d answered seq %d, which holds %s %s", i, r.ack.Sequence, subj, id)
		}
	}
}

// A batch refused as a whole is split: the fact that was wrong is refused
// alone, with JetStream's own error, and the others are stored once.
func TestCommitterSplitsARefusedBatch(t *testing.T) {
	js := natstest.Streams(t)
	first, _ := commitAll(t, js, []commitCase{{"a", "a1", 0}, {"dup", "d1", 0}})
	for _, r := range first {
		if r.err != nil {
			t.Fatal(r.err)
		}
	}
	aHead := first[0].ack.Sequence

	out, h := commitAll(t, js, append([]commitCase{
		{"a", "a2", 0},     // stale: room a is at aHead
		{"b", "b1", 0},     // fine
		{"dup", "d1", 99},  // a command id already recorded
		{"c", "c1", 0},     // fine
		{"a2", "x1", 1000}, // expects a fact that does not exist
	}, fill(minAtomicBatch)...))
	if n := 5 + minAtomicBatch; h.GetSampleCount() != 1 || h.GetSampleSum() != float64(n) {
		t.Fatalf("batches: %d holding %v facts, want 1 holding %d", h.GetSampleCount(), h.GetSampleSum(), n)
	}
	if !events.IsWrongLastSequence(out[0].err) {
		t.Errorf("stale room a: %v, want wrong last sequence", out[0].err)
	}
	if !events.IsWrongLastSequence(out[4].err) {
		t.Errorf("room a2 expecting 1000: %v, want wrong last sequence", out[4].err)
	}
	if r := out[2]; r.err == nil && (r.ack == nil || !r.ack.Duplicate) {
		t.Errorf("recorded id d1: %+v, want a duplicate or a refusal", r.ack)
	}
	for _, i := range []int{1, 3} {
		if out[i].err != nil {
			t.Fatalf("fact %d: %v", i, out[i].err)
		}
		if _, id := storedID(t, js, out[i].ack.Sequence); id != []string{"", "b1", "", "c1"}[i] {
			t.Errorf("fact %d stored as %q", i, id)
		}
	}
	s, err := js.Stream(context.Background(), events.EvtStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if want := uint64(4 + minAtomicBatch); info.State.Msgs != want {
		t.Errorf("the log holds %d facts, want %d (a1, d1, b1, c1 and the fill)", info.State.Msgs, want)
	}
	if last, err := s.GetLastMsgForSubject(context.Background(), events.RoomSubject("a")); err != nil || last.Sequence != aHead {
		t.Errorf("room a's head: %v, want %d", err, aHead)
	}
}

// A batch holds one fact per room: the server cannot check a room's
// expected sequence against a fact of the same batch. A second fact of a
// room waits for the next batch.
func TestCommitterGathersOneFactPerRoom(t *testing.T) {
	c := newCommitter(nil, nil, nil, nil, minAtomicBatch)
	for _, room := range []string{"a", "b", "a", "c", "b"} {
		c.q <- &pendingFact{subject: events.RoomSubject(room)}
	}
	var rooms [][]string
	for range 2 {
		batch, ok := c.gather(context.Background())
		if !ok {
			t.Fatal("gather ended")
		}
		var got []string
		for _, f := range batch {
			got = append(got, f.subject[len(events.RoomSubject("")):])
		}
		rooms = append(rooms, got)
	}
	if fmt.Sprint(rooms) != "[[a b c] [a b]]" {
		t.Errorf("batches %v, want [[a b c] [a b]]", rooms)
	}
}
