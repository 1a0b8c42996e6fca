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

	"github.com/chillin-chat/chillin/events"
	"github.com/coder/websocket"
)

// Bad input gets a clear answer and loses nothing.
func TestBadInput(t *testing.T) {
	s := newSystem(t)
	alice := s.register("alice")
	room := s.createRoom(alice, "edge")

	{ // unauthenticated upgrade
		for name, h := range map[string]http.Header{
			"no token":     nil,
			"forged token": {"Authorization": {"Bearer alice.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}},
			"junk":         {"Authorization": {"Bearer nonsense"}},
		} {
			_, resp, err := websocket.Dial(context.Background(), s.wsURL, &websocket.DialOptions{HTTPHeader: h})
			if err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("%s: %v %v", name, resp, err)
			}
		}
	}

	{ // foreign origin
		_, resp, err := websocket.Dial(context.Background(), s.wsURL, &websocket.DialOptions{HTTPHeader: http.Header{
			"Authorization": {"Bearer " + alice}, "Origin": {"https://evil.example"}}})
		if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
			t.Fatalf("%v %v", resp, err)
		}
	}

	{ // frame too big
		c := s.dial(alice)
		c.writeRaw([]byte(`{"type":"heartbeat","data":{"t":"` + strings.Repeat("x", 17<<10) + `"}}`))
		for range c.frames {
		}
		if err := <-c.closed; websocket.CloseStatus(err) != websocket.StatusMessageTooBig {
			t.Fatalf("closed with %v, want 1009", err)
		}
	}

	{ // flood
		c := s.dial(alice)
		for i := 0; i < 150; i++ { // beyond the burst of 100
			b := []byte(`{"type":"heartbeat","data":{"t":1}}`)
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			err := c.ws.Write(ctx, websocket.MessageText, b)
			cancel()
			if err != nil {
				break
			}
		}
		for range c.frames {
		}
		if err := <-c.closed; websocket.CloseStatus(err) != 4008 {
			t.Fatalf("flooding socket closed with %v, want 4008", err)
		}
	}

	{ // unreadable frames
		c := s.dial(alice)
		for _, raw := range []string{
			`{not json`,
			`[]`,
			`{"type":"teleport","ref":"x1","data":{}}`,
			`{"type":"message:send","ref":"x2","data":{"room":"edge"}}`,
			`{"type":"room:join","ref":"x3","data":"general"}`,
		} {
			c.writeRaw([]byte(raw))
			if f := c.next(5 * time.Second); f.Type != "error" {
				t.Fatalf("%s answered %s %s, want error", raw, f.Type, f.Data)
			} else {
				var e events.Error
				if json.Unmarshal(f.Data, &e); e.Code == "" || e.Message == "" {
					t.Fatalf("%s: error frame %s", raw, f.Data)
				}
			}
		}
		// The socket is still usable.
		c.write(map[string]any{"type": "heartbeat", "ref": "hb", "data": map[string]any{"t": 42}})
		if f := c.next(5 * time.Second); f.Type != "heartbeat:ack" || f.Ref != "hb" || !strings.Contains(string(f.Data), `"t":42`) {
			t.Fatalf("heartbeat answered %s %s", f.Type, f.Data)
		}
	}

	{ // payloads stored verbatim
		c := s.dial(alice)
		c.join(room, nil)
		payloads := []string{
			`'); DROP TABLE messages; --`,
			`<script>alert("x")</script><img src=x onerror=alert(1)>`,
			"line one\n\tline two — ünïcødé 🎉",
		}
		for i, p := range payloads {
			c.send(room, fmt.Sprint("p", i), p)
			if m := c.posted(); m.Text != p {
				t.Fatalf("delivered %q, sent %q", m.Text, p)
			}
		}
		for i, m := range s.waitPG(room, len(payloads)) {
			if m.Text != payloads[i] {
				t.Fatalf("postgres holds %q, sent %q", m.Text, payloads[i])
			}
		}
		var h struct{ Messages []messageData }
		if code := s.api("GET", "/api/rooms/"+room+"/messages", alice, nil, &h); code != 200 || len(h.Messages) != len(payloads) {
			t.Fatalf("history: %d %+v", code, h)
		}
		for i, m := range h.Messages {
			if m.Text != payloads[i] {
				t.Fatalf("history holds %q, sent %q", m.Text, payloads[i])
			}
		}
	}
}

