package cacheview

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"

	"github.com/chillin-chat/chillin/events"
	"github.com/chillin-chat/chillin/events/natstest"
	"github.com/chillin-chat/chillin/events/redistest"
	"github.com/chillin-chat/chillin/projector/cachewriter"
	"github.com/chillin-chat/chillin/projector/internal/feed"
	"github.com/chillin-chat/chillin/projector/internal/projtest"
)

func ctxT(tb testing.TB) context.Context {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	tb.Cleanup(cancel)
	return ctx
}

// env is a fresh log, a Redis prefix and a view on them.
type env struct {
	js     jetstream.JetStream
	rdb    *redis.Client
	prefix string
	store  *cachewriter.Store
	view   *View
	log    *projtest.Logs
}

func newEnv(t *testing.T, window int) *env {
	t.Helper()
	js := natstest.Streams(t)
	e := &env{js: js, rdb: redistest.Client(t), prefix: redistest.Prefix(t)}
	log, logs := projtest.Logger(t)
	e.log = logs
	e.store = cachewriter.NewStore(e.rdb, e.prefix, window)
	e.view = NewView(e.store, cachewriter.Source{JS: js, Log: log}, log, 50)
	return e
}

func items(facts []events.Stored) []feed.Item {
	out := make([]feed.Item, len(facts))
	for i, f := range facts {
		out[i] = feed.Item{Seq: f.ID, Fact: f}
	}
	return out
}

func (e *env) apply(t *testing.T, facts []events.Stored) {
	t.Helper()
	if err := e.view.Apply(ctxT(t), items(facts)); err != nil {
		t.Fatalf("apply %d facts from %d: %v", len(facts), facts[0].ID, err)
	}
}

func (e *env) current(t *testing.T) (gen, cp uint64) {
	t.Helper()
	gen, cp, ok, err := e.store.Current(ctxT(t))
	if err != nil || !ok {
		t.Fatalf("no current generation (%v)", err)
	}
	return gen, cp
}

