package validator

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/chillin-chat/chillin/events"
	"github.com/chillin-chat/chillin/schema/schematest"
	"github.com/chillin-chat/chillin/validator/internal/decide"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// project writes the room's messages into the pg view the way the
// projector does, and its checkpoint: fact through of log logID.
func project(t *testing.T, pool *pgxpool.Pool, facts []events.Stored, through uint64, logID string) {
	t.Helper()
	ctx := context.Background()
	for _, f := range posted(t, facts) {
		d := postedData(t, f)
		if _, err := pool.Exec(ctx, `INSERT INTO messages (id, room_id, seq, user_id, client_id, text, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			int64(f.ID), f.Room, int64(f.Seq), f.User, d.ClientID, d.Text, f.At); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := pool.Exec(ctx, `INSERT INTO projection_checkpoints (view, seq, log_id, updated_at) VALUES ('pg', $1, $2, now())`, int64(through), logID); err != nil {
		t.Fatal(err)
	}
}

// A room keeps two digests here: a resend of an older clientId is answered
// with the original, and a new clientId is accepted, whether the pg view
// answers or, when it cannot, the log.
func TestResendOlderThanTheDigests(t *testing.T) {
	for _, tc := range []struct {
		name   string
		pg     string // "", "current", "behind", "other log", "down"
		source string // what answers the archive lookups
	}{
		{"postgres", "current", "postgres"},
		{"no postgres", "", "log"},
		{"postgres behind", "behind", "log"},
		{"postgres of another log", "other log", "log"},
		{"postgres down", "down", "log"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.createRoom("lobby", "alice", false, "")
			cfg := h.config()
			cfg.RoomDigests = 2
			cfg.Workers = 1
			cfg.Metrics = prometheus.NewRegistry()
			first := h.start(cfg)
			for i := range 4 {
				h.send(h.message("alice", "lobby", fmt.Sprint("c", i), fmt.Sprint("message ", i)))
			}
			facts := h.waitHead("lobby", 5)
			h.waitSettled()
			first.stop(t)
			ms := posted(t, facts)
			archived := ms[1].ID // c0 and c1 are past the room's two digests

			info, err := h.evt.Info(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			logID := info.Created.UTC().Format(time.RFC3339Nano)
			switch tc.pg {
			case "current", "behind", "other log":
				pool, dsn := schematest.NewDB(t)
				through, of := info.State.LastSeq, logID
				if tc.pg == "behind" {
					through = archived - 1
				}
				if tc.pg == "other log" {
					of = "2001-01-01T00:00:00Z"
				}
				project(t, pool, facts, through, of)
				cfg.PostgresURL = dsn
			case "down":
				cfg.PostgresURL = "postgres://postgres@127.0.0.1:1/none?sslmode=disable&connect_timeout=1"
			}
			// A fresh instance, with the Postgres of this case, folds the
			// room again from the log.
			cfg.Metrics = prometheus.NewRegistry()
			h.start(cfg)

			reply, next := h.outcomes()
			for _, i := range []int{0, 1} {
				again := h.message("alice", "lobby", fmt.Sprint("c", i), "a different text")
				again.Reply = reply
				h.send(again)
				o := next()
				want, err := events.EventFrame(ms[i])
				if err != nil {
					t.Fatal(err)
				}
				if o.Cmd != again.ID || o.Error != nil || !bytes.Equal(o.Frame, want) {
					t.Fatalf("resend of c%d: outcome %+v\nframe %s\nwant  %s", i, o, o.Frame, want)
				}
			}
			h.send(h.message("alice", "lobby", "c1", "a resend without a reply subject"))
			h.send(h.message("alice", "lobby", "new", "a new message"))
			h.send(h.message("alice", "lobby", "c3", "a resend of a held one"))
			h.waitSettled()
			if got := factKinds(h.roomFacts("lobby")[5:]); got != "message.posted:alice" {
				t.Fatalf("facts after the resends: %s", got)
			}
			if got := rejectionCodes(h, "alice"); got != "" {
				t.Fatalf("alice's rejections: %s", got)
			}

			// c0 and c1 are looked up, c1 once: the second resend is
			// answered as the first was; c3 is held, and "new" ruled out by
			// the room's filter of the dropped digests.
			fromPG, _ := gathered(t, cfg.Metrics, "chillin_validator_archive_lookups_total", "source", "postgres")
			fromLog, _ := gathered(t, cfg.Metrics, "chillin_validator_archive_lookups_total", "source", "log")
			if want := map[string]float64{"postgres": fromPG, "log": fromLog}; want[tc.source] != 2 || fromPG+fromLog != 2 {
				t.Fatalf("archive lookups: %v from postgres, %v from the log; want 2 from %s", fromPG, fromLog, tc.source)
			}
		})
	}
}

func TestConfigChecksThePostgresURL(t *testing.T) {
	cfg := Config{NATSURL: "nats://127.0.0.1:4222", PostgresURL: "postgres://ro@db:5432/chillin"}.withDefaults()
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	cfg.PostgresURL = "postgres://ro@db:port/chillin"
	if err := cfg.validate(); err == nil {
		t.Fatal("a malformed Postgres URL was accepted")
	}
}

// The archive answers with the message a clientId was posted with, or 0,
// among the room's messages up to the query's end only: from the pg view
// when it has applied this log that far, else from the log.
func TestArchiveAnswers(t *testing.T) {
	h := newHarness(t)
	h.createRoom("lobby", "alice", false, "")
	h.joinDirect("lobby", "bob")
	in := h.start(h.config())
	for i, user := range []string{"alice", "bob", "alice", "alice"} {
		h.send(h.message(user, "lobby", fmt.Sprint("c", i), "hello"))
	}
	facts := h.waitHead("lobby", 6)
	h.waitSettled()
	in.stop(t)
	ms := posted(t, facts)
	info, err := h.evt.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	logID := info.Created.UTC().Format(time.RFC3339Nano)
	pool, dsn := schematest.NewDB(t)
	project(t, pool, facts, info.State.LastSeq, logID)

	through := ms[2].ID // c3 is past the archive's end
	for _, tc := range []struct {
		user, clientID string
		want           uint64
	}{
		{"alice", "c0", ms[0].ID},
		{"bob", "c1", ms[1].ID},
		{"alice", "c2", ms[2].ID},
		{"alice", "c1", 0}, // bob's
		{"alice", "c3", 0}, // after the archive's end
		{"alice", "never", 0},
	} {
		for _, source := range []string{"postgres", "log"} {
			url := dsn
			if source == "log" {
				url = ""
			}
			reg := prometheus.NewRegistry()
			arch, err := openArchive(url, logID, testLogger(t), reg.Register)
			if err != nil {
				t.Fatal(err)
			}
			w := &worker{v: &validator{js: h.js, evt: h.evt, archive: arch}}
			q := decide.ArchiveQuery{Room: "lobby", User: tc.user, ClientID: tc.clientID, Through: through}
			got, err := w.archived(context.Background(), q)
			arch.close()
			if err != nil || got != tc.want {
				t.Fatalf("%s: %+v: %d, %v; want %d", source, q, got, err, tc.want)
			}
			if n, _ := gathered(t, reg, "chillin_validator_archive_lookups_total", "source", source); n != 1 {
				t.Fatalf("%s: %+v answered by the other source", source, q)
			}
		}
	}
}

// gathered is the value of a series of reg.
func gathered(t *testing.T, reg *prometheus.Registry, name string, labels ...string) (float64, bool) {
	t.Helper()
	got, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	fams := map[string]*dto.MetricFamily{}
	for _, f := range got {
		fams[f.GetName()] = f
	}
	return sample(fams, name, labels...)
}

// A room restored from its snapshot under a smaller digest window drops its
// oldest digests as a fold would, and still recognises their resends.
func TestDigestWindowShrunkAcrossSnapshots(t *testing.T) {
	h := newHarness(t)
	h.createRoom("a", "alice", false, "")
	h.createRoom("b", "alice", false, "")
	cfg := h.config()
	cfg.RoomCacheBytes = 1 // each command of one room evicts the other
	cfg.Workers = 1
	cfg.RoomDigests = 3
	first := h.start(cfg)
	for i := range 3 {
		h.send(h.message("alice", "a", fmt.Sprint("c", i), "hello"))
	}
	h.waitHead("a", 4)
	h.send(h.message("alice", "b", "k0", "evicts a"))
	h.waitHead("b", 2)
	h.waitSettled()
	first.stop(t)
	// The snapshot of a is published without waiting for it to be stored.
	deadline := time.Now().Add(waitFor)
	for {
		st, err := h.js.Stream(context.Background(), StateStream)
		if err == nil {
			if _, err = st.GetLastMsgForSubject(context.Background(), stateSubject("a")); err == nil {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no snapshot of room a: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}

	cfg.RoomDigests = 1
	cfg.Metrics = prometheus.NewRegistry()
	h.start(cfg)
	reply, next := h.outcomes()
	again := h.message("alice", "a", "c0", "again")
	again.Reply = reply
	h.send(again)
	o := next()
	ms := posted(t, h.roomFacts("a"))
	want, err := events.EventFrame(ms[0])
	if err != nil {
		t.Fatal(err)
	}
	if o.Error != nil || !bytes.Equal(o.Frame, want) {
		t.Fatalf("resend of c0: outcome %+v", o)
	}
	h.send(h.message("alice", "a", "c1", "again"))
	h.send(h.message("alice", "a", "c2", "again"))
	h.waitSettled()
	if got := len(h.roomFacts("a")); got != 4 {
		t.Fatalf("room a has %d facts after the resends, want 4", got)
	}
	if n, _ := gathered(t, cfg.Metrics, "chillin_validator_room_loads_total", "from", "snapshot"); n < 1 {
		t.Fatal("room a was not loaded from its snapshot")
	}
	// c0 and c1 are past the new window of one digest; c2 is held.
	if n, _ := gathered(t, cfg.Metrics, "chillin_validator_archive_lookups_total", "source", "log"); n != 2 {
		t.Fatalf("%v archive lookups, want 2", n)
	}
}

func TestArchiveRemembersItsNewestAnswers(t *testing.T) {
	var a archive
	q := func(i int) decide.ArchiveQuery {
		return decide.ArchiveQuery{Room: "r", User: "u", ClientID: fmt.Sprint("c", i), Through: 9}
	}
	for i := range archiveAnswers + 10 {
		a.remember(q(i), uint64(i))
		a.remember(q(i), 12345) // an answer never changes: the first stays
	}
	if len(a.answers) != archiveAnswers {
		t.Fatalf("%d answers held, want %d", len(a.answers), archiveAnswers)
	}
	for i := range archiveAnswers + 10 {
		id, ok := a.remembered(q(i))
		if held := i >= 10; ok != held || (held && id != uint64(i)) {
			t.Fatalf("answer %d: %d, held %v; want held %v", i, id, ok, held)
		}
	}
}
