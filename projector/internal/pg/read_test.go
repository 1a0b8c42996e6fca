package pg

import (
	"testing"

	"github.com/chillin-chat/chillin/events"
	"github.com/chillin-chat/chillin/projector/internal/projtest"
	"github.com/chillin-chat/chillin/schema/schematest"
)

// A read position is the highest of the member's joins and read.marked
// facts, and replaying the facts leaves it as it was.
func TestViewReadPositions(t *testing.T) {
	facts := []events.Stored{
		fact(t, 1, events.RoomCreated, "general", 1, "alice", events.RoomCreatedData{Name: "General"}),
		fact(t, 2, events.MemberJoined, "general", 2, "bob", events.MemberJoinedData{}),
		fact(t, 3, events.MessagePosted, "general", 3, "alice", events.MessagePostedData{Text: "a", ClientID: "c1"}),
		fact(t, 4, events.MessagePosted, "general", 4, "alice", events.MessagePostedData{Text: "b", ClientID: "c2"}),
		fact(t, 5, events.ReadMarked, "general", 0, "bob", events.ReadMarkedData{Seq: 4}),
		fact(t, 6, events.MemberLeft, "general", 5, "bob", events.MemberLeftData{}),
		fact(t, 7, events.MessagePosted, "general", 6, "alice", events.MessagePostedData{Text: "c", ClientID: "c3"}),
		fact(t, 8, events.MemberJoined, "general", 7, "bob", events.MemberJoinedData{}),
		fact(t, 9, events.ReadMarked, "general", 0, "alice", events.ReadMarkedData{Seq: 3}),
	}
	pool, _ := schematest.NewDB(t)
	log, _ := projtest.Logger(t)
	read := func() map[string]int64 {
		t.Helper()
		rows, err := pool.Query(ctxT(t), `SELECT user_id || '@' || room_id, seq FROM read_positions`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		out := map[string]int64{}
		for rows.Next() {
			var k string
			var v int64
			if err := rows.Scan(&k, &v); err != nil {
				t.Fatal(err)
			}
			out[k] = v
		}
		return out
	}
	applyAll(t, NewView(pool, nil, log, 500), facts[:5], 2)
	if got := read(); len(got) != 2 || got["alice@general"] != 1 || got["bob@general"] != 4 {
		t.Fatalf("after the first read: %v", got)
	}
	applyAll(t, NewView(pool, nil, log, 500), facts[5:], 10)
	if got := read(); len(got) != 2 || got["alice@general"] != 3 || got["bob@general"] != 7 {
		t.Fatalf("after rejoining: %v", got)
	}
	if _, err := pool.Exec(ctxT(t), "DELETE FROM projection_checkpoints"); err != nil {
		t.Fatal(err)
	}
	applyAll(t, NewView(pool, nil, log, 500), facts, 3)
	if got := read(); len(got) != 2 || got["alice@general"] != 3 || got["bob@general"] != 7 {
		t.Fatalf("after a replay: %v", got)
	}
}
