package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/chillin-chat/chillin/events"
	"github.com/chillin-chat/chillin/events/ratelimit"
)

// refusals reads n frames of c and returns the rejected ones by ref, and
// how many room events came among them.
func (c *client) refusals(n int) (map[string]rejectedData, int) {
	c.t.Helper()
	out := map[string]rejectedData{}
	evs := 0
	for range n {
		f := c.next(15 * time.Second)
		switch f.Type {
		case "rejected":
			var r rejectedData
			_ = json.Unmarshal(f.Data, &r)
			out[r.Ref] = r
		case "event":
			evs++
		default:
			c.t.Fatalf("%s: unexpected %s %s", c.user, f.Type, f.Data)
		}
	}
	return out, evs
}

// Floods of edits and of reactions are refused past their limits with
// `rejected` frames the sender receives, a reaction must be an emoji, and
// the other members see only what was accepted.
func TestCommandFloodsRefused(t *testing.T) {
	s := newSystem(t, withRateLimits(ratelimit.Rules{
		ratelimit.Message:  {Limit: 10, Window: 10 * time.Second},
		ratelimit.Edit:     {Limit: 3, Window: time.Hour},
		ratelimit.Reaction: {Limit: 3, Window: time.Hour},
	}))
	alice, bob := s.register("alice"), s.register("bob")
	room := s.createRoom(alice, "floods")
	ca, cb := s.dial(alice), s.dial(bob)
	ca.join(room, nil)
	cb.join(room, nil)
	ca.event() // bob's join
	ca.send(room, "m1", "hello")
	m := ca.posted()
	cb.posted()

	for i := range 6 {
		ca.write(map[string]any{"type": "message:edit", "ref": fmt.Sprint("e", i), "data": map[string]any{"room": room, "id": m.ID, "text": fmt.Sprint("edit ", i)}})
	}
	rs, evs := ca.refusals(6)
	if evs != 3 || len(rs) != 3 {
		t.Fatalf("edits: %d accepted, refusals %+v; want 3 and 3", evs, rs)
	}
	for _, ref := range []string{"e3", "e4", "e5"} {
		if r := rs[ref]; r.Code != events.CodeRateLimited || r.Room != room || r.RetryAfterMs <= 0 {
			t.Fatalf("edit %s: %+v, want RATE_LIMITED", ref, r)
		}
	}

	ca.write(map[string]any{"type": "reaction:add", "ref": "spam", "data": map[string]any{"room": room, "id": m.ID, "emoji": "spam1"}})
	if r := ca.rejected(); r.Code != events.CodeInvalidEmoji || r.Ref != "spam" {
		t.Fatalf("reaction spam1: %+v, want INVALID_EMOJI", r)
	}
	for i, e := range []string{"👍", "🎉", "🇫🇷", "😀", "👨‍👩‍👧"} {
		ca.write(map[string]any{"type": "reaction:add", "ref": fmt.Sprint("x", i), "data": map[string]any{"room": room, "id": m.ID, "emoji": e}})
	}
	rs, evs = ca.refusals(5)
	if evs != 3 || rs["x3"].Code != events.CodeRateLimited || rs["x4"].Code != events.CodeRateLimited {
		t.Fatalf("reactions: %d accepted, refusals %+v; want 3 and x3, x4 RATE_LIMITED", evs, rs)
	}
	// Bob sees the 3 edits and 3 reactions, and none of the refusals.
	for range 6 {
		if ev := cb.event(); ev.Kind != events.MessageEdited && ev.Kind != events.ReactionAdded {
			t.Fatalf("bob saw %s", ev.Kind)
		}
	}
	cb.quiet(300 * time.Millisecond)
}

