package e2e

import (
	"encoding/json"
	"slices"
	"testing"
	"time"
)

// nextOf returns the next ephemeral update of type typ, skipping others.
func (c *client) nextOf(typ string, timeout time.Duration) frame {
	c.t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case f := <-c.eph:
			if f.Type == typ {
				return f
			}
		case <-deadline:
			c.t.Fatalf("%s: no %s within %s", c.user, typ, timeout)
		}
	}
}

// Typing reaches the other members of the room, not the typist, and ends by
// itself when the typist stops refreshing it.
func TestTyping(t *testing.T) {
	s := newSystem(t)
	alice, bob := s.register("alice"), s.register("bob")
	room := s.createRoom(alice, "typing")
	ca, cb := s.dial(alice), s.dial(bob)
	ca.join(room, nil)
	cb.join(room, nil)
	ca.event() // bob's join
	time.Sleep(100 * time.Millisecond)

	type update struct {
		Room  string
		Users []string
	}
	read := func(c *client) update {
		var u update
		_ = json.Unmarshal(c.nextOf("typing:update", 10*time.Second).Data, &u)
		return u
	}
	ca.write(map[string]any{"type": "typing:start", "data": map[string]any{"room": room}})
	if u := read(cb); u.Room != room || !slices.Equal(u.Users, []string{"alice"}) {
		t.Fatalf("bob saw %+v", u)
	}
	select { // alice is not told she is typing
	case f := <-ca.eph:
		if f.Type == "typing:update" {
			t.Fatalf("the typist got %s", f.Data)
		}
	case <-time.After(300 * time.Millisecond):
	}

	// Without a refresh, the typing ends after 5 s.
	start := time.Now()
	if u := read(cb); len(u.Users) != 0 {
		t.Fatalf("bob saw %+v, want nobody typing", u)
	}
	if waited := time.Since(start); waited < 3*time.Second {
		t.Fatalf("typing ended after %s, before its time", waited)
	}

	ca.write(map[string]any{"type": "typing:start", "data": map[string]any{"room": room}})
	read(cb)
	ca.write(map[string]any{"type": "typing:stop", "data": map[string]any{"room": room}})
	if u := read(cb); len(u.Users) != 0 {
		t.Fatalf("after stop bob saw %+v", u)
	}
	// Typing in a room not joined on this socket is refused.
	cc := s.dial(bob)
	cc.write(map[string]any{"type": "typing:start", "ref": "t1", "data": map[string]any{"room": room}})
	if f := cc.next(5 * time.Second); f.Type != "error" || f.Ref != "t1" {
		t.Fatalf("typing outside the room answered %s %s", f.Type, f.Data)
	}
}

// presence:set reaches the room's other members and shows in member lists;
// a join reply lists the joiner even before the projection has it.
func TestPresenceSet(t *testing.T) {
	s := newSystem(t)
	alice, bob := s.register("alice"), s.register("bob")
	room := s.createRoom(alice, "presence")
	ca, cb := s.dial(alice), s.dial(bob)
	ca.join(room, nil)
	reply, _ := cb.join(room, nil)
	var joined struct {
		Members []struct{ User, Status string }
		Room    struct{ MemberCount int }
	}
	b, _ := json.Marshal(reply)
	_ = json.Unmarshal(b, &joined)
	if !slices.ContainsFunc(joined.Members, func(m struct{ User, Status string }) bool { return m.User == "bob" }) || joined.Room.MemberCount != 2 {
		t.Fatalf("join reply: %+v", joined)
	}
	ca.event() // bob's join
	time.Sleep(100 * time.Millisecond)

	cb.write(map[string]any{"type": "presence:set", "data": map[string]any{"status": "busy"}})
	// Bob coming online may be announced first; his choice follows.
	for {
		var p struct{ User, Status string }
		_ = json.Unmarshal(ca.nextOf("presence:update", 10*time.Second).Data, &p)
		if p.User != "bob" || (p.Status != "busy" && p.Status != "online") {
			t.Fatalf("alice saw %+v", p)
		}
		if p.Status == "busy" {
			break
		}
	}
	var members struct {
		Members []struct{ User, Status string }
	}
	s.api("GET", "/api/rooms/"+room+"/members", alice, nil, &members)
	for _, m := range members.Members {
		if want := map[string]string{"alice": "online", "bob": "busy"}[m.User]; m.Status != want {
			t.Fatalf("member %s is %s, want %s", m.User, m.Status, want)
		}
	}
	cb.write(map[string]any{"type": "presence:set", "ref": "p1", "data": map[string]any{"status": "asleep"}})
	if f := cb.next(5 * time.Second); f.Type != "error" || f.Ref != "p1" {
		t.Fatalf("bad status answered %s %s", f.Type, f.Data)
	}
}