// The REST API per PROTOCOL.md.
func TestREST(t *testing.T) {
	s := newSystem(t)
	var reg authAnswer
	if code := s.api("POST", "/api/auth/register", "", map[string]string{"username": "Alice", "password": "short"}, &reg); code != 400 || reg.Error.Code != events.CodeInvalidPassword {
		t.Fatalf("short password: %d %+v", code, reg.Error)
	}
	if code := s.api("POST", "/api/auth/register", "", map[string]string{"username": "a b", "password": "long enough"}, &reg); code != 400 || reg.Error.Code != events.CodeInvalidUsername {
		t.Fatalf("bad username: %d %+v", code, reg.Error)
	}
	alice := s.register("alice")
	var dup authAnswer
	if code := s.api("POST", "/api/auth/register", "", map[string]string{"username": "ALICE", "password": "whatever123"}, &dup); code != 409 || dup.Error.Code != events.CodeUsernameTaken {
		t.Fatalf("duplicate: %d %+v", code, dup.Error)
	}
	var me struct {
		User struct{ ID, Username, DisplayName string }
	}
	if code := s.api("GET", "/api/auth/me", alice, nil, &me); code != 200 || me.User.ID != "alice" {
		t.Fatalf("me: %d %+v", code, me)
	}
	if code := s.api("GET", "/api/auth/me", "", nil, nil); code != 401 {
		t.Fatalf("me unauthenticated: %d", code)
	}

	var created struct {
		Room struct {
			ID          string
			IsPrivate   bool
			MemberCount int
			HeadSeq     uint64
		}
		Error *events.Error
	}
	if code := s.api("POST", "/api/rooms", alice, map[string]any{"name": "  !!! "}, &created); code != 400 || created.Error.Code != events.CodeInvalidRoomName {
		t.Fatalf("bad room name: %d %+v", code, created.Error)
	}
	if code := s.api("POST", "/api/rooms", alice, map[string]any{"name": "Book Club", "description": "pages", "isPrivate": true, "password": "hunter22"}, &created); code != 201 || created.Room.ID != "book-club" || !created.Room.IsPrivate || created.Room.MemberCount != 1 {
		t.Fatalf("create: %d %+v", code, created)
	}
	created.Error = nil
	if code := s.api("POST", "/api/rooms", alice, map[string]any{"name": "book club!"}, &created); code != 409 || created.Error.Code != events.CodeRoomExists {
		t.Fatalf("same id: %d %+v", code, created.Error)
	}
	var one struct{ Room struct{ ID, Name string } }
	if code := s.api("GET", "/api/rooms/book-club", alice, nil, &one); code != 200 || one.Room.Name != "Book Club" {
		t.Fatalf("get room: %d %+v", code, one)
	}
	if code := s.api("GET", "/api/rooms/nope", alice, nil, nil); code != 404 {
		t.Fatalf("missing room: %d", code)
	}

	// A private room needs its password, and its history is for members.
	bob := s.register("bob")
	cb := s.dial(bob)
	if reply, _ := cb.request("room:join", map[string]any{"room": "book-club", "password": "wrong"}); reply["ok"] != false {
		t.Fatalf("wrong password joined: %v", reply)
	} else if e := reply["error"].(map[string]any); e["code"] != events.CodeWrongPassword {
		t.Fatalf("wrong password: %v", reply)
	}
	if code := s.api("GET", "/api/rooms/book-club/messages", bob, nil, nil); code != 403 {
		t.Fatalf("non-member history: %d", code)
	}
	if reply, _ := cb.request("room:join", map[string]any{"room": "book-club", "password": "hunter22"}); reply["ok"] != true {
		t.Fatalf("right password: %v", reply)
	}

	// History pages back by id.
	ca := s.dial(alice)
	ca.join("book-club", nil)
	for i := 0; i < 7; i++ {
		ca.send("book-club", fmt.Sprint("h", i), fmt.Sprint("page ", i))
		ca.posted()
	}
	s.waitPG("book-club", 7)
	var page struct {
		Messages []messageData
		HasMore  bool
	}
	if code := s.api("GET", "/api/rooms/book-club/messages?limit=3", bob, nil, &page); code != 200 || len(page.Messages) != 3 || !page.HasMore || page.Messages[2].ClientID != "h6" {
		t.Fatalf("newest page: %d %+v", code, page)
	}
	before := page.Messages[0].ID
	if code := s.api("GET", fmt.Sprint("/api/rooms/book-club/messages?limit=5&before=", before), bob, nil, &page); code != 200 || len(page.Messages) != 4 || page.HasMore || page.Messages[0].ClientID != "h0" {
		t.Fatalf("older page: %d %+v", code, page)
	}
	for _, bad := range []string{"?limit=0", "?limit=101", "?limit=x", "?before=-1"} {
		if code := s.api("GET", "/api/rooms/book-club/messages"+bad, bob, nil, nil); code != 400 {
			t.Fatalf("%s: %d", bad, code)
		}
	}

	var list struct {
		Rooms []struct {
			ID                       string
			MemberCount, OnlineCount int
			HeadSeq                  uint64
		}
	}
	eventually(t, 10*time.Second, "room list", func() bool {
		s.api("GET", "/api/rooms", alice, nil, &list)
		return len(list.Rooms) == 1 && list.Rooms[0].MemberCount == 2 && list.Rooms[0].HeadSeq == 9
	})
	if list.Rooms[0].OnlineCount != 2 {
		t.Fatalf("online count %d, want 2 (both connected)", list.Rooms[0].OnlineCount)
	}
	var members struct {
		Members []struct{ User, Status string }
	}
	if code := s.api("GET", "/api/rooms/book-club/members", alice, nil, &members); code != 200 || len(members.Members) != 2 || members.Members[1].User != "bob" || members.Members[1].Status != "online" {
		t.Fatalf("members: %d %+v", code, members)
	}

	for path, want := range map[string]int{"/health": 200, "/ready": 200, "/api/nowhere": 404, "/": 200, "/js/main.js": 200, "/nowhere.js": 404} {
		if code := s.api("GET", path, "", nil, nil); code != want {
			t.Fatalf("%s: %d", path, code)
		}
	}
	resp, err := http.Get(s.baseURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "chillin_gateway_connections 2") || !strings.Contains(string(body), `chillin_gateway_commands_total{type="message.send"} 7`) {
		t.Fatalf("metrics:\n%s", body)
	}
}

