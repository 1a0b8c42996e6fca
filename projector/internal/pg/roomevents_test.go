package pg

import (
	"strings"
	"testing"
	"time"

	"github.com/chillin-chat/chillin/events"
	"github.com/chillin-chat/chillin/projector/internal/projtest"
	"github.com/chillin-chat/chillin/schema/schematest"
)

// The membership facts of a room are kept by room seq, the others not, and
// replaying the facts leaves them as they were.
func TestViewRoomEvents(t *testing.T) {
	facts := []events.Stored{
		fact(t, 1, events.RoomCreated, "general", 1, "alice", events.RoomCreatedData{Name: "General"}),
		fact(t, 2, events.MemberJoined, "general", 2, "bob", events.MemberJoinedData{}),
		fact(t, 3, events.MessagePosted, "general", 3, "alice", events.MessagePostedData{Text: "a", ClientID: "c1"}),
		fact(t, 4, events.ReadMarked, "general", 0, "bob", events.ReadMarkedData{Seq: 3}),
		fact(t, 5, events.MemberLeft, "general", 4, "bob", events.MemberLeftData{}),
		fact(t, 6, events.RoomCreated, "random", 1, "bob", events.RoomCreatedData{Name: "Random"}),
	}
	pool, _ := schematest.NewDB(t)
	log, _ := projtest.Logger(t)
	dump := func() string {
		t.Helper()
		rows, err := pool.Query(ctxT(t), `SELECT id, room_id, seq, kind, user_id, at FROM room_events ORDER BY id`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var b strings.Builder
		for rows.Next() {
			var (
				id, seq          int64
				room, kind, user string
				when             time.Time
			)
			if err := rows.Scan(&id, &room, &seq, &kind, &user, &when); err != nil {
				t.Fatal(err)
			}
			if f := facts[id-1]; !when.Equal(f.At) || uint64(seq) != f.Seq {
				t.Errorf("fact %d: seq %d at %v, want %d at %v", id, seq, when, f.Seq, f.At)
			}
			b.WriteString(strings.Join([]string{room, kind, user}, " ") + "\n")
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	want := "general room.created alice\ngeneral member.joined bob\ngeneral member.left bob\nrandom room.created bob\n"
	applyAll(t, NewView(pool, nil, log, 500), facts, 2)
	if got := dump(); got != want {
		t.Fatalf("room events:\n%s\nwant:\n%s", got, want)
	}
	if _, err := pool.Exec(ctxT(t), "DELETE FROM projection_checkpoints"); err != nil {
		t.Fatal(err)
	}
	applyAll(t, NewView(pool, nil, log, 500), facts, 4)
	if got := dump(); got != want {
		t.Fatalf("after a replay:\n%s\nwant:\n%s", got, want)
	}
}
