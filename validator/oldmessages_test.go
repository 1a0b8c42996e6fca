package validator

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/chillin-chat/chillin/events"
	"github.com/chillin-chat/chillin/schema/schematest"
	"github.com/chillin-chat/chillin/validator/internal/decide"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// projectAll writes the room's messages, deletions and reactions into the
// pg view the way the projector does, and its checkpoint: fact through of
// log logID.
func projectAll(t *testing.T, pool *pgxpool.Pool, facts []events.Stored, through uint64, logID string) {
	t.Helper()
	project(t, pool, facts, through, logID)
	ctx := context.Background()
	for _, f := range facts {
		var err error
		switch f.Type {
		case events.MessageDeleted:
			d, derr := events.DecodeData[events.MessageDeletedData](f.Fact)
			if derr != nil {
				t.Fatal(derr)
			}
			if _, err = pool.Exec(ctx, `UPDATE messages SET text = '', deleted_at = $2 WHERE id = $1`, int64(d.ID), f.At); err == nil {
				_, err = pool.Exec(ctx, `DELETE FROM reactions WHERE message_id = $1`, int64(d.ID))
			}
		case events.ReactionAdded, events.ReactionRemoved:
			d, derr := events.DecodeData[events.ReactionData](f.Fact)
			if derr != nil {
				t.Fatal(derr)
			}
			if f.Type == events.ReactionAdded {
				_, err = pool.Exec(ctx, `INSERT INTO reactions (message_id, user_id, emoji, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`, int64(d.ID), f.User, d.Emoji, f.At)
			} else {
				_, err = pool.Exec(ctx, `DELETE FROM reactions WHERE message_id = $1 AND user_id = $2 AND emoji = $3`, int64(d.ID), f.User, d.Emoji)
			}
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// A message older than the room's window is looked up with its deletion and
// reactions as of the room's last fact: from the pg view when it has applied
// the log that far, else from the log.
func TestOldMessagesLookedUp(t *testing.T) {
	h := newHarness(t)
	h.createRoom("lobby", "alice", false, "")
	h.joinDirect("lobby", "bob")
	cfg := h.config()
	cfg.Workers = 1
	in := h.start(cfg)
	for i := range 3 {
		h.send(h.message("alice", "lobby", fmt.Sprint("c", i), "hello"))
	}
	ms := posted(t, h.waitHead("lobby", 5))
	m1, m2 := ms[0].ID, ms[1].ID
	h.send(h.command(events.CmdReactionAdd, "bob", "lobby", events.ReactionChange{ID: m1, Emoji: "👍"}))
	h.send(h.command(events.CmdReactionAdd, "alice", "lobby", events.ReactionChange{ID: m1, Emoji: "🎉"}))
	h.send(h.command(events.CmdReactionAdd, "bob", "lobby", events.ReactionChange{ID: m1, Emoji: "🎉"}))
	h.send(h.command(events.CmdReactionRemove, "alice", "lobby", events.ReactionChange{ID: m1, Emoji: "🎉"}))
	h.send(h.command(events.CmdReactionAdd, "bob", "lobby", events.ReactionChange{ID: m2, Emoji: "👍"}))
	h.send(h.command(events.CmdMessageDelete, "alice", "lobby", events.MessageDelete{ID: m2}))
	facts := h.waitHead("lobby", 11)
	h.waitSettled()
	in.stop(t)

	// The room as a validator keeping one message holds it: m1 and m2 are
	// older than its window.
	r := decide.NewRoom("lobby")
	r.SetMessageWindow(1)
	for _, f := range facts {
		if err := r.Apply(f); err != nil {
			t.Fatal(err)
		}
	}
	info, err := h.evt.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	logID := info.Created.UTC().Format(time.RFC3339Nano)
	current, currentURL := schematest.NewDB(t)
	projectAll(t, current, facts, info.State.LastSeq, logID)
	behind, behindURL := schematest.NewDB(t)
	projectAll(t, behind, facts[:len(facts)-1], facts[len(facts)-2].ID, logID)

	want := map[uint64]decide.OldMessage{
		m1: {Author: "alice", Reactions: []decide.Reaction{{User: "bob", Emoji: "👍"}, {User: "bob", Emoji: "🎉"}}, AsOf: r.LastID},
		m2: {Author: "alice", Deleted: true, AsOf: r.LastID},
		1:  {AsOf: r.LastID}, // a fact of another subject
	}
	for _, tc := range []struct{ name, url, source string }{
		{"postgres", currentURL, "postgres"},
		{"postgres behind the room", behindURL, "log"},
		{"no postgres", "", "log"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			arch, err := openArchive(tc.url, logID, testLogger(t), reg.Register)
			if err != nil {
				t.Fatal(err)
			}
			defer arch.close()
			w := &worker{v: &validator{js: h.js, evt: h.evt, archive: arch}}
			for id, wantOld := range want {
				got, err := w.lookup(context.Background(), r, id)
				if err != nil {
					t.Fatal(err)
				}
				sortReactions(got.Reactions)
				sortReactions(wantOld.Reactions)
				if got.Author != wantOld.Author || got.Deleted != wantOld.Deleted || got.AsOf != wantOld.AsOf || !slices.Equal(got.Reactions, wantOld.Reactions) {
					t.Fatalf("message %d: %+v, want %+v", id, got, wantOld)
				}
			}
			if n, _ := gathered(t, reg, "chillin_validator_old_message_lookups_total", "source", tc.source); n != 2 {
				t.Fatalf("%v lookups answered by %s, want 2", n, tc.source)
			}
		})
	}
}

func sortReactions(rs []decide.Reaction) {
	slices.SortFunc(rs, func(a, b decide.Reaction) int {
		return cmp.Or(cmp.Compare(a.User, b.User), cmp.Compare(a.Emoji, b.Emoji))
	})
}