// Logging out revokes the session: its sockets close with 4001 and the token
// stops working, on every path.
func TestLogout(t *testing.T) {
	s := newSystem(t)
	alice := s.register("alice")
	var second authAnswer
	if code := s.api("POST", "/api/auth/login", "", map[string]string{"username": "alice", "password": "password-alice"}, &second); code != 200 {
		t.Fatalf("login: %d", code)
	}
	c1, c2 := s.dial(alice), s.dial(second.Token)
	if code := s.api("POST", "/api/auth/logout", alice, nil, nil); code != 204 {
		t.Fatalf("logout: %d", code)
	}
	for range c1.frames {
	}
	if err := <-c1.closed; websocket.CloseStatus(err) != 4001 {
		t.Fatalf("revoked socket closed with %v, want 4001", err)
	}
	if code := s.api("GET", "/api/auth/me", alice, nil, nil); code != 401 {
		t.Fatalf("revoked token: %d", code)
	}
	// Even with the cache gone, Postgres knows it was revoked.
	eventually(t, 10*time.Second, "revocation projected", func() bool {
		var n int
		_ = s.pool.QueryRow(context.Background(), `SELECT count(*) FROM sessions WHERE user_id = 'alice' AND revoked_at IS NOT NULL`).Scan(&n)
		return n == 1
	})
	s.flushRedisSessions()
	if code := s.api("GET", "/api/auth/me", alice, nil, nil); code != 401 {
		t.Fatalf("revoked token after cache loss: %d", code)
	}
	// The other session lives on, and survives the cache loss.
	if code := s.api("GET", "/api/auth/me", second.Token, nil, nil); code != 200 {
		t.Fatalf("other session: %d", code)
	}
	c2.write(map[string]any{"type": "heartbeat", "data": map[string]any{"t": 1}})
	if f := c2.next(5 * time.Second); f.Type != "heartbeat:ack" {
		t.Fatalf("other socket: %s", f.Type)
	}
}

