package e2e

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/chillin-chat/chillin/events"
)

// kindEvent returns the next room event, which must be of kind.
func (c *client) kindEvent(kind string) eventData {
	c.t.Helper()
	ev := c.event()
	if ev.Kind != kind {
		c.t.Fatalf("%s: got %s %s, want %s", c.user, ev.Kind, ev.Data, kind)
	}
	return ev
}

type historyMessage struct {
	ID        uint64
	Text      string
	Deleted   bool
	EditedAt  *time.Time
	Reactions map[string][]string
}

func (s *system) history(token, room string) []historyMessage {
	s.t.Helper()
	var h struct{ Messages []historyMessage }
	if code := s.api("GET", "/api/rooms/"+room+"/messages", token, nil, &h); code != 200 {
		s.t.Fatalf("history: %d", code)
	}
	return h.Messages
}

// Edits and deletes are the author's alone; reactions are idempotent; every
// view (live, history, a reconnecting client) agrees.
func TestEditDeleteReact(t *testing.T) {
	s := newSystem(t)
	alice, bob := s.register("alice"), s.register("bob")
	room := s.createRoom(alice, "features")
	ca, cb := s.dial(alice), s.dial(bob)
	ca.join(room, nil)
	_, evs := cb.join(room, nil)
	last := evs[len(evs)-1].Seq
	ca.event() // bob's join

	ca.send(room, "m1", "first draft")
	m := ca.posted()
	cb.posted()
	ca.send(room, "m2", "will be deleted")
	gone := ca.posted()
	cb.posted()

	// Not the author: refused, and nobody else hears of it.
	cb.write(map[string]any{"type": "message:edit", "ref": "e1", "data": map[string]any{"room": room, "id": m.ID, "text": "hijacked"}})
	if r := cb.rejected(); r.Code != events.CodeNotOwner || r.Ref != "e1" {
		t.Fatalf("bob's edit: %+v", r)
	}
	cb.write(map[string]any{"type": "message:delete", "ref": "d1", "data": map[string]any{"room": room, "id": m.ID}})
	if r := cb.rejected(); r.Code != events.CodeNotOwner {
		t.Fatalf("bob's delete: %+v", r)
	}
	cb.write(map[string]any{"type": "message:edit", "data": map[string]any{"room": room, "id": 999999, "text": "x"}})
	if r := cb.rejected(); r.Code != events.CodeNoSuchMessage {
		t.Fatalf("edit of a missing message: %+v", r)
	}

	ca.write(map[string]any{"type": "message:edit", "data": map[string]any{"room": room, "id": m.ID, "text": "final text"}})
	for _, c := range []*client{ca, cb} {
		ev := c.kindEvent(events.MessageEdited)
		var d struct {
			ID       uint64
			Text     string
			EditedAt time.Time
		}
		_ = json.Unmarshal(ev.Data, &d)
		if d.ID != m.ID || d.Text != "final text" || d.EditedAt.IsZero() {
			t.Fatalf("%s saw edit %s", c.user, ev.Data)
		}
	}
	ca.write(map[string]any{"type": "message:delete", "data": map[string]any{"room": room, "id": gone.ID}})
	for _, c := range []*client{ca, cb} {
		c.kindEvent(events.MessageDeleted)
	}

	// Reactions: the second identical add changes nothing and says nothing.
	for i := 0; i < 2; i++ {
		cb.write(map[string]any{"type": "reaction:add", "data": map[string]any{"room": room, "id": m.ID, "emoji": "👍"}})
	}
	cb.kindEvent(events.ReactionAdded)
	ca.write(map[string]any{"type": "reaction:add", "data": map[string]any{"room": room, "id": m.ID, "emoji": "👍"}})
	ca.write(map[string]any{"type": "reaction:add", "data": map[string]any{"room": room, "id": m.ID, "emoji": "🎉"}})
	ca.write(map[string]any{"type": "reaction:remove", "data": map[string]any{"room": room, "id": m.ID, "emoji": "🎉"}})
	for _, kind := range []string{events.ReactionAdded, events.ReactionAdded, events.ReactionRemoved} {
		cb.kindEvent(kind)
	}
	cb.quiet(300 * time.Millisecond) // bob's second 👍 changed nothing

	// History: edited text with its time, the deleted message a tombstone
	// without text, reactions with who reacted.
	var hist []historyMessage
	eventually(t, 10*time.Second, "history caught up", func() bool {
		hist = s.history(alice, room)
		return len(hist) == 2 && hist[1].Deleted && len(hist[0].Reactions["👍"]) == 2 && len(hist[0].Reactions) == 1
	})
	if hist[0].Text != "final text" || hist[0].EditedAt == nil || hist[1].Text != "" {
		t.Fatalf("history: %+v", hist)
	}
	if got := fmt.Sprint(hist[0].Reactions["👍"]); got != "[bob alice]" {
		t.Fatalf("reactions %s", got)
	}

	// A client that reconnects sees the same: the edit and the delete
	// replayed after the message they change.
	again := s.dial(bob)
	_, missed := again.join(room, &last)
	kinds := []string{}
	for _, ev := range missed {
		kinds = append(kinds, ev.Kind)
	}
	want := "[message.posted message.posted message.edited message.deleted reaction.added reaction.added reaction.added reaction.removed]"
	if fmt.Sprint(kinds) != want {
		t.Fatalf("replayed %v, want %s", kinds, want)
	}
}
