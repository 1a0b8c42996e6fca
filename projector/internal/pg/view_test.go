package pg

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"

	"github.com/chillin-chat/chillin/events"
	"github.com/chillin-chat/chillin/events/natstest"
	"github.com/chillin-chat/chillin/projector/internal/feed"
	"github.com/chillin-chat/chillin/projector/internal/projtest"
	"github.com/chillin-chat/chillin/schema/schematest"
)

func ctxT(tb testing.TB) context.Context {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	tb.Cleanup(cancel)
	return ctx
}

// stored gives facts the stream sequences 1, 2, 3, … they get in a fresh stream.
func stored(facts []events.Fact) []events.Stored {
	out := make([]events.Stored, len(facts))
	for i, f := range facts {
		out[i] = events.Stored{ID: uint64(i + 1), Fact: f}
	}
	return out
}

func items(facts []events.Stored) []feed.Item {
	out := make([]feed.Item, len(facts))
	for i, f := range facts {
		out[i] = feed.Item{Seq: f.ID, Fact: f}
	}
	return out
}

// applyAll applies facts in batches of n.
func applyAll(tb testing.TB, v *View, facts []events.Stored, n int) {
	tb.Helper()
	for i := 0; i < len(facts); i += n {
		if err := v.Apply(ctxT(tb), items(facts[i:min(i+n, len(facts))])); err != nil {
			tb.Fatalf("apply batch at %d: %v", i, err)
		}
	}
}

