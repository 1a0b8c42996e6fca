package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"
)

// selfFrame waits for the next frame about the user's own rooms of type
// typ, skipping the others, and returns its room and seq.
func (c *client) selfFrame(typ string) (room string, seq uint64) {
	c.t.Helper()
	for {
		var f frame
		select {
		case f = <-c.self:
		case <-time.After(15 * time.Second):
			c.t.Fatalf("%s: no %s frame", c.user, typ)
		}
		if f.Type != typ {
			continue
		}
		var d struct {
			Room string `json:"room"`
			Seq  uint64 `json:"seq"`
		}
		if err := json.Unmarshal(f.Data, &d); err != nil {
			c.t.Fatal(err)
		}
		return d.Room, d.Seq
	}
}

type myRoom struct {
	ID           string `json:"id"`
	HeadSeq      uint64 `json:"headSeq"`
	LastReadSeq  uint64 `json:"lastReadSeq"`
	UnreadCount  int    `json:"unreadCount"`
	MentionCount int    `json:"mentionCount"`
}

func (s *system) myRooms(token string) []myRoom {
	s.t.Helper()
	var out struct{ Rooms []myRoom }
	if code := s.api("GET", "/api/me/rooms", token, nil, &out); code != http.StatusOK {
		s.t.Fatalf("GET /api/me/rooms: %d", code)
	}
	return out.Rooms
}

// A user's rooms and read positions are the account's: every socket of the
// user, on any gateway, hears of a join, a read and a leave, and the room
// list (with unread and mention counts) is the same for all.
func TestReadPositionsAcrossGateways(t *testing.T) {
	s := newSystem(t)
	wsB, _ := s.startGateway()
	alice, bob := s.register("alice"), s.register("bob")
	a1, a2 := s.dial(alice), s.dialAt(wsB, alice)

	room := s.createRoom(alice, "Lounge")
	for _, c := range []*client{a1, a2} {
		if r, seq := c.selfFrame("room:joined"); r != room || seq != 1 {
			t.Fatalf("room:joined %s %d", r, seq)
		}
	}
	b1 := s.dial(bob)
	b1.join(room, nil)
	b1.send(room, "m1", "hi")
	b1.send(room, "m2", "hey @alice, look")
	b1.send(room, "m3", "not @alicex nor bob@alice.org")
	for range 3 {
		b1.posted()
	}
	eventually(t, 15*time.Second, "alice's unread counts", func() bool {
		rs := s.myRooms(alice)
		return len(rs) == 1 && rs[0].ID == room && rs[0].HeadSeq == 5 && rs[0].LastReadSeq == 1 &&
			rs[0].UnreadCount == 3 && rs[0].MentionCount == 1
	})
	if rs := s.myRooms(bob); len(rs) != 1 || rs[0].LastReadSeq != 2 || rs[0].UnreadCount != 0 {
		t.Fatalf("bob joined after nothing was said, and his own messages are read: %+v", rs)
	}

	a1.join(room, nil)
	if reply, _ := a1.request("room:read", map[string]any{"room": room, "seq": 3}); reply["ok"] != true {
		t.Fatalf("room:read: %v", reply)
	}
	for _, c := range []*client{a1, a2} {
		if r, seq := c.selfFrame("room:read"); r != room || seq != 3 {
			t.Fatalf("room:read %s %d", r, seq)
		}
	}
	eventually(t, 15*time.Second, "alice's counts after reading to seq 3", func() bool {
		rs := s.myRooms(alice)
		return len(rs) == 1 && rs[0].LastReadSeq == 3 && rs[0].UnreadCount == 2 && rs[0].MentionCount == 1
	})
	// Within the coalescing window, a later report waits, an earlier one is
	// dropped; the window's end sends the highest.
	a1.request("room:read", map[string]any{"room": room, "seq": 2})
	a1.request("room:read", map[string]any{"room": room, "seq": 5})
	if r, seq := a2.selfFrame("room:read"); r != room || seq != 5 {
		t.Fatalf("room:read %s %d", r, seq)
	}
	eventually(t, 15*time.Second, "alice's counts after reading all", func() bool {
		rs := s.myRooms(alice)
		return len(rs) == 1 && rs[0].LastReadSeq == 5 && rs[0].UnreadCount == 0 && rs[0].MentionCount == 0
	})
	// A room not joined on the socket: refused at the gateway (the validator's
	// refusals, beyond the head or not a member, are TestReadPositions').
	if reply, _ := b1.request("room:read", map[string]any{"room": "nowhere", "seq": 1}); reply["ok"] != false {
		t.Fatalf("room:read of a room not joined: %v", reply)
	}

	if reply, _ := a1.request("room:leave", map[string]any{"room": room}); reply["ok"] != true {
		t.Fatalf("leave: %v", reply)
	}
	if r, seq := a2.selfFrame("room:left"); r != room || seq != 6 {
		t.Fatalf("room:left %s %d", r, seq)
	}
	eventually(t, 15*time.Second, "alice's room list empty", func() bool { return len(s.myRooms(alice)) == 0 })
}

// A read report waiting for its coalescing window when its gateway stops
// gracefully is sent before the gateway goes.
func TestReadReportFlushedAtShutdown(t *testing.T) {
	s := newSystem(t)
	wsB, stopB := s.startGateway()
	alice, bob := s.register("alice"), s.register("bob")
	room := s.createRoom(bob, "Porch")
	b := s.dial(bob)
	b.join(room, nil)
	a := s.dialAt(wsB, alice)
	a.join(room, nil) // seq 2
	for i := range 3 {
		b.send(room, fmt.Sprint("m", i), "hello")
		b.posted()
	}
	for range 3 {
		a.posted()
	}
	if reply, _ := a.request("room:read", map[string]any{"room": room, "seq": 3}); reply["ok"] != true {
		t.Fatalf("room:read: %v", reply)
	}
	if r, seq := a.selfFrame("room:read"); r != room || seq != 3 {
		t.Fatalf("room:read %s %d", r, seq)
	}
	// Within the window: it waits, and the gateway stops meanwhile.
	if reply, _ := a.request("room:read", map[string]any{"room": room, "seq": 5}); reply["ok"] != true {
		t.Fatalf("room:read: %v", reply)
	}
	stopB()
	eventually(t, 10*time.Second, "alice's position at 5", func() bool {
		rs := s.myRooms(alice)
		return len(rs) == 1 && rs[0].LastReadSeq == 5
	})
}
