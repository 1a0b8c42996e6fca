package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/chillin-chat/chillin/events"
)

// One user holds at most 20 sockets across the gateways: with ten open on
// each of two, the 21st handshake is refused with 429 TOO_MANY_SOCKETS on
// either, and a socket closed on one frees a slot on the other.
func TestSocketsPerUserAreBounded(t *testing.T) {
	s := newSystem(t)
	second, _ := s.startGateway()
	tok := s.register("many")
	var socks []*client
	for i := range 20 {
		at := s.wsURL
		if i%2 == 1 {
			at = second
		}
		socks = append(socks, s.dialAt(at, tok))
	}
	dial := func(at string) (*websocket.Conn, *http.Response, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return websocket.Dial(ctx, at, &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + tok}}})
	}
	for _, at := range []string{s.wsURL, second} {
		_, resp, err := dial(at)
		if err == nil || resp == nil || resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("21st socket at %s: %v %v, want 429", at, resp, err)
		}
	}
	// Another user is not affected.
	s.dial(s.register("other"))

	socks[0].ws.Close(websocket.StatusNormalClosure, "") // on the first gateway
	eventually(t, 10*time.Second, "a slot freed by a closed socket", func() bool {
		ws, _, err := dial(second)
		if err != nil {
			return false
		}
		ws.CloseNow()
		return true
	})
}

// GET /api/rooms pages (limit, cursor, next) and searches (q), so every
// room can be found however many there are.
func TestRoomListPagesAndSearches(t *testing.T) {
	s := newSystem(t)
	tok := s.register("lister")
	var want []string
	for i := range 7 {
		want = append(want, s.createRoom(tok, fmt.Sprintf("Room %d", i)))
	}
	want = append(want, s.createRoom(tok, "Needle in 100% of haystacks"))
	type page struct {
		Rooms []struct{ ID string } `json:"rooms"`
		Next  string                `json:"next"`
	}
	eventually(t, 10*time.Second, "the projection has every room", func() bool {
		var p page
		s.api("GET", "/api/rooms?limit=1000", tok, nil, &p)
		return len(p.Rooms) == len(want)
	})
	var got []string
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > len(want) {
			t.Fatalf("paging does not end: %v", got)
		}
		var p page
		q := url.Values{"limit": {"3"}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		if code := s.api("GET", "/api/rooms?"+q.Encode(), tok, nil, &p); code != http.StatusOK {
			t.Fatalf("page %d: %d", pages, code)
		}
		if len(p.Rooms) > 3 {
			t.Fatalf("page of %d rooms, limit 3", len(p.Rooms))
		}
		for _, r := range p.Rooms {
			got = append(got, r.ID)
		}
		if p.Next == "" {
			break
		}
		cursor = p.Next
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("paged rooms %v, want %v in creation order", got, want)
	}
	for q, wantIDs := range map[string]string{
		"needle":  "[needle-in-100-of-haystacks]",
		"NEEDLE":  "[needle-in-100-of-haystacks]",
		"100%":    "[needle-in-100-of-haystacks]",
		"room 3":  "[room-3]",
		"room-5":  "[room-5]",
		"nothing": "[]",
		"_":       "[]", // a LIKE wildcard is matched as itself
	} {
		var p page
		if code := s.api("GET", "/api/rooms?q="+url.QueryEscape(q), tok, nil, &p); code != http.StatusOK {
			t.Fatalf("q=%s: %d", q, code)
		}
		ids := []string{}
		for _, r := range p.Rooms {
			ids = append(ids, r.ID)
		}
		if fmt.Sprint(ids) != wantIDs {
			t.Errorf("q=%q: %v, want %s", q, ids, wantIDs)
		}
	}
}