// evtStream publishes facts to a fresh CHAT_EVT and returns the stream.
func evtStream(tb testing.TB, facts []events.Fact) jetstream.Stream {
	tb.Helper()
	js := natstest.Streams(tb)
	projtest.Publish(tb, js, facts...)
	s, err := js.Stream(ctxT(tb), events.EvtStream)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func TestViewAppliesScenario(t *testing.T) {
	facts := stored(projtest.Scenario(t))
	for _, n := range []int{1, 4, len(facts)} {
		t.Run("batches of "+strconv.Itoa(n), func(t *testing.T) {
			pool, _ := schematest.NewDB(t)
			log, _ := projtest.Logger(t)
			v := NewView(pool, nil, log, 500)
			applyAll(t, v, facts, n)
			want := projtest.ScenarioTables()
			if got := projtest.Dump(t, pool); got != want {
				t.Fatalf("tables:\n%s\nwant:\n%s", got, want)
			}
			// Replay through a view that does not know the checkpoint: the
			// stored checkpoint makes it a no-op.
			applyAll(t, NewView(pool, nil, log, 500), facts, 3)
			if got := projtest.Dump(t, pool); got != want {
				t.Fatalf("after replay:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

func TestViewReplayedInsertsAreNoOps(t *testing.T) {
	// Even with the checkpoint lost, re-running the history leaves the tables
	// as they were: unique keys and guarded updates.
	facts := stored(projtest.Scenario(t))
	pool, _ := schematest.NewDB(t)
	log, _ := projtest.Logger(t)
	applyAll(t, NewView(pool, nil, log, 500), facts, 5)
	if _, err := pool.Exec(ctxT(t), "DELETE FROM projection_checkpoints"); err != nil {
		t.Fatal(err)
	}
	applyAll(t, NewView(pool, nil, log, 500), facts, 7)
	if got, want := projtest.Dump(t, pool), projtest.ScenarioTables(); got != want {
		t.Fatalf("tables:\n%s\nwant:\n%s", got, want)
	}
}

func TestViewReadsMissingFactsFromTheLog(t *testing.T) {
	scenario := projtest.Scenario(t)
	evt := evtStream(t, scenario)
	facts := stored(scenario)
	tests := []struct {
		name    string
		maxFill int
		batches [][]events.Stored
	}{
		{name: "handed only the tail", maxFill: 500, batches: [][]events.Stored{facts[14:]}},
		{name: "tail, several transactions", maxFill: 2, batches: [][]events.Stored{facts[14:]}},
		{name: "holes inside batches", maxFill: 3, batches: [][]events.Stored{
			{facts[0], facts[3], facts[4]}, {facts[9], facts[12]}, {facts[20]},
		}},
		{name: "out of order with redeliveries", maxFill: 500, batches: [][]events.Stored{
			{facts[5], facts[2], facts[4]}, {facts[1], facts[0]}, {facts[20], facts[10], facts[20]},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pool, _ := schematest.NewDB(t)
			log, _ := projtest.Logger(t)
			v := NewView(pool, evt, log, tt.maxFill)
			for _, b := range tt.batches {
				if err := v.Apply(ctxT(t), items(b)); err != nil {
					t.Fatal(err)
				}
			}
			if got, want := projtest.Dump(t, pool), projtest.ScenarioTables(); got != want {
				t.Fatalf("tables:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

func TestViewsSerializeAcrossInstances(t *testing.T) {
	// Two instances that both think they hold the view (a hand-over in
	// progress) apply overlapping batches at once.
	scenario := projtest.Scenario(t)
	evt := evtStream(t, scenario)
	facts := stored(scenario)
	pool, _ := schematest.NewDB(t)
	log, _ := projtest.Logger(t)
	var g errgroup.Group
	for _, n := range []int{2, 3, 5} {
		v := NewView(pool, evt, log, 500)
		g.Go(func() error {
			for i := 0; i < len(facts); i += n {
				if err := v.Apply(context.Background(), items(facts[i:min(i+n, len(facts))])); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	if got, want := projtest.Dump(t, pool), projtest.ScenarioTables(); got != want {
		t.Fatalf("tables:\n%s\nwant:\n%s", got, want)
	}
}

func TestViewSkipsPoison(t *testing.T) {
	pool, _ := schematest.NewDB(t)
	log, logs := projtest.Logger(t)
	f := func(id uint64, typ, room string, seq uint64, user string, data any) events.Stored {
		return events.Stored{ID: id, Fact: projtest.Fact(t, id, typ, room, seq, user, data)}
	}
	badPayload := f(4, events.MessagePosted, "lobby", 3, "ann", events.MessagePostedData{})
	badPayload.Data = json.RawMessage(`{"text": 5}`)
	batch := items([]events.Stored{
		f(1, events.RoomCreated, "lobby", 1, "ann", events.RoomCreatedData{Name: "Lobby"}),
		f(2, events.MessagePosted, "lobby", 2, "ann", events.MessagePostedData{Text: "fine", ClientID: "a1"}),
		{}, // 3: not a fact at all, as the feed hands it over
		badPayload,
		// Postgres cannot store NUL in text: the batch is refused and
		// applied fact by fact.
		f(5, events.MessagePosted, "lobby", 4, "ann", events.MessagePostedData{Text: "nul \x00 here", ClientID: "a2"}),
		f(6, events.MessagePosted, "lobby", 5, "ann", events.MessagePostedData{Text: "after", ClientID: "a3"}),
	})
	batch[2] = feed.Item{Seq: 3, Err: errNotAFact}
	v := NewView(pool, nil, log, 500)
	if err := v.Apply(ctxT(t), batch); err != nil {
		t.Fatalf("apply: %v", err)
	}
	for i, wantPoison := range []bool{false, false, true, true, true, false} {
		if got := batch[i].Err != nil; got != wantPoison {
			t.Errorf("item seq %d: poison = %v (%v), want %v", batch[i].Seq, got, batch[i].Err, wantPoison)
		}
	}
	if got := projtest.Checkpoint(t, pool); got != 6 {
		t.Errorf("checkpoint %d, want 6", got)
	}
	if got := projtest.Count(t, pool, "messages"); got != 2 {
		t.Errorf("%d messages, want 2 (fine, after)", got)
	}
	if !logs.Contains("refused by postgres") {
		t.Errorf("the refused batch was not logged")
	}
	dump := projtest.Dump(t, pool)
	if !strings.Contains(dump, "lobby | Lobby |  | false | NULL | ann | "+projtest.At(1).Format(time.RFC3339)+" | 5 | 6") {
		t.Errorf("room head should reach seq 5 / fact 6:\n%s", dump)
	}
}

// A batch waiting for the view's lock holds no lock on the tables, so the
// holder of the view's lock may lock them (a rebuild's switch drops them)
// without a deadlock, even on a connection that has prepared nothing yet.
func TestViewWaitsForItsLockBeforeTouchingTables(t *testing.T) {
	facts := stored(projtest.Scenario(t))
	pool, dsn := schematest.NewDB(t)
	log, _ := projtest.Logger(t)
	applyAll(t, NewView(pool, nil, log, 500), facts[:5], 5)

	holder, err := pool.Begin(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Rollback(ctxT(t))
	if _, err := holder.Exec(ctxT(t), sqlLock, LockKey); err != nil {
		t.Fatal(err)
	}
	fresh, err := pgxpool.New(ctxT(t), dsn) // no statement prepared yet
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	applied := make(chan error, 1)
	go func() { applied <- NewView(fresh, nil, log, 500).Apply(context.Background(), items(facts[5:])) }()
	projtest.Eventually(t, "the batch waits for the view's lock", func() bool {
		var n int
		_ = pool.QueryRow(ctxT(t), `SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted`).Scan(&n)
		return n == 1
	})
	if _, err := holder.Exec(ctxT(t), `SET LOCAL lock_timeout = 5000`); err != nil {
		t.Fatal(err)
	}
	if _, err := holder.Exec(ctxT(t), `LOCK TABLE projection_checkpoints, messages IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatalf("the waiting batch holds a lock on the tables: %v", err)
	}
	if err := holder.Commit(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if err := <-applied; err != nil {
		t.Fatal(err)
	}
	if got, want := projtest.Dump(t, pool), projtest.ScenarioTables(); got != want {
		t.Fatalf("tables:\n%s\nwant:\n%s", got, want)
	}
}

var errNotAFact = errors.New("decode fact: invalid character 'n' looking for beginning of value")

// BenchmarkApply measures the view's apply throughput: batches of 500 facts
// of busy chat (mostly posts, some edits, reactions and deletes) applied to
// the machine's Postgres, one transaction each.
func BenchmarkApply(b *testing.B) {
	const batch = 500
	pool, _ := schematest.NewDB(b)
	facts, _ := projtest.Burst(b, 0, b.N*batch)
	all := stored(facts)
	v := NewView(pool, nil, slog.New(slog.DiscardHandler), batch)
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		if err := v.Apply(context.Background(), items(all[i*batch:(i+1)*batch])); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*batch)/time.Since(start).Seconds(), "facts/s")
}
