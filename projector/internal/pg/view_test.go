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

// A fact the view cannot apply stops it: the facts before it are applied
// and checkpointed, it and those after it are not, and applying again stops
// at the same place.
func TestViewStopsAtPoison(t *testing.T) {
	f := func(id uint64, typ, room string, seq uint64, user string, data any) events.Stored {
		return events.Stored{ID: id, Fact: projtest.Fact(t, id, typ, room, seq, user, data)}
	}
	badPayload := f(4, events.MessagePosted, "lobby", 3, "ann", events.MessagePostedData{})
	badPayload.Data = json.RawMessage(`{"text": 5}`)
	for _, tc := range []struct {
		name   string
		poison func(batch []feed.Item)
		at     uint64
	}{
		{"not a fact, as the feed hands it over", func(b []feed.Item) { b[2] = feed.Item{Seq: 3, Err: errNotAFact} }, 3},
		{"a payload that does not decode", func(b []feed.Item) { b[3] = items([]events.Stored{badPayload})[0] }, 4},
		// Postgres cannot store NUL in text: the batch is refused and
		// applied fact by fact up to it.
		{"text postgres refuses", func(b []feed.Item) {
			b[4] = items([]events.Stored{f(5, events.MessagePosted, "lobby", 4, "ann", events.MessagePostedData{Text: "nul \x00 here", ClientID: "a2"})})[0]
		}, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pool, _ := schematest.NewDB(t)
			log, logs := projtest.Logger(t)
			batch := items([]events.Stored{
				f(1, events.RoomCreated, "lobby", 1, "ann", events.RoomCreatedData{Name: "Lobby"}),
				f(2, events.MessagePosted, "lobby", 2, "ann", events.MessagePostedData{Text: "fine", ClientID: "a1"}),
				f(3, events.MessagePosted, "lobby", 3, "ann", events.MessagePostedData{Text: "three", ClientID: "a3"}),
				f(4, events.MessagePosted, "lobby", 4, "ann", events.MessagePostedData{Text: "four", ClientID: "a4"}),
				f(5, events.MessagePosted, "lobby", 5, "ann", events.MessagePostedData{Text: "five", ClientID: "a5"}),
				f(6, events.MessagePosted, "lobby", 6, "ann", events.MessagePostedData{Text: "after", ClientID: "a6"}),
			})
			tc.poison(batch)
			v := NewView(pool, nil, log, 500)
			for range 2 {
				if err := v.Apply(ctxT(t), batch); !errors.Is(err, ErrStopped) {
					t.Fatalf("apply: %v, want ErrStopped", err)
				}
			}
			if got := projtest.Checkpoint(t, pool); got != tc.at-1 {
				t.Errorf("checkpoint %d, want %d", got, tc.at-1)
			}
			if got, want := projtest.Count(t, pool, "messages"), int(tc.at)-2; got != want {
				t.Errorf("%d messages, want %d (those before the poison fact)", got, want)
			}
			if n := strings.Count(logs.String(), "fact cannot be projected"); n != 1 {
				t.Errorf("the stop was logged %d times, want once:\n%s", n, logs)
			}
			if logs.Contains("skipped") {
				t.Errorf("a fact was skipped:\n%s", logs)
			}
		})
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
