package pgrebuild

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/chillin-chat/chillin/events"
	"github.com/chillin-chat/chillin/events/natstest"
	"github.com/chillin-chat/chillin/projector/internal/feed"
	"github.com/chillin-chat/chillin/projector/internal/pg"
	"github.com/chillin-chat/chillin/projector/internal/projtest"
	"github.com/chillin-chat/chillin/schema/schematest"
)

func ctxT(tb testing.TB) context.Context {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	tb.Cleanup(cancel)
	return ctx
}

// liveView is the live pg view of pool, as the projector runs it.
func liveView(tb testing.TB, pool *pgxpool.Pool, js jetstream.JetStream, log *slog.Logger) *pg.View {
	tb.Helper()
	evt, err := js.Stream(ctxT(tb), events.EvtStream)
	if err != nil {
		tb.Fatal(err)
	}
	return pg.NewView(pool, evt, log, 500)
}

func items(facts []events.Stored) []feed.Item {
	out := make([]feed.Item, len(facts))
	for i, f := range facts {
		out[i] = feed.Item{Seq: f.ID, Fact: f}
	}
	return out
}

// apply applies facts to the live view in batches of n.
func apply(tb testing.TB, v *pg.View, facts []events.Stored, n int) {
	tb.Helper()
	for i := 0; i < len(facts); i += n {
		if err := v.Apply(ctxT(tb), items(facts[i:min(i+n, len(facts))])); err != nil {
			tb.Fatalf("apply batch at %d: %v", i, err)
		}
	}
}

// publish is projtest.Publish for goroutines other than the test's.
func publish(js jetstream.JetStream, facts []events.Fact) ([]events.Stored, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out := make([]events.Stored, 0, len(facts))
	for _, f := range facts {
		b, err := f.Encode()
		if err != nil {
			return nil, err
		}
		ack, err := js.Publish(ctx, projtest.Subject(f), b)
		if err != nil {
			return nil, fmt.Errorf("publish %s: %w", f.Type, err)
		}
		out = append(out, events.Stored{ID: ack.Sequence, Fact: f})
	}
	return out, nil
}

func options(tb testing.TB, pool *pgxpool.Pool, js jetstream.JetStream, log *slog.Logger) Options {
	return Options{Live: pool, JS: js, Logger: log, BatchSize: 100}
}

