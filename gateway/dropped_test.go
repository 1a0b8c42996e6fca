package gateway_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/chillin-chat/chillin/events"
	"github.com/chillin-chat/chillin/events/redistest"
)

// answers sends frames (each with a distinct ref) on ws and returns the
// answer to each, by ref: its reply, error or rejected frame. A frame the
// server does not answer is missing from the map once the last one is
// answered (frames are handled in order).
func answers(t *testing.T, ws *websocket.Conn, frames map[string]string, last string) map[string]frame {
	t.Helper()
	for ref, f := range frames {
		if ref != last {
			send(t, ws, f)
		}
	}
	send(t, ws, frames[last])
	got := map[string]frame{}
	for range 100 {
		f := read(t, ws)
		ref := f.Ref
		if f.Type == "rejected" {
			var d struct{ Ref string }
			_ = json.Unmarshal(f.Data, &d)
			ref = d.Ref
		}
		if _, ok := frames[ref]; !ok || ref == "" {
			continue
		}
		got[ref] = f
		if ref == last {
			return got
		}
	}
	t.Fatalf("no answer to %s in 100 frames", last)
	return nil
}

// errorCode is the code of an error, rejected or refused reply frame.
func (f frame) errorCode() string {
	var d struct {
		Code  string
		Error struct{ Code string }
	}
	_ = json.Unmarshal(f.Data, &d)
	if d.Error.Code != "" {
		return d.Error.Code
	}
	return d.Code
}

// A socket that a leave in another tab dropped from a room is, for every
// frame acting in that room, a socket that never joined it: its typing,
// read reports, syncs and commands are refused NOT_MEMBER, each in its
// frame's own way, its typing there ends and no more reaches anyone. Joined again, it acts
// in the room again.
func testDroppedSocket(t *testing.T, e *env) {
	g := e.gateway(t, nil)
	odin := g.register("odin")
	if r := g.do("POST", "/api/rooms", odin, map[string]any{"name": "Veranda"}, nil); r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	var tabs [2]*websocket.Conn
	var head uint64
	for i := range tabs {
		ws, status, _ := g.dial(t, odin, "")
		if ws == nil {
			t.Fatalf("dial: %d", status)
		}
		send(t, ws, `{"type":"room:join","ref":"j","data":{"room":"veranda"}}`)
		f := readType(t, ws, "reply")
		var d struct{ HeadSeq uint64 }
		if f.Ref != "j" || f.errorCode() != "" || json.Unmarshal(f.Data, &d) != nil {
			t.Fatalf("join: %s %s", f.Ref, f.Data)
		}
		head, tabs[i] = d.HeadSeq, ws
	}
	leaving, other := tabs[0], tabs[1]
	rdb := redistest.Client(t)
	typists := func() []string {
		t.Helper()
		users, err := rdb.ZRange(context.Background(), g.prefix+"typing:veranda", 0, -1).Result()
		if err != nil {
			t.Fatal(err)
		}
		return users
	}
	send(t, other, `{"type":"typing:start","data":{"room":"veranda"}}`)
	for deadline := time.Now().Add(10 * time.Second); len(typists()) == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("typing before the leave: no one typing")
		}
	}
	send(t, leaving, `{"type":"room:leave","ref":"l","data":{"room":"veranda"}}`)
	if f := readType(t, leaving, "reply"); f.Ref != "l" || f.errorCode() != "" {
		t.Fatalf("leave: %s %s", f.Ref, f.Data)
	}
	// No projector runs here: tell the user's sockets of the leave (its
	// member.left is the fact after the joins) as the projector does.
	left, _ := json.Marshal(map[string]any{"type": "room:left", "data": map[string]any{"room": "veranda", "seq": head + 1}})
	live, _ := json.Marshal(events.UserLive{All: true, Frame: left})
	if err := rdb.Publish(context.Background(), events.UserChannel(g.prefix, "odin"), live).Err(); err != nil {
		t.Fatal(err)
	}
	readType(t, other, "room:left") // the socket was dropped before this came
	if users := typists(); len(users) != 0 {
		t.Errorf("typing once dropped: %v; want no one", users)
	}

	got := answers(t, other, map[string]string{
		"t": `{"type":"typing:start","ref":"t","data":{"room":"veranda"}}`,
		"r": `{"type":"room:read","ref":"r","data":{"room":"veranda","seq":1}}`,
		"m": `{"type":"message:send","ref":"m","data":{"room":"veranda","clientId":"c1","text":"still here"}}`,
		"s": `{"type":"room:sync","ref":"s","data":{"room":"veranda","after":0}}`,
	}, "s")
	for ref, want := range map[string]string{"t": "error", "r": "reply", "m": "rejected", "s": "reply"} {
		f, ok := got[ref]
		switch {
		case !ok:
			t.Errorf("%s on a dropped socket: not answered; want %s NOT_MEMBER", ref, want)
		case f.Type != want || f.errorCode() != "NOT_MEMBER":
			t.Errorf("%s on a dropped socket: %s %s; want %s NOT_MEMBER", ref, f.Type, f.Data, want)
		}
	}
	if users := typists(); len(users) != 0 {
		t.Errorf("typing on a dropped socket: %v; want no one", users)
	}

	// Joined again, the same socket acts in the room again.
	send(t, other, `{"type":"room:join","ref":"j2","data":{"room":"veranda"}}`)
	if f := readType(t, other, "reply"); f.Ref != "j2" || f.errorCode() != "" {
		t.Fatalf("join again: %s %s", f.Ref, f.Data)
	}
	got = answers(t, other, map[string]string{
		"r2": `{"type":"room:read","ref":"r2","data":{"room":"veranda","seq":1}}`,
	}, "r2")
	if f := got["r2"]; f.Type != "reply" || f.errorCode() != "" {
		t.Errorf("read after joining again: %s %s", f.Type, f.Data)
	}
}