// Postgres unreachable while sending: sends are still accepted and delivered,
// reads say clearly what is missing; when it is back, the projector catches
// up with nothing lost.
func TestPostgresOutage(t *testing.T) {
	s := newSystem(t, withRateLimit(100), withProxies())
	alice := s.register("alice")
	room := s.createRoom(alice, "outage")
	ca := s.dial(alice)
	ca.join(room, nil)
	ca.send(room, "before", "before the outage")
	ca.posted()
	s.waitPG(room, 1)

	s.pgProxy.cut()
	for i := 0; i < 30; i++ {
		ca.send(room, fmt.Sprint("o", i), fmt.Sprint("during the outage ", i))
	}
	for i := 0; i < 30; i++ {
		if m := ca.posted(); m.ClientID != fmt.Sprint("o", i) {
			t.Fatalf("accepted %q, want o%d", m.ClientID, i)
		}
	}
	var ready struct {
		Status string
		Down   []string
	}
	if code := s.api("GET", "/ready", "", nil, &ready); code != 503 || fmt.Sprint(ready.Down) != "[postgres]" {
		t.Fatalf("ready: %d %+v", code, ready)
	}
	// History comes from the Redis cache, which kept up; what only
	// Postgres holds (the member list) says it is unavailable.
	eventually(t, 10*time.Second, "history from the cache while postgres is away", func() bool {
		var h struct{ Messages []messageData }
		return s.api("GET", "/api/rooms/"+room+"/messages", alice, nil, &h) == 200 && len(h.Messages) == 31
	})
	var e struct{ Error *events.Error }
	if code := s.api("GET", "/api/rooms/"+room+"/members", alice, nil, &e); code != 503 || e.Error.Code != events.CodeUnavailable {
		t.Fatalf("members while postgres is away: %d %+v", code, e.Error)
	}
	if code := s.api("GET", "/api/auth/me", alice, nil, nil); code != 200 {
		t.Fatalf("me while postgres is away: %d", code)
	}
	if n := len(s.pgMessages(room)); n != 1 {
		t.Fatalf("postgres holds %d messages while cut off, want 1", n)
	}
	s.pgProxy.restore()
	msgs := s.waitPG(room, 31)
	for i, m := range msgs[1:] {
		if m.ClientID != fmt.Sprint("o", i) {
			t.Fatalf("message %d is %q", i, m.ClientID)
		}
	}
	if code := s.api("GET", "/ready", "", nil, nil); code != 200 {
		t.Fatalf("ready after the outage: %d", code)
	}
}

// Redis unreachable: sessions fall back to Postgres, sending keeps working
// (rate limits count per validator), and clients are caught up from the log
// although live fan-out has paused.
func TestRedisOutage(t *testing.T) {
	s := newSystem(t, withProxies())
	alice, bob := s.register("alice"), s.register("bob")
	room := s.createRoom(alice, "no-redis")
	ca, cb := s.dial(alice), s.dial(bob)
	ca.join(room, nil)
	cb.join(room, nil)
	ca.event() // bob's join
	eventually(t, 10*time.Second, "sessions projected", func() bool {
		var n int
		_ = s.pool.QueryRow(context.Background(), `SELECT count(*) FROM sessions`).Scan(&n)
		return n == 2
	})

	s.redisProxy.cut()
	if code := s.api("GET", "/api/auth/me", alice, nil, nil); code != 200 {
		t.Fatalf("me without redis: %d", code)
	}
	var login authAnswer
	if code := s.api("POST", "/api/auth/login", "", map[string]string{"username": "bob", "password": "password-bob"}, &login); code != 200 {
		t.Fatalf("login without redis: %d %+v", code, login.Error)
	}
	for i := 0; i < 3; i++ {
		ca.send(room, fmt.Sprint("r", i), fmt.Sprint("no redis ", i))
	}
	for i := 0; i < 3; i++ {
		if m := cb.posted(); m.ClientID != fmt.Sprint("r", i) {
			t.Fatalf("bob got %q, want r%d", m.ClientID, i)
		}
	}
	var ready struct{ Down []string }
	if code := s.api("GET", "/ready", "", nil, &ready); code != 503 || fmt.Sprint(ready.Down) != "[redis]" {
		t.Fatalf("ready: %d %+v", code, ready)
	}
	s.redisProxy.restore()
	ca.send(room, "after", "redis is back")
	if m := cb.posted(); m.ClientID != "after" {
		t.Fatalf("bob got %q after redis returned", m.ClientID)
	}
	cb.quiet(300 * time.Millisecond)
}
