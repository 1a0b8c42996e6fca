package e2e

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/chillin-chat/chillin/events"
)

// noPostsFor fails if a message.posted of room reaches c within d; other
// frames (the member.left itself, say) may.
func (c *client) noPostsFor(room string, d time.Duration) {
	c.t.Helper()
	deadline := time.After(d)
	for {
		select {
		case f, ok := <-c.frames:
			if !ok {
				c.t.Fatalf("%s: socket closed", c.user)
			}
			var ev eventData
			if f.Type == "event" && json.Unmarshal(f.Data, &ev) == nil && ev.Room == room && ev.Kind == events.MessagePosted {
				c.t.Fatalf("%s: a message of %s after leaving it: %s", c.user, room, f.Data)
			}
		case <-deadline:
			return
		}
	}
}

// A user who leaves a room in one tab stops receiving it in the others, on
// the same gateway and on another: what is said afterwards reaches none of
// the user's sockets, until one joins the room again.
func TestLeaveStopsTheUsersOtherSockets(t *testing.T) {
	s := newSystem(t)
	wsB, _ := s.startGateway()
	alice, bob := s.register("alice"), s.register("bob")
	room := s.createRoom(bob, "Porch")
	b := s.dial(bob)
	b.join(room, nil)
	a1, a2, a3 := s.dial(alice), s.dial(alice), s.dialAt(wsB, alice)
	for _, c := range []*client{a1, a2, a3} {
		c.join(room, nil)
	}
	b.send(room, "before", "still here?")
	b.posted()
	for _, c := range []*client{a1, a2, a3} {
		if m := c.posted(); m.Text != "still here?" {
			t.Fatalf("%s got %q", c.user, m.Text)
		}
	}

	if reply, _ := a1.request("room:leave", map[string]any{"room": room}); reply["ok"] != true {
		t.Fatalf("leave: %v", reply)
	}
	for _, c := range []*client{a2, a3} {
		if r, _ := c.selfFrame("room:left"); r != room {
			t.Fatalf("room:left of %s", r)
		}
	}
	b.send(room, "after", "gone?")
	b.posted()
	for _, c := range []*client{a1, a2, a3} {
		c.noPostsFor(room, 2*time.Second)
	}
	// A dropped socket's command is refused like any socket's that did not join.
	a2.send(room, "stale", "still here")
	if f := a2.next(15 * time.Second); f.Type != "rejected" || !json.Valid(f.Data) || !containsCode(f.Data, events.CodeNotMember) {
		t.Fatalf("a send on a dropped socket: %s %s", f.Type, f.Data)
	}

	// Joined again on one socket: that one receives the room again, the
	// other tab not.
	a2.join(room, nil)
	b.send(room, "back", "welcome back")
	b.posted()
	if m := a2.posted(); m.Text != "welcome back" {
		t.Fatalf("after joining again: %q", m.Text)
	}
	a3.noPostsFor(room, time.Second)
}

func containsCode(data json.RawMessage, code string) bool {
	var d struct{ Code string }
	return json.Unmarshal(data, &d) == nil && d.Code == code
}
