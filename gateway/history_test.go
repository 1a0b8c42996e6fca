package gateway_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"
)

// historyPage is a history reply as a client reads it.
type historyPage struct {
	Messages []struct {
		ID   uint64
		Seq  uint64
		Text string
	}
	HasMore bool
	Events  []struct {
		Room string
		Seq  uint64
		ID   uint64
		Kind string
		User string
		At   time.Time
		Data map[string]any
	}
}

// A history page carries the membership facts (created, joined, left) of
// its stretch of the room in seq order: the newest page those after its
// oldest message, the last page the rest down to the room's creation, so
// that paging back shows each once; a crowd of joins is bounded.
func testHistoryEvents(t *testing.T, e *env) {
	g := e.gateway(t, nil)
	reader := g.register("hugo")
	if r := g.do("POST", "/api/rooms", reader, map[string]any{"name": "annals"}, nil); r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	// The projection of annals: fact ids far from the log's own.
	const base = 900000
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := e.pool.Exec(ctx, sql, args...); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	exec(`INSERT INTO rooms (id, name, description, created_by, created_at, head_seq, last_fact_id) VALUES ('annals', 'Annals', 'old news', 'alice', $1, 9, $2)`, at, base+9)
	for seq, f := range map[int]string{1: "room.created alice", 2: "member.joined bob", 3: "m1", 4: "m2", 5: "member.joined carol", 6: "m3", 7: "member.left bob", 8: "m4", 9: "member.joined dave"} {
		var kind, user string
		if _, err := fmt.Sscan(f, &kind, &user); err != nil {
			exec(`INSERT INTO messages (id, room_id, seq, user_id, client_id, text, created_at) VALUES ($1, 'annals', $2, 'alice', $3, $3, $4)`,
				base+seq, seq, f, at.Add(time.Duration(seq)*time.Minute))
			continue
		}
		exec(`INSERT INTO room_events (id, room_id, seq, kind, user_id, at) VALUES ($1, 'annals', $2, $3, $4, $5)`,
			base+seq, seq, kind, user, at.Add(time.Duration(seq)*time.Minute))
	}
	page := func(query string) (historyPage, string) {
		t.Helper()
		r := g.do("GET", "/api/rooms/annals/messages"+query, reader, nil, nil)
		var p historyPage
		r.decode(t, &p)
		if r.status != http.StatusOK {
			t.Fatalf("history%s: %d %s", query, r.status, r.body)
		}
		s := ""
		for _, m := range p.Messages {
			s += fmt.Sprintf("%d:%s ", m.Seq, m.Text)
		}
		s += "|"
		for _, ev := range p.Events {
			if ev.Room != "annals" || ev.ID != base+ev.Seq || !ev.At.Equal(at.Add(time.Duration(ev.Seq)*time.Minute)) {
				t.Errorf("history%s: event %+v", query, ev)
			}
			s += fmt.Sprintf(" %d:%s:%s", ev.Seq, ev.Kind, ev.User)
		}
		return p, s
	}

	newest, got := page("?limit=2")
	if want := "6:m3 8:m4 | 7:member.left:bob 9:member.joined:dave"; got != want || !newest.HasMore {
		t.Errorf("newest page: %q (more %v); want %q with more", got, newest.HasMore, want)
	}
	older, got := page(fmt.Sprintf("?limit=2&before=%d", newest.Messages[0].ID))
	if want := "3:m1 4:m2 | 1:room.created:alice 2:member.joined:bob 5:member.joined:carol"; got != want || older.HasMore {
		t.Errorf("older page: %q (more %v); want %q, no more", got, older.HasMore, want)
	}
	if d := older.Events[0].Data; d["name"] != "Annals" || d["description"] != "old news" || d["isPrivate"] != false || len(older.Events[1].Data) != 0 {
		t.Errorf("event data: created %v, joined %v", d, older.Events[1].Data)
	}
	if _, got := page(""); got != "3:m1 4:m2 6:m3 8:m4 | 1:room.created:alice 2:member.joined:bob 5:member.joined:carol 7:member.left:bob 9:member.joined:dave" {
		t.Errorf("whole room: %q", got)
	}

	// 150 joins after the last message: the newest 100 of them.
	exec(`INSERT INTO room_events (id, room_id, seq, kind, user_id, at)
		SELECT $1 + s, 'annals', s, 'member.joined', 'u' || s, $2::timestamptz + s * interval '1 minute' FROM generate_series(10, 159) s`, base, at)
	crowd, _ := page("")
	if n := len(crowd.Events); n != 100 || crowd.Events[0].Seq != 60 || crowd.Events[n-1].Seq != 159 || len(crowd.Messages) != 4 {
		t.Errorf("a crowd of joins: %d events from seq %d to %d, %d messages; want the newest 100 (60 to 159), 4 messages",
			n, crowd.Events[0].Seq, crowd.Events[n-1].Seq, len(crowd.Messages))
	}
}
