package projector_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/chillin-chat/chillin/events"
	"github.com/chillin-chat/chillin/events/redistest"
	"github.com/chillin-chat/chillin/projector"
	"github.com/chillin-chat/chillin/projector/cachewriter"
	"github.com/chillin-chat/chillin/projector/internal/pg"
	"github.com/chillin-chat/chillin/projector/internal/projtest"
	"github.com/chillin-chat/chillin/projector/pgrebuild"
	"github.com/chillin-chat/chillin/schema/schematest"
)

// recreateLog deletes CHAT_EVT and creates it again, as a new JetStream
// store under an old database does (`make clean`), then appends facts to
// the new log.
func (e *env) recreateLog(tb testing.TB, facts ...events.Fact) {
	tb.Helper()
	if err := e.js.DeleteStream(ctxT(tb), events.EvtStream); err != nil {
		tb.Fatal(err)
	}
	// The creation time names the log: make sure the new one's differs.
	time.Sleep(2 * time.Millisecond)
	if err := events.EnsureStreams(ctxT(tb), e.js, events.StreamOptions{}); err != nil {
		tb.Fatal(err)
	}
	projtest.Publish(tb, e.js, facts...)
}

// A projection of another log is refused, not continued: applying a new log
// after the old log's checkpoint would skip its facts as applied.
func TestRunRefusesPostgresOfAnotherLog(t *testing.T) {
	e := newEnv(t)
	pool, dsn := schematest.NewDB(t)
	facts := projtest.Scenario(t)
	projtest.Publish(t, e.js, facts...)
	cfg := projector.Config{PostgresURL: dsn, Views: []string{projector.ViewPG}}
	stop := e.start(t, cfg)
	projtest.Eventually(t, "the scenario applied", func() bool { return projtest.Checkpoint(t, pool) == uint64(len(facts)) })
	stop()

	// The new log registers carol, at seq 1: under the old checkpoint (21)
	// she would be skipped as applied.
	carol := projtest.Fact(t, 1, events.UserRegistered, "", 0, "carol", events.UserRegisteredData{Username: "carol", PasswordHash: projtest.Hash})
	e.recreateLog(t, carol)

	cfg.NATSURL, cfg.Logger = e.natsURL, e.log
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := projector.Run(ctx, cfg)
	if !errors.Is(err, pg.ErrOtherLog) {
		t.Fatalf("projector.Run on another log's checkpoint returned %v, want ErrOtherLog", err)
	}
	if !strings.Contains(err.Error(), "chillin-replay rebuild -view pg") {
		t.Errorf("the refusal does not name the command to run: %v", err)
	}
	if got := projtest.Checkpoint(t, pool); got != uint64(len(facts)) {
		t.Errorf("checkpoint moved to %d while refusing", got)
	}

	// What the refusal says to do makes the projection this log's.
	if _, err := pgrebuild.Rebuild(ctxT(t), pgrebuild.Options{Live: pool, JS: e.js, Logger: e.log}); err != nil {
		t.Fatalf("rebuild: %v", err)
	}
	e.start(t, cfg)
	projtest.Eventually(t, "carol projected", func() bool { return projtest.Count(t, pool, "users WHERE id = 'carol'") == 1 })
	if n := projtest.Count(t, pool, "users"); n != 1 {
		t.Errorf("%d users after the rebuild, want carol alone", n)
	}
}

// A checkpoint written before checkpoints recorded their log is taken to be
// of the current log, unless it lies past the log's end.
func TestCheckLogOfAnUnrecordedCheckpoint(t *testing.T) {
	e := newEnv(t)
	facts := projtest.Scenario(t)
	projtest.Publish(t, e.js, facts[:3]...)
	evt, err := e.js.Stream(ctxT(t), events.EvtStream)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		seq   int
		other bool
	}{{seq: 3}, {seq: 4, other: true}} {
		pool, _ := schematest.NewDB(t)
		if _, err := pool.Exec(ctxT(t), `INSERT INTO projection_checkpoints (view, seq, updated_at) VALUES ('pg', $1, now())`, tt.seq); err != nil {
			t.Fatal(err)
		}
		err := pg.CheckLog(ctxT(t), pool, evt, e.log)
		if got := errors.Is(err, pg.ErrOtherLog); got != tt.other || (err != nil && !got) {
			t.Fatalf("checkpoint %d of a log of 3 facts: CheckLog returned %v, want other log %v", tt.seq, err, tt.other)
		}
		cp, err := pg.ReadCheckpoint(ctxT(t), pool)
		if err != nil {
			t.Fatal(err)
		}
		want := logName(t, e) // recorded
		if tt.other {
			want = "" // left alone
		}
		if cp.Log != want {
			t.Errorf("checkpoint %d: recorded log %q, want %q", tt.seq, cp.Log, want)
		}
	}
}

// logName is the current log's name.
func logName(tb testing.TB, e *env) string {
	tb.Helper()
	s, err := e.js.Stream(ctxT(tb), events.EvtStream)
	if err != nil {
		tb.Fatal(err)
	}
	return s.CachedInfo().Created.UTC().Format(time.RFC3339Nano)
}

// The cache is disposable: the cache view replaces a generation of another
// log with one built from the current log.
func TestRunRebuildsCacheOfAnotherLog(t *testing.T) {
	e := newEnv(t)
	prefix := redistest.Prefix(t)
	rdb := redistest.Client(t)
	st := cachewriter.NewStore(rdb, prefix, 0)
	facts := projtest.Scenario(t)
	projtest.Publish(t, e.js, facts...)
	cfg := projector.Config{RedisURL: redistest.URL(), RedisPrefix: prefix, Views: []string{projector.ViewCache}}
	stop := e.start(t, cfg)
	var old uint64
	projtest.Eventually(t, "the scenario cached", func() bool {
		g, cp, ok, err := st.Current(ctxT(t))
		old = g
		return err == nil && ok && cp == uint64(len(facts))
	})
	stop()

	lounge := projtest.Fact(t, 1, events.RoomCreated, "lounge", 1, "carol", events.RoomCreatedData{Name: "Lounge"})
	e.recreateLog(t, lounge)
	e.start(t, cfg)
	projtest.Eventually(t, "a generation of the new log", func() bool {
		g, cp, ok, err := st.Current(ctxT(t))
		return err == nil && ok && g != old && cp == 1
	})
	g, _, _, _ := st.Current(ctxT(t))
	if log, err := st.Log(ctxT(t), g); err != nil || log != logName(t, e) {
		t.Errorf("the new generation records log %q (%v), want %q", log, err, logName(t, e))
	}
	rooms, err := rdb.ZRange(ctxT(t), st.Keys().Rooms(g), 0, -1).Result()
	if err != nil || strings.Join(rooms, ",") != "lounge" {
		t.Errorf("rooms of the new generation %v (%v), want the new log's lounge alone", rooms, err)
	}
	if n, err := rdb.Exists(ctxT(t), st.Keys().Meta(old)).Result(); err != nil || n != 0 {
		t.Errorf("the old log's generation %d is still there (%v)", old, err)
	}
	if !e.logs.Contains("the cache holds the projection of another log") {
		t.Error("the replacement was not logged")
	}
}