// reference is the dump of facts applied at once to a generation of their
// own (never current).
func (e *env) reference(t *testing.T, facts []events.Stored) string {
	t.Helper()
	g, err := e.store.NewGen(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	res, _, err := e.store.Apply(ctxT(t), g, 1, facts[len(facts)-1].ID, facts)
	if err != nil || res.Status != cachewriter.Applied {
		t.Fatalf("reference: %+v %v", res, err)
	}
	d := e.dump(t, g)
	if _, err := e.store.Drop(ctxT(t), g); err != nil {
		t.Fatal(err)
	}
	return d
}

func (e *env) dump(t *testing.T, gen uint64) string {
	t.Helper()
	d, err := e.store.Dump(ctxT(t), gen)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func history(t *testing.T, n int) []events.Fact {
	t.Helper()
	scenario := projtest.Scenario(t)
	burst, _ := projtest.Burst(t, uint64(len(scenario)), n)
	return append(scenario, burst...)
}

func TestViewAppliesBatches(t *testing.T) {
	for _, n := range []int{1, 7, 500} {
		t.Run(fmt.Sprint("batches of ", n), func(t *testing.T) {
			e := newEnv(t, 10)
			// An empty log: the check makes generation 1 at checkpoint 0.
			if err := e.view.Check(ctxT(t)); err != nil {
				t.Fatal(err)
			}
			if g, cp := e.current(t); g != 1 || cp != 0 {
				t.Fatalf("first generation %d at %d", g, cp)
			}
			facts := projtest.Publish(t, e.js, history(t, 400)...)
			for i := 0; i < len(facts); i += n {
				e.apply(t, facts[i:min(i+n, len(facts))])
			}
			g, cp := e.current(t)
			if g != 1 || cp != facts[len(facts)-1].ID {
				t.Fatalf("generation %d at %d", g, cp)
			}
			got := e.dump(t, g)
			if want := e.reference(t, facts); got != want {
				t.Fatalf("cache differs from a full apply:\n%s\nwant:\n%s", got, want)
			}
			// Every batch again, and the whole log at once: nothing changes.
			e.apply(t, facts[3:9])
			e.apply(t, facts)
			if again := e.dump(t, g); again != got {
				t.Fatal("applying again changed the cache")
			}
		})
	}
}

// Facts the view was not handed (before its batch, or in a hole inside it)
// are read from the log and applied first.
func TestViewReadsMissingFacts(t *testing.T) {
	e := newEnv(t, 10)
	if err := e.view.Check(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	facts := projtest.Publish(t, e.js, history(t, 300)...)
	e.apply(t, facts[:5])
	// A batch with a hole: 6..10 then 21..30.
	batch := append(append([]events.Stored{}, facts[5:10]...), facts[20:30]...)
	e.apply(t, batch)
	if _, cp := e.current(t); cp != 30 {
		t.Fatalf("checkpoint %d after the batch with a hole", cp)
	}
	// Handed only the tail.
	e.apply(t, facts[200:])
	g, cp := e.current(t)
	if cp != facts[len(facts)-1].ID {
		t.Fatalf("checkpoint %d", cp)
	}
	if got, want := e.dump(t, g), e.reference(t, facts); got != want {
		t.Fatalf("cache differs from a full apply")
	}
	if !e.log.HasLine("read facts missing before the batch from the log", "from=11", "to=20") {
		t.Fatalf("the hole was not read from the log:\n%s", e.log)
	}
}

// A poison fact in a batch is marked for the feed to terminate; the rest of
// the batch is applied.
func TestViewMarksPoison(t *testing.T) {
	e := newEnv(t, 10)
	if err := e.view.Check(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	facts := projtest.Publish(t, e.js, projtest.Scenario(t)...)
	bad := events.Stored{ID: facts[len(facts)-1].ID + 1, Fact: events.Fact{Type: events.MessageEdited, V: 1, Room: "general", Seq: 12, User: "alice",
		Data: json.RawMessage(`{"id":"x"}`)}}
	projtest.PublishRaw(t, e.js, events.RoomSubject("general"), []byte(`{}`)) // takes bad's seq
	its := items(append(facts, bad))
	if err := e.view.Apply(ctxT(t), its); err != nil {
		t.Fatal(err)
	}
	if last := its[len(its)-1]; last.Err == nil || !strings.Contains(last.Err.Error(), events.MessageEdited) {
		t.Fatalf("poison fact not marked: %v", last.Err)
	}
	if _, cp := e.current(t); cp != bad.ID {
		t.Fatalf("checkpoint %d, want %d", cp, bad.ID)
	}
}

// Redis lost the cache: readers see no generation; the next batch (or the
// next check) rebuilds it from the first fact.
func TestViewRebuildsAfterFlush(t *testing.T) {
	e := newEnv(t, 10)
	all := projtest.Publish(t, e.js, history(t, 600)...)
	// The first batch finds no generation: the whole log is built at once.
	e.apply(t, all[:100])
	g, cp := e.current(t)
	if cp != all[len(all)-1].ID {
		t.Fatalf("first build reached %d of %d", cp, len(all))
	}
	want := e.dump(t, g)
	e.apply(t, all[100:])
	if e.dump(t, g) != want {
		t.Fatal("facts under the checkpoint changed the cache")
	}

	redistest.Flush(t, e.rdb, e.prefix)
	var head uint64
	for _, f := range all {
		if f.Room == "lobby" {
			head = f.Seq
		}
	}
	more := projtest.Publish(t, e.js, projtest.Fact(t, cp+1, events.MessagePosted, "lobby", head+1, "ann", events.MessagePostedData{Text: "after the flush", ClientID: "af"}))
	if err := e.view.Check(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	g2, cp2 := e.current(t)
	if cp2 != cp+1 {
		t.Fatalf("rebuilt to %d, want %d", cp2, cp+1)
	}
	if got, ref := e.dump(t, g2), e.reference(t, append(all, more...)); got != ref {
		t.Fatal("rebuilt cache differs from a full apply")
	}

	// Only the checkpoint lost: the generation is absent; a batch rebuilds.
	if err := e.rdb.Del(ctxT(t), e.store.Keys().Meta(g2)).Err(); err != nil {
		t.Fatal(err)
	}
	e.apply(t, more)
	g3, cp3 := e.current(t)
	if g3 == g2 || cp3 != cp2 {
		t.Fatalf("after losing the checkpoint: generation %d at %d", g3, cp3)
	}
	if d := e.dump(t, g2); d != "" {
		t.Fatalf("the broken generation was left behind:\n%s", d)
	}
}

// While another process holds the lease, a view that finds the cache gone
// waits for it instead of rebuilding too.
func TestViewLeavesTheRebuildToTheLeaseHolder(t *testing.T) {
	e := newEnv(t, 10)
	facts := projtest.Publish(t, e.js, projtest.Scenario(t)...)
	if ok, err := e.store.Lease(ctxT(t), "other", time.Minute); !ok || err != nil {
		t.Fatalf("lease: %v %v", ok, err)
	}
	if err := e.view.Apply(ctxT(t), items(facts)); !errors.Is(err, ErrRebuilding) {
		t.Fatalf("apply with the lease elsewhere: %v", err)
	}
	if err := e.view.Check(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if _, _, ok, _ := e.store.Current(ctxT(t)); ok {
		t.Fatal("rebuilt although another process holds the lease")
	}
	if err := e.store.ReleaseLease(ctxT(t), "other"); err != nil {
		t.Fatal(err)
	}
	e.apply(t, facts)
	if _, cp := e.current(t); cp != facts[len(facts)-1].ID {
		t.Fatalf("checkpoint %d", cp)
	}
}

// The view runs on its consumer while facts keep coming and rebuilds switch
// generations under it: in the end the current generation is exactly the
// whole log applied once.
func TestGenerationSwitchMidStream(t *testing.T) {
	e := newEnv(t, 20)
	log, _ := projtest.Logger(t)
	ctx, cancel := context.WithCancel(ctxT(t))
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Config{Redis: e.rdb, Prefix: e.prefix, Window: 20, JS: e.js, BatchSize: 64,
			FlushInterval: time.Millisecond, CheckEvery: 100 * time.Millisecond, Logger: log})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("view: %v", err)
		}
	})

	all := history(t, 4000)
	var (
		mu        sync.Mutex
		published []events.Stored
	)
	pubDone := make(chan struct{})
	go func() {
		defer close(pubDone)
		for i := 0; i < len(all); i += 40 {
			s := projtest.Publish(t, e.js, all[i:min(i+40, len(all))]...)
			mu.Lock()
			published = append(published, s...)
			mu.Unlock()
		}
	}()
	var gens []uint64
	for range 3 {
		rep, err := cachewriter.Rebuild{Store: e.store, Source: cachewriter.Source{JS: e.js, Log: log}, Chunk: 300, Log: log}.Run(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		gens = append(gens, rep.Gen)
	}
	<-pubDone
	last := published[len(published)-1].ID
	projtest.Eventually(t, "the view caught up", func() bool {
		_, cp, ok, err := e.store.Current(ctxT(t))
		return err == nil && ok && cp == last
	})
	g, _ := e.current(t)
	if g != gens[len(gens)-1] {
		t.Fatalf("current generation %d, the last rebuild made %d", g, gens[len(gens)-1])
	}
	if got, want := e.dump(t, g), e.reference(t, published); got != want {
		t.Fatalf("after switches mid-stream the cache differs from a full apply")
	}
	for _, old := range gens[:len(gens)-1] {
		if d := e.dump(t, old); d != "" {
			t.Fatalf("generation %d was not dropped", old)
		}
	}
}