// schemas lists the database's schemas other than Postgres's own.
func schemas(tb testing.TB, pool *pgxpool.Pool) []string {
	tb.Helper()
	rows, err := pool.Query(ctxT(tb), `SELECT nspname FROM pg_namespace
WHERE nspname NOT LIKE 'pg\_%' AND nspname <> 'information_schema' ORDER BY nspname`)
	if err != nil {
		tb.Fatal(err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		tb.Fatal(err)
	}
	return names
}

func exec(tb testing.TB, pool *pgxpool.Pool, sql string, args ...any) {
	tb.Helper()
	if _, err := pool.Exec(ctxT(tb), sql, args...); err != nil {
		tb.Fatalf("%s: %v", sql, err)
	}
}

// A rebuild of a database whose view is empty fills it with exactly what
// the live view makes of the log, and leaves no other schema behind.
func TestRebuildScenario(t *testing.T) {
	js := natstest.Streams(t)
	projtest.Publish(t, js, projtest.Scenario(t)...)
	pool, _ := schematest.NewDB(t)
	log, _ := projtest.Logger(t)

	var calls []string
	o := options(t, pool, js, log)
	o.BatchSize = 8
	o.Progress = func(done, total uint64) { calls = append(calls, fmt.Sprintf("%d/%d", done, total)) }
	res, err := Rebuild(ctxT(t), o)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := projtest.Dump(t, pool), projtest.ScenarioTables(); got != want {
		t.Fatalf("rebuilt tables:\n%s\nwant:\n%s", got, want)
	}
	if res.Schema != "public" || res.Seq != 21 || res.Rounds != 2 {
		t.Fatalf("result %+v", res)
	}
	if got := strings.Join(calls, " "); got != "0/21 8/21 16/21 21/21 21/21 21/21" {
		t.Fatalf("progress %s", got)
	}
	if got := schemas(t, pool); strings.Join(got, ",") != "public" {
		t.Fatalf("schemas after the rebuild: %v", got)
	}
}

// Verify finds nothing wrong with a live view, then names the first row
// altered, removed or added by hand, in key order, in each table.
func TestVerify(t *testing.T) {
	js := natstest.Streams(t)
	facts, _ := projtest.Burst(t, 0, 1200)
	stored := projtest.Publish(t, js, facts...)
	pool, _ := schematest.NewDB(t)
	log, _ := projtest.Logger(t)
	apply(t, liveView(t, pool, js, log), stored, 37)

	res, err := Verify(ctxT(t), options(t, pool, js, log))
	if err != nil {
		t.Fatal(err)
	}
	if !res.Equal() || res.Seq != 1200 || res.Schema != "public" {
		t.Fatalf("a healthy view: %+v", res)
	}
	names := []string{}
	for _, tr := range res.Tables {
		names = append(names, tr.Name)
		if tr.Name == "messages" && (tr.A.Rows == 0 || tr.A != tr.B) {
			t.Fatalf("messages: %+v", tr)
		}
	}
	if got := strings.Join(names, ","); got != "attachments,messages,projection_checkpoints,reactions,read_positions,room_events,room_members,rooms,schema_migrations,sessions,users" {
		t.Fatalf("tables %s", got)
	}

	var a, b int64
	if err := pool.QueryRow(ctxT(t), `SELECT min(id), max(id) FROM messages WHERE deleted_at IS NULL`).Scan(&a, &b); err != nil {
		t.Fatal(err)
	}
	exec(t, pool, `UPDATE messages SET text = 'x' WHERE id = $1`, b)
	exec(t, pool, `UPDATE messages SET text = 'y' WHERE id = $1`, a) // the first in key order is reported
	exec(t, pool, `DELETE FROM users WHERE id = 'cat'`)
	exec(t, pool, `INSERT INTO reactions VALUES (0, 'zed', '🐛', now())`)
	// Columns that are not a function of the log are not compared.
	exec(t, pool, `UPDATE projection_checkpoints SET updated_at = now() - interval '1 day'`)

	res, err = Verify(ctxT(t), options(t, pool, js, log))
	if err != nil {
		t.Fatal(err)
	}
	if res.Equal() {
		t.Fatal("altered rows not found")
	}
	diffs := map[string]*RowDiff{}
	for _, tr := range res.Tables {
		if !tr.Equal() {
			if tr.Diff == nil {
				t.Fatalf("%s differs without a first row: %+v", tr.Name, tr)
			}
			diffs[tr.Name] = tr.Diff
		}
	}
	if len(diffs) != 3 {
		t.Fatalf("differences in %v", diffs)
	}
	if d := diffs["messages"]; d.Key != fmt.Sprint("id=", a) || !strings.Contains(d.A, ",y,") || strings.Contains(d.B, ",y,") || d.B == "" {
		t.Fatalf("messages: %+v", d)
	}
	if d := diffs["users"]; d.Key != "id=cat" || d.A != "" || !strings.HasPrefix(d.B, "(cat,Cat,") {
		t.Fatalf("users: %+v", d)
	}
	if d := diffs["reactions"]; d.Key != "message_id=0, user_id=zed, emoji=🐛" || d.B != "" || d.A == "" {
		t.Fatalf("reactions: %+v", d)
	}
	if got := schemas(t, pool); strings.Join(got, ",") != "public" {
		t.Fatalf("schemas after verify: %v", got)
	}
}

// Replaying the whole log a second time into the same schema changes
// nothing: every statement of the fold is idempotent in log order.
func TestReplayTwice(t *testing.T) {
	js := natstest.Streams(t)
	facts, _ := projtest.Burst(t, uint64(len(projtest.Scenario(t))), 1500)
	projtest.Publish(t, js, append(projtest.Scenario(t), facts...)...)
	pool, _ := schematest.NewDB(t)
	log, _ := projtest.Logger(t)
	last, err := LastSeq(ctxT(t), js)
	if err != nil {
		t.Fatal(err)
	}
	sums := func() []Table {
		tx, err := pool.Begin(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctxT(t))
		ts, err := Checksums(ctxT(t), tx, "public")
		if err != nil {
			t.Fatal(err)
		}
		return ts
	}
	var first []Table
	for round := range 2 {
		exec(t, pool, `UPDATE projection_checkpoints SET seq = 0`)
		rep, err := NewReplayer(ctxT(t), pool, js, log, 64)
		if err != nil {
			t.Fatal(err)
		}
		if err := rep.To(ctxT(t), last, nil); err != nil {
			t.Fatal(err)
		}
		if cp, _ := rep.Checkpoint(ctxT(t)); cp != last {
			t.Fatalf("checkpoint %d after replaying through %d", cp, last)
		}
		if round == 0 {
			first = sums()
			continue
		}
		second := sums()
		if fmt.Sprint(first) != fmt.Sprint(second) {
			t.Fatalf("the second replay changed the tables:\n%v\n%v", first, second)
		}
	}
	for _, tb := range first {
		if tb.Name == "messages" && tb.Rows < 1000 {
			t.Fatalf("messages: %+v", tb)
		}
	}
}

// A log that holds room.created in version 1 and version 2 replays through
// the upgrade: both rooms are rebuilt right.
func TestReplayMixedVersions(t *testing.T) {
	js := natstest.Streams(t)
	v1 := fmt.Sprintf(`{"type":"room.created","v":1,"room":"old","seq":1,"user":"ann","at":%q,"data":{"name":"Old","description":"from v1","isPrivate":true,"passwordHash":%q}}`,
		projtest.At(2).Format(time.RFC3339), projtest.Hash)
	projtest.Publish(t, js, projtest.Fact(t, 1, events.UserRegistered, "", 0, "ann", events.UserRegisteredData{Username: "ann", PasswordHash: projtest.Hash}))
	projtest.PublishRaw(t, js, events.RoomSubject("old"), []byte(v1))
	projtest.Publish(t, js,
		projtest.Fact(t, 3, events.RoomCreated, "new", 1, "ann", events.RoomCreatedData{Name: "New", LegacyPasswordSHA256: strings.Repeat("ab", 32)}),
		projtest.Fact(t, 4, events.MessagePosted, "old", 2, "ann", events.MessagePostedData{Text: "in the old room", ClientID: "c1"}),
	)
	pool, _ := schematest.NewDB(t)
	log, _ := projtest.Logger(t)
	if _, err := Rebuild(ctxT(t), options(t, pool, js, log)); err != nil {
		t.Fatal(err)
	}
	dump := projtest.Dump(t, pool)
	for _, want := range []string{
		"  new | New |  | false | " + pg.LegacyCredential + strings.Repeat("ab", 32) + " | ann | " + projtest.At(3).Format(time.RFC3339) + " | 1 | 3",
		"  old | Old | from v1 | true | " + projtest.Hash + " | ann | " + projtest.At(2).Format(time.RFC3339) + " | 2 | 4",
		"  4 | old | 2 | ann | c1 | in the old room |",
		"  pg | 4",
	} {
		if !strings.Contains(dump, want) {
			t.Errorf("no line %q in\n%s", want, dump)
		}
	}
}

// A fact that cannot be decoded stops the replay as it stops the live view:
// the rebuild fails, naming it, instead of building a view without it.
func TestReplayStopsAtPoison(t *testing.T) {
	js := natstest.Streams(t)
	facts := projtest.Scenario(t)
	projtest.Publish(t, js, facts[:7]...)
	projtest.PublishRaw(t, js, events.RoomSubject("general"), []byte(`{"type":"room.created","v":9}`))
	pool, _ := schematest.NewDB(t)
	log, logs := projtest.Logger(t)
	res, err := Rebuild(ctxT(t), options(t, pool, js, log))
	if !errors.Is(err, pg.ErrStopped) || !strings.Contains(err.Error(), "seq 8") {
		t.Fatalf("rebuild: %+v, %v; want it stopped at seq 8; logs:\n%s", res, err, logs)
	}
	if logs.Contains("poison fact skipped") {
		t.Fatalf("the poison fact was skipped:\n%s", logs)
	}
}

// A rebuild while the live view keeps applying new facts and readers keep
// reading (through cached prepared statements): the readers never see an
// error or fewer messages than before, the live view goes on in the new
// schema, no fact is lost, and the result equals a fresh replay.
func TestRebuildWhileLive(t *testing.T) {
	js := natstest.Streams(t)
	facts, want := projtest.Burst(t, 0, 4000)
	pool, _ := schematest.NewDB(t)
	log, _ := projtest.Logger(t)
	live := liveView(t, pool, js, log)
	apply(t, live, projtest.Publish(t, js, facts[:2500]...), 100)
	// A hand-made error in the live schema that the rebuild repairs.
	exec(t, pool, `UPDATE messages SET text = 'corrupt' WHERE id = (SELECT max(id) FROM messages WHERE deleted_at IS NULL)`)

	ctx, stop := context.WithCancel(ctxT(t))
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	// The live projector: appends and applies the rest in batches of 25.
	liveDone := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(liveDone)
		for i := 2500; i < len(facts); i += 25 {
			batch, err := publish(js, facts[i:min(i+25, len(facts))])
			if err != nil {
				errs <- err
				return
			}
			for attempt := 0; ; attempt++ {
				err := live.Apply(context.Background(), items(batch))
				if err == nil {
					break
				}
				if attempt == 20 {
					errs <- fmt.Errorf("live apply: %w", err)
					return
				}
				time.Sleep(100 * time.Millisecond) // as the feed backs off
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	// Readers on their own pool, as a gateway.
	readers, err := pgxpool.New(ctx, pool.Config().ConnString())
	if err != nil {
		t.Fatal(err)
	}
	defer readers.Close()
	var reads atomic.Int64
	for r := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var seen int64
			for ctx.Err() == nil {
				var n int64
				var text string
				err := readers.QueryRow(ctx, `SELECT count(*), COALESCE(max(text), '') FROM messages WHERE room_id = $1`, "lobby").Scan(&n, &text)
				if ctx.Err() != nil {
					return
				}
				if err != nil {
					errs <- fmt.Errorf("reader %d: %w", r, err)
					return
				}
				if n < seen || n == 0 {
					errs <- fmt.Errorf("reader %d: %d messages in lobby after %d", r, n, seen)
					return
				}
				seen = n
				reads.Add(1)
			}
		}()
	}

	o := options(t, pool, js, log)
	o.BatchSize = 200
	res, err := Rebuild(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	<-liveDone
	stop()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if reads.Load() == 0 {
		t.Fatal("no reads")
	}
	t.Logf("rebuilt through seq %d in %d rounds, live lock held %s, %d reads", res.Seq, res.Rounds, res.Pause, reads.Load())

	// Every fact is applied, the repaired row included.
	if cp := projtest.Checkpoint(t, pool); cp != want.Last {
		t.Fatalf("checkpoint %d, want %d", cp, want.Last)
	}
	if n := projtest.Count(t, pool, "messages"); n != want.Messages {
		t.Fatalf("%d messages, want %d", n, want.Messages)
	}
	if n := projtest.Count(t, pool, "messages WHERE text = 'corrupt'"); n != 0 {
		t.Fatal("the corrupt row survived the rebuild")
	}
	vres, err := Verify(ctxT(t), options(t, pool, js, log))
	if err != nil {
		t.Fatal(err)
	}
	if !vres.Equal() {
		t.Fatalf("after the rebuild: %+v", vres.Tables)
	}
	if got := schemas(t, pool); strings.Join(got, ",") != "public" {
		t.Fatalf("schemas: %v", got)
	}
}

// A cancelled rebuild drops its schema and leaves the live one alone.
func TestRebuildCancelled(t *testing.T) {
	js := natstest.Streams(t)
	facts, _ := projtest.Burst(t, 0, 1000)
	stored := projtest.Publish(t, js, facts...)
	pool, _ := schematest.NewDB(t)
	log, _ := projtest.Logger(t)
	apply(t, liveView(t, pool, js, log), stored, 100)
	before := projtest.Dump(t, pool)

	ctx, cancel := context.WithCancel(ctxT(t))
	o := options(t, pool, js, log)
	o.Progress = func(done, total uint64) {
		if done >= 300 {
			cancel()
		}
	}
	if _, err := Rebuild(ctx, o); !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
	if got := schemas(t, pool); strings.Join(got, ",") != "public" {
		t.Fatalf("schemas: %v", got)
	}
	if projtest.Dump(t, pool) != before {
		t.Fatal("the live tables changed")
	}
}

// One rebuild or verify at a time; what a killed one left is dropped by
// the next.
func TestOneAtATime(t *testing.T) {
	js := natstest.Streams(t)
	pool, _ := schematest.NewDB(t)
	log, logs := projtest.Logger(t)
	exec(t, pool, `CREATE SCHEMA rebuild_20260101t000000`)
	exec(t, pool, `CREATE TABLE rebuild_20260101t000000.messages (id bigint)`)
	exec(t, pool, `CREATE SCHEMA rebuild_notours`)

	conn, err := pool.Acquire(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctxT(t), `SELECT pg_advisory_lock($1)`, maintenanceKey); err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(ctxT(t), options(t, pool, js, log)); !errors.Is(err, ErrBusy) {
		t.Fatalf("error %v, want ErrBusy", err)
	}
	if _, err := Rebuild(ctxT(t), options(t, pool, js, log)); !errors.Is(err, ErrBusy) {
		t.Fatalf("error %v, want ErrBusy", err)
	}
	if _, err := conn.Exec(ctxT(t), `SELECT pg_advisory_unlock($1)`, maintenanceKey); err != nil {
		t.Fatal(err)
	}
	conn.Release()

	res, err := Verify(ctxT(t), options(t, pool, js, log))
	if err != nil || !res.Equal() {
		t.Fatalf("verify: %v %+v", err, res)
	}
	if got := schemas(t, pool); strings.Join(got, ",") != "public,rebuild_notours" {
		t.Fatalf("schemas: %v", got)
	}
	if !logs.HasLine("dropped a schema left by an interrupted rebuild or verify", "rebuild_20260101t000000") {
		t.Fatalf("logs:\n%s", logs)
	}
}

// Privileges granted on the live schema and its tables hold on the rebuilt
// ones, so services connecting as another role keep their access.
func TestRebuildKeepsPrivileges(t *testing.T) {
	role := "chillin_t_reader_" + strings.ReplaceAll(fmt.Sprint(time.Now().UnixNano()), "-", "")
	admin, err := pgx.Connect(ctxT(t), schematest.ServerURL())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(ctxT(t), `CREATE ROLE `+role+` LOGIN`); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { // after the database is dropped (cleanups run last first)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := admin.Exec(ctx, `DROP ROLE `+role); err != nil {
			t.Errorf("drop role: %v", err)
		}
		admin.Close(ctx)
	})
	js := natstest.Streams(t)
	projtest.Publish(t, js, projtest.Scenario(t)...)
	pool, _ := schematest.NewDB(t)
	log, _ := projtest.Logger(t)
	exec(t, pool, `GRANT SELECT ON messages, rooms TO `+role)
	exec(t, pool, `GRANT INSERT ON messages TO `+role)

	if _, err := Rebuild(ctxT(t), options(t, pool, js, log)); err != nil {
		t.Fatal(err)
	}
	var got string
	if err := pool.QueryRow(ctxT(t), `SELECT string_agg(table_name || ':' || privilege_type, ' ' ORDER BY table_name, privilege_type)
FROM information_schema.role_table_grants WHERE grantee = $1 AND table_schema = 'public'`, role).Scan(&got); err != nil {
		t.Fatal(err)
	}
	if got != "messages:INSERT messages:SELECT rooms:SELECT" {
		t.Fatalf("grants after the rebuild: %s", got)
	}
	var usage bool
	if err := pool.QueryRow(ctxT(t), `SELECT has_schema_privilege($1, 'public', 'USAGE')`, role).Scan(&usage); err != nil || !usage {
		t.Fatalf("usage on public: %v %v", usage, err)
	}

	// A table of another role's keeps its owner, and the owner its rights.
	exec(t, pool, `ALTER TABLE rooms OWNER TO `+role)
	if _, err := Rebuild(ctxT(t), options(t, pool, js, log)); err != nil {
		t.Fatal(err)
	}
	var owner string
	if err := pool.QueryRow(ctxT(t), `SELECT tableowner FROM pg_tables WHERE schemaname = 'public' AND tablename = 'rooms'`).Scan(&owner); err != nil || owner != role {
		t.Fatalf("rooms owned by %q (%v), want %s", owner, err, role)
	}
	if got := schemas(t, pool); strings.Join(got, ",") != "public" {
		t.Fatalf("schemas: %v", got)
	}
}

// A live schema migrated by a newer build than the rebuild's is left alone.
func TestRebuildRefusesANewerSchema(t *testing.T) {
	js := natstest.Streams(t)
	projtest.Publish(t, js, projtest.Scenario(t)...)
	pool, _ := schematest.NewDB(t)
	log, _ := projtest.Logger(t)
	exec(t, pool, `INSERT INTO schema_migrations VALUES (9999, 'from_the_future', now())`)
	_, err := Rebuild(ctxT(t), options(t, pool, js, log))
	if err == nil || !strings.Contains(err.Error(), "schema public has migration 9999_from_the_future, which this build does not know") {
		t.Fatalf("error %v", err)
	}
	if got := schemas(t, pool); strings.Join(got, ",") != "public" {
		t.Fatalf("schemas: %v", got)
	}
	if n := projtest.Count(t, pool, "rooms"); n != 0 {
		t.Fatalf("the live schema changed: %d rooms", n)
	}
}