// Typing and presence updates, which never reach the validator, are
// limited per user by the gateways, in one window that every gateway
// shares; the refusal is an `error` frame with RATE_LIMITED.
func TestEphemeralFloodsRefused(t *testing.T) {
	s := newSystem(t, withRateLimits(ratelimit.Rules{
		ratelimit.Typing:   {Limit: 4, Window: time.Hour},
		ratelimit.Presence: {Limit: 2, Window: time.Hour},
	}))
	alice, bob := s.register("alice"), s.register("bob")
	room := s.createRoom(alice, "ephemeral")
	second, _ := s.startGateway()
	ca, ca2, cb := s.dial(alice), s.dialAt(second, alice), s.dial(bob)
	ca.join(room, nil)
	ca2.join(room, nil)
	cb.join(room, nil)

	refused := func(c *client, ref string) {
		t.Helper()
		for {
			f := c.next(10 * time.Second)
			if f.Type != "error" {
				continue // room events of the joins
			}
			var e events.Error
			_ = json.Unmarshal(f.Data, &e)
			if f.Ref != ref || e.Code != events.CodeRateLimited || e.RetryAfterMs <= 0 {
				t.Fatalf("%s: error %s %+v, want RATE_LIMITED for %s", c.user, f.Ref, e, ref)
			}
			return
		}
	}
	// Two typing frames on each gateway fill alice's window of 4.
	for i, c := range []*client{ca, ca2, ca, ca2} {
		typ := "typing:start"
		if i >= 2 {
			typ = "typing:stop"
		}
		c.write(map[string]any{"type": typ, "ref": fmt.Sprint("t", i), "data": map[string]any{"room": room}})
	}
	for range 4 { // bob sees each of them
		cb.nextOf("typing:update", 10*time.Second)
	}
	ca.write(map[string]any{"type": "typing:start", "ref": "t4", "data": map[string]any{"room": room}})
	refused(ca, "t4")
	ca2.write(map[string]any{"type": "typing:start", "ref": "t5", "data": map[string]any{"room": room}})
	refused(ca2, "t5")
	// Bob may still type: the window is alice's.
	cb.write(map[string]any{"type": "typing:start", "data": map[string]any{"room": room}})
	ca.nextOf("typing:update", 10*time.Second)

	for i, c := range []*client{ca, ca2} {
		c.write(map[string]any{"type": "presence:set", "ref": fmt.Sprint("p", i), "data": map[string]any{"status": "away"}})
	}
	ca2.write(map[string]any{"type": "presence:set", "ref": "p2", "data": map[string]any{"status": "busy"}})
	refused(ca2, "p2")
	// Nobody was told of the refused update.
	for {
		select {
		case f := <-cb.eph:
			var p struct{ User, Status string }
			_ = json.Unmarshal(f.Data, &p)
			if f.Type == "presence:update" && p.Status == "busy" {
				t.Fatalf("a refused status reached bob: %s", f.Data)
			}
			continue
		case <-time.After(500 * time.Millisecond):
		}
		break
	}
}

// A user creates at most the configured rooms per window; the next one is
// 429 RATE_LIMITED with Retry-After, and another user is not affected.
func TestRoomCreationLimited(t *testing.T) {
	s := newSystem(t, withRateLimits(ratelimit.Rules{ratelimit.RoomCreate: {Limit: 3, Window: time.Hour}}))
	alice, bob := s.register("alice"), s.register("bob")
	for i := range 3 {
		s.createRoom(alice, fmt.Sprint("room ", i))
	}
	body, _ := json.Marshal(map[string]any{"name": "one too many"})
	req, _ := http.NewRequest("POST", s.baseURL+"/api/rooms", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+alice)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct{ Error events.Error }
	_ = json.NewDecoder(resp.Body).Decode(&out)
	if resp.StatusCode != http.StatusTooManyRequests || out.Error.Code != events.CodeRateLimited || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("4th room: %d %+v Retry-After %q, want 429 RATE_LIMITED", resp.StatusCode, out.Error, resp.Header.Get("Retry-After"))
	}
	// Nothing was created for the refused request.
	if code := s.api("GET", "/api/rooms/"+events.RoomIDFromName("one too many"), alice, nil, nil); code != http.StatusNotFound {
		t.Fatalf("the refused room answers %d", code)
	}
	s.createRoom(bob, "bob's room")
}
