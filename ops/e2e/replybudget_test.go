package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// getRaw GETs a REST path and returns the status and the body as sent.
func (s *system) getRaw(path, token string) (int, []byte) {
	s.t.Helper()
	req, _ := http.NewRequest("GET", s.baseURL+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatalf("GET %s: %v", path, err)
	}
	return resp.StatusCode, b
}

// A history page of long messages stops at the reply budget and says there
// is more; paging on from its oldest message gives every message once.
func TestHistoryPagesStayWithinTheBudget(t *testing.T) {
	s := newSystem(t, withRateLimit(1_000_000), withFrameRate(1000))
	alice := s.register("alice")
	room := s.createRoom(alice, "wide messages")
	ca := s.dial(alice)
	ca.join(room, nil)
	const n = 100
	text := strings.Repeat("😀", 2000) // 8,000 bytes: 100 of them are 800 KB
	for i := range n {
		ca.send(room, fmt.Sprint("wide", i), text)
	}
	s.waitPG(room, n)

	var ids []uint64
	path := fmt.Sprintf("/api/rooms/%s/messages?limit=100", room)
	for pages := 0; ; pages++ {
		code, b := s.getRaw(path, alice)
		if code != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, code, b)
		}
		if len(b) > replyBudget {
			t.Fatalf("history page of %d bytes, budget %d", len(b), replyBudget)
		}
		var page struct {
			Messages []messageData
			HasMore  bool
		}
		if err := json.Unmarshal(b, &page); err != nil {
			t.Fatal(err)
		}
		if pages == 0 && (len(page.Messages) == n || !page.HasMore) {
			t.Fatalf("the first page holds %d of %d messages, hasMore %v", len(page.Messages), n, page.HasMore)
		}
		if len(page.Messages) == 0 {
			break
		}
		for i, m := range page.Messages {
			if m.Text != text || (i > 0 && m.ID <= page.Messages[i-1].ID) {
				t.Fatalf("page %d: message %d out of order or changed", pages, m.ID)
			}
		}
		if len(ids) > 0 && page.Messages[len(page.Messages)-1].ID >= ids[0] {
			t.Fatalf("page %d overlaps the newer one", pages)
		}
		var pageIDs []uint64
		for _, m := range page.Messages {
			pageIDs = append(pageIDs, m.ID)
		}
		ids = append(pageIDs, ids...)
		if !page.HasMore {
			break
		}
		path = fmt.Sprintf("/api/rooms/%s/messages?limit=100&before=%d", room, ids[0])
	}
	if len(ids) != n {
		t.Fatalf("paging gave %d messages, want %d", len(ids), n)
	}
}

// A room's member list, over REST and in the join reply, stops at the reply
// budget and says there is more; REST pages on from the last member.
func TestMemberListsStayWithinTheBudget(t *testing.T) {
	s := newSystem(t)
	alice, bob := s.register("alice"), s.register("bob")
	room := s.createRoom(alice, "crowded")
	// 1,500 members with 64-character names of 4-byte characters, straight
	// into the projection: about 480 KB of member list.
	const extra = 1500
	name := strings.Repeat("😀", 64)
	ctx := context.Background()
	if _, err := s.pool.Exec(ctx, `INSERT INTO users (id, display_name, password_hash, created_at, fact_id)
		SELECT 'm' || lpad(i::text, 5, '0'), $1, 'x', now(), 0 FROM generate_series(1, $2::int) i`, name, extra); err != nil {
		t.Fatal(err)
	}
	if _, err := s.pool.Exec(ctx, `INSERT INTO room_members (room_id, user_id, joined_at)
		SELECT $1, 'm' || lpad(i::text, 5, '0'), now() FROM generate_series(1, $2::int) i`, room, extra); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "alice a member in postgres", func() bool {
		var n int
		_ = s.pool.QueryRow(ctx, `SELECT count(*) FROM room_members WHERE room_id = $1`, room).Scan(&n)
		return n == extra+1
	})

	var users []string
	path := fmt.Sprintf("/api/rooms/%s/members?limit=500", room)
	for pages := 0; ; pages++ {
		code, b := s.getRaw(path, alice)
		if code != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, code, b)
		}
		if len(b) > replyBudget {
			t.Fatalf("member page of %d bytes, budget %d", len(b), replyBudget)
		}
		var page struct {
			Members []struct{ User string }
			Next    string
		}
		if err := json.Unmarshal(b, &page); err != nil {
			t.Fatal(err)
		}
		if pages == 0 && page.Next == "" {
			t.Fatalf("the first page holds all %d members", len(page.Members))
		}
		for _, m := range page.Members {
			if len(users) > 0 && m.User <= users[len(users)-1] {
				t.Fatalf("member %s after %s", m.User, users[len(users)-1])
			}
			users = append(users, m.User)
		}
		if page.Next == "" {
			break
		}
		path = fmt.Sprintf("/api/rooms/%s/members?limit=500&cursor=%s", room, page.Next)
	}
	if len(users) != extra+1 {
		t.Fatalf("paging gave %d members, want %d", len(users), extra+1)
	}
	if code, _ := s.getRaw(fmt.Sprintf("/api/rooms/%s/members?cursor=%%20x", room), alice); code != http.StatusBadRequest {
		t.Fatalf("members after a non-id: %d, want 400", code)
	}

	cb := s.dial(bob)
	cb.refs++
	cb.write(map[string]any{"type": "room:join", "ref": "big", "data": map[string]any{"room": room}})
	f := cb.next(15 * time.Second)
	if f.Type != "reply" || len(f.Data) > replyBudget {
		t.Fatalf("join reply: %s frame of %d bytes, budget %d", f.Type, len(f.Data), replyBudget)
	}
	var reply struct {
		OK          bool
		Members     []struct{ User string }
		MembersNext string
	}
	if err := json.Unmarshal(f.Data, &reply); err != nil || !reply.OK || reply.MembersNext == "" || len(reply.Members) >= extra {
		t.Fatalf("join reply: ok %v, %d members, membersNext %q (%v)", reply.OK, len(reply.Members), reply.MembersNext, err)
	}
}
