package gateway_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// The user's own room list comes a page at a time in the order joined, and
// its unread counts look at the newest 100 messages after the read
// position: a member far behind is told there are more.
func testMyRoomsPages(t *testing.T, e *env) {
	g := e.gateway(t, nil)
	token := g.register("myra")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := e.pool.Exec(ctx, sql, args...); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	at := time.Date(2026, 4, 1, 9, 0, 0, 0, time.UTC)
	// Joined in the order my-c, my-a, my-b, my-d (not the id order); my-a
	// is far behind, with one mention among the newest messages and one
	// older than the 100 looked at.
	const base = 800000
	for i, room := range []string{"my-c", "my-a", "my-b", "my-d"} {
		exec(`INSERT INTO rooms (id, name, created_by, created_at, head_seq, last_fact_id) VALUES ($1, $1, 'zed', $2, 1000, $3)`, room, at, base)
		exec(`INSERT INTO room_members (room_id, user_id, joined_at) VALUES ($1, 'myra', $2)`, room, at.Add(time.Duration(i)*time.Minute))
		exec(`INSERT INTO read_positions (user_id, room_id, seq) VALUES ('myra', $1, 10)`, room)
	}
	exec(`INSERT INTO messages (id, room_id, seq, user_id, client_id, text, created_at)
		SELECT $1 + s, 'my-a', s, 'zed', 'c' || s, CASE WHEN s IN (20, 200) THEN 'hey @myra' ELSE 'm' || s END, $2::timestamptz
		FROM generate_series(1, 200) s`, base, at)
	exec(`INSERT INTO messages (id, room_id, seq, user_id, client_id, text, created_at) VALUES
		($1 + 1001, 'my-b', 11, 'zed', 'b1', 'one @myra', $2), ($1 + 1002, 'my-b', 12, 'myra', 'b2', 'mine', $2),
		($1 + 1003, 'my-b', 13, 'zed', 'b3', 'two', $2), ($1 + 1004, 'my-b', 9, 'zed', 'b0', 'read', $2)`, base, at)

	type myRoom struct {
		ID                        string
		UnreadCount, MentionCount int
		UnreadMore                bool
	}
	list := func(query string) ([]myRoom, string) {
		t.Helper()
		r := g.do("GET", "/api/me/rooms"+query, token, nil, nil)
		var out struct {
			Rooms []myRoom
			Next  string
		}
		r.decode(t, &out)
		if r.status != http.StatusOK {
			t.Fatalf("GET /api/me/rooms%s: %d %s", query, r.status, r.body)
		}
		return out.Rooms, out.Next
	}
	var got []string
	for cursor, pages := "", 0; ; pages++ {
		q := "?limit=3"
		if cursor != "" {
			q += "&cursor=" + cursor
		}
		rooms, next := list(q)
		for _, r := range rooms {
			got = append(got, fmt.Sprintf("%s:%d:%d:%v", r.ID, r.UnreadCount, r.MentionCount, r.UnreadMore))
		}
		if next == "" {
			break
		}
		if pages > 2 || len(rooms) != 3 || next != rooms[2].ID {
			t.Fatalf("page %d: %d rooms, next %q", pages, len(rooms), next)
		}
		cursor = next
	}
	if want := "my-c:0:0:false my-a:100:1:true my-b:2:1:false my-d:0:0:false"; strings.Join(got, " ") != want {
		t.Errorf("my rooms: %s; want %s", strings.Join(got, " "), want)
	}
	if rooms, next := list(""); len(rooms) != 4 || next != "" {
		t.Errorf("one page: %d rooms, next %q", len(rooms), next)
	}
	exec(`DELETE FROM room_members WHERE room_id = 'my-c'`)
	wantError(t, "a cursor of a room left since", g.do("GET", "/api/me/rooms?cursor=my-c", token, nil, nil), http.StatusBadRequest, "BAD_REQUEST")
}