// The members of a room come a page at a time: the room:join reply holds
// the first 100 and membersNext, GET .../members takes limit and cursor.
func TestMembersArePaged(t *testing.T) {
	s := newSystem(t)
	owner := s.register("owner")
	room := s.createRoom(owner, "Crowded")
	// The projection's members, as if 150 had joined.
	for i := range 150 {
		if _, err := s.pool.Exec(context.Background(),
			`INSERT INTO room_members (room_id, user_id, joined_at) VALUES ($1, $2, now()) ON CONFLICT DO NOTHING`,
			room, fmt.Sprintf("m%03d", i)); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 10*time.Second, "the projection has the owner as a member", func() bool {
		var n int
		_ = s.pool.QueryRow(context.Background(), `SELECT count(*) FROM room_members WHERE room_id = $1 AND user_id = 'owner'`, room).Scan(&n)
		return n == 1
	})
	c := s.dial(owner)
	reply, _ := c.join(room, nil)
	members, _ := reply["members"].([]any)
	if len(members) != 100 || reply["membersNext"] != "m099" {
		t.Fatalf("join reply: %d members, membersNext %v; want 100 and m099", len(members), reply["membersNext"])
	}

	type page struct {
		Members []struct{ User string } `json:"members"`
		Next    string                  `json:"next"`
		Error   *events.Error
	}
	seen := map[string]bool{}
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("paging does not end")
		}
		var p page
		path := "/api/rooms/" + room + "/members?limit=40"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		if code := s.api("GET", path, owner, nil, &p); code != http.StatusOK {
			t.Fatalf("%s: %d %+v", path, code, p.Error)
		}
		if len(p.Members) > 40 {
			t.Fatalf("page of %d, limit 40", len(p.Members))
		}
		for _, m := range p.Members {
			if seen[m.User] {
				t.Fatalf("%s listed twice", m.User)
			}
			seen[m.User] = true
		}
		if p.Next == "" {
			break
		}
		cursor = p.Next
	}
	if len(seen) != 151 { // 150 and the owner
		t.Fatalf("%d members listed, want 151", len(seen))
	}
}

// Names refuse control characters, NUL and bidi overrides with 400 and a
// code, so none reaches the log (where a projection could not apply it).
func TestNamesRefuseControlAndBidiCharacters(t *testing.T) {
	s := newSystem(t)
	var out struct{ Error *events.Error }
	for _, name := range []string{"nul\x00name", "evil\u202eman", "tab\there", "bell\a", "iso\u2066late"} {
		code := s.api("POST", "/api/auth/register", "", map[string]string{"username": "namer", "password": "password-namer", "displayName": name}, &out)
		if code != http.StatusBadRequest || out.Error == nil || out.Error.Code != events.CodeInvalidName {
			t.Fatalf("display name %q: %d %+v, want 400 INVALID_NAME", name, code, out.Error)
		}
	}
	tok := s.register("namer")
	for _, tc := range []struct{ name, description, code string }{
		{"Room \u202eevil", "", events.CodeInvalidRoomName},
		{"Room\x00", "", events.CodeInvalidRoomName},
		{"Fine Room", "desc \x00", events.CodeInvalidName},
		{"Fine Room", "desc \u2067", events.CodeInvalidName},
	} {
		code := s.api("POST", "/api/rooms", tok, map[string]any{"name": tc.name, "description": tc.description}, &out)
		if code != http.StatusBadRequest || out.Error == nil || out.Error.Code != tc.code {
			t.Fatalf("room %q / %q: %d %+v, want 400 %s", tc.name, tc.description, code, out.Error, tc.code)
		}
	}
	if code := s.api("POST", "/api/rooms", tok, map[string]any{"name": "Zoë's café ☕", "description": "Ünïcödé is fine"}, &out); code != http.StatusCreated {
		t.Fatalf("a room with plain Unicode: %d %+v", code, out.Error)
	}
}

// An upload's file name follows the rules of names too.
func TestUploadFileNameRefusesControlAndBidiCharacters(t *testing.T) {
	s := newSystem(t, withStorage(0))
	tok := s.register("uploader")
	var out struct{ Error *events.Error }
	for _, name := range []string{"report\u202efdp.exe", "nul\x00.png", "line\nbreak.png"} {
		code := s.api("POST", "/api/uploads", tok, map[string]any{"filename": name, "contentType": "image/png", "size": 10, "purpose": "attachment"}, &out)
		if code != http.StatusBadRequest || out.Error == nil || out.Error.Code != events.CodeInvalidName {
			t.Fatalf("file name %q: %d %+v, want 400 INVALID_NAME", name, code, out.Error)
		}
	}
	if code := s.api("POST", "/api/uploads", tok, map[string]any{"filename": "café.png", "contentType": "image/png", "size": 10, "purpose": "attachment"}, &out); code != http.StatusOK {
		t.Fatalf("a plain file name: %d %+v", code, out.Error)
	}
}
