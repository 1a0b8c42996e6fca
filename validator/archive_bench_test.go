package validator

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/chillin-chat/chillin/events"
	"github.com/chillin-chat/chillin/schema/schematest"
	"github.com/chillin-chat/chillin/validator/internal/decide"
	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
)

// BenchmarkArchiveLookup reports what one resend check of a clientId older
// than a room's digests costs, in a room of CHILLIN_BENCH_ARCHIVE_MESSAGES
// messages (default 50,000) whose facts alternate with another room's in
// the log: asked of the pg view, and read from the log (the whole room up
// to the archive's end when the clientId is new, which is the common case:
// a resend of an old message is rare).
//
//	cd validator && go test -run XXX -bench ArchiveLookup .
func BenchmarkArchiveLookup(b *testing.B) {
	n := benchEnv(b, "CHILLIN_BENCH_ARCHIVE_MESSAGES", 50_000)
	h := newHarness(b)
	ctx := context.Background()
	var rows [][]any
	for i := 1; i <= n; i++ {
		for _, room := range []string{"busy", "other"} {
			cid := fmt.Sprintf("client-%08d", i)
			f, err := events.NewFact(events.MessagePosted, room, uint64(i), "alice", room+cid, time.Now(), events.MessagePostedData{Text: "hello", ClientID: cid})
			if err != nil {
				b.Fatal(err)
			}
			data, err := f.Encode()
			if err != nil {
				b.Fatal(err)
			}
			if _, err := h.js.PublishAsync(events.RoomSubject(room), data); err != nil {
				b.Fatal(err)
			}
			if room == "busy" {
				rows = append(rows, []any{int64(2*i - 1), room, int64(i), "alice", cid, "hello", f.At})
			}
		}
		if i%1000 == 0 {
			<-h.js.PublishAsyncComplete()
		}
	}
	<-h.js.PublishAsyncComplete()
	info, err := h.evt.Info(ctx)
	if err != nil {
		b.Fatal(err)
	}
	if info.State.Msgs != uint64(2*n) {
		b.Fatalf("%d facts in the log, want %d", info.State.Msgs, 2*n)
	}
	logID := info.Created.UTC().Format(time.RFC3339Nano)
	pool, dsn := schematest.NewDB(b)
	if _, err := pool.CopyFrom(ctx, pgx.Identifier{"messages"}, []string{"id", "room_id", "seq", "user_id", "client_id", "text", "created_at"}, pgx.CopyFromRows(rows)); err != nil {
		b.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO projection_checkpoints (view, seq, log_id, updated_at) VALUES ('pg', $1, $2, now())`, int64(info.State.LastSeq), logID); err != nil {
		b.Fatal(err)
	}

	for _, tc := range []struct {
		name, pg, clientID string
		want               uint64
	}{
		{"postgres/new", dsn, "never", 0},
		{"postgres/resend", dsn, "client-00000001", 1},
		{"log/new", "", "never", 0},
		{"log/resend-of-the-first", "", "client-00000001", 1},
	} {
		b.Run(tc.name, func(b *testing.B) {
			arch, err := openArchive(tc.pg, logID, testLogger(b), prometheus.NewRegistry().Register)
			if err != nil {
				b.Fatal(err)
			}
			defer arch.close()
			w := &worker{v: &validator{js: h.js, evt: h.evt, archive: arch}}
			q := decide.ArchiveQuery{Room: "busy", User: "alice", ClientID: tc.clientID, Through: uint64(2*n - 1)}
			lookup := w.scanArchive
			if tc.pg != "" {
				lookup = arch.fromPostgres
			}
			for b.Loop() {
				// Not w.archived, which would remember the first answer.
				id, err := lookup(ctx, q)
				if err != nil || id != tc.want {
					b.Fatalf("archived: %d, %v; want %d", id, err, tc.want)
				}
			}
		})
	}
}
