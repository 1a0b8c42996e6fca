package validator

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/chillin-chat/chillin/events"
)

// BenchmarkDurableAppend appends facts of many rooms at once, as the
// validator's workers do (one fact in flight per room), to a JetStream
// server that syncs every write before acknowledging it (sync=always) or
// not (sync=deferred):
//
//   - committer: through the committer, as the validator appends;
//   - committer-each: through the committer, its groups never written as
//     atomic batches (each fact published on its own, all at once);
//   - one-by-one: each fact its own synchronous publish.
//
// It reports facts/s and, where atomic batches were written, the mean facts
// per batch.
//
//	go test -run XXX -bench DurableAppend ./validator/
func BenchmarkDurableAppend(b *testing.B) {
	for _, deferred := range []bool{false, true} {
		for _, rooms := range []int{8, 32, 128} {
			for _, mode := range []string{"committer", "committer-each", "one-by-one"} {
				sync := map[bool]string{false: "always", true: "deferred"}[deferred]
				b.Run(fmt.Sprintf("sync=%s/%s/rooms=%d", sync, mode, rooms), func(b *testing.B) {
					benchAppend(b, deferred, rooms, mode)
				})
			}
		}
	}
}

func benchAppend(b *testing.B, deferred bool, rooms int, mode string) {
	js := syncedStreams(b, !deferred)
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "b"})
	ma := minAtomic(deferred)
	if mode == "committer-each" {
		ma = 0
	}
	c := newCommitter(js.Conn(), js, h, nil, ma)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go c.run(ctx)
	appendOne := func(room string, seq int, last uint64) (uint64, error) {
		subject, data, id := events.RoomSubject(room), []byte(`{"type":"x"}`), fmt.Sprint(room, "-", seq)
		if mode != "one-by-one" {
			ack, err := c.append(ctx, subject, data, id, last, time.Time{})
			if err != nil {
				return 0, err
			}
			return ack.Sequence, nil
		}
		ack, err := js.Publish(ctx, subject, data, jetstream.WithMsgID(id), jetstream.WithExpectLastSequencePerSubject(last))
		if err != nil {
			return 0, err
		}
		return ack.Sequence, nil
	}
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for r := range rooms {
		wg.Go(func() {
			var last uint64
			for i := r; i < b.N; i += rooms {
				seq, err := appendOne(fmt.Sprint("r", r), i, last)
				if err != nil {
					b.Error(err)
					return
				}
				last = seq
			}
		})
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "facts/s")
	if mode == "committer" {
		var m dto.Metric
		if err := h.Write(&m); err == nil && m.GetHistogram().GetSampleCount() > 0 {
			b.ReportMetric(m.GetHistogram().GetSampleSum()/float64(m.GetHistogram().GetSampleCount()), "facts/batch")
		}
	}
}

// syncedStreams starts a JetStream server that syncs every write or not,
// with Chillin's streams, and returns a client of it.
func syncedStreams(tb testing.TB, syncAlways bool) jetstream.JetStream {
	tb.Helper()
	s, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: tb.TempDir(), NoLog: true, NoSigs: true, SyncAlways: syncAlways,
	})
	if err != nil {
		tb.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		tb.Fatal("server not ready")
	}
	tb.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := events.EnsureStreams(ctx, js, events.StreamOptions{}); err != nil {
		tb.Fatal(err)
	}
	return js
}
