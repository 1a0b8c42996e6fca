package validator

import (
	"fmt"
	"strings"
	"testing"

	"github.com/chillin-chat/chillin/events"
	"github.com/chillin-chat/chillin/validator/internal/decide"
)

// rejectionCodes lists user's rejection codes, space-separated, in order.
func rejectionCodes(h *harness, user string) string {
	var codes []string
	for _, r := range h.rejections(user) {
		codes = append(codes, r.Code)
	}
	return strings.Join(codes, " ")
}

// A room keeps two messages here: the commands about older ones are decided
// on their facts, read from the log, by this instance and by one that
// starts afresh.
func TestMessagesOlderThanTheWindow(t *testing.T) {
	h := newHarness(t)
	h.createRoom("lobby", "alice", false, "")
	h.joinDirect("lobby", "bob")
	cfg := h.config()
	cfg.RoomMessages = 2
	cfg.Workers = 1
	in := h.start(cfg)
	for i, user := range []string{"alice", "alice", "bob", "alice", "alice"} {
		h.send(h.message(user, "lobby", fmt.Sprintf("c%d", i), "hello"))
	}
	ms := posted(t, h.waitHead("lobby", 7))
	old1, old2, old3 := ms[0].ID, ms[1].ID, ms[2].ID

	h.send(h.command(events.CmdMessageDelete, "alice", "lobby", events.MessageDelete{ID: old2}))
	h.send(h.command(events.CmdMessageEdit, "alice", "lobby", events.MessageEdit{ID: old1, Text: "edited"}))
	h.send(h.command(events.CmdMessageEdit, "bob", "lobby", events.MessageEdit{ID: old1, Text: "hijack"}))
	h.send(h.command(events.CmdMessageEdit, "alice", "lobby", events.MessageEdit{ID: old2, Text: "deleted"}))
	h.send(h.command(events.CmdMessageEdit, "alice", "lobby", events.MessageEdit{ID: old3, Text: "bob's"}))
	h.send(h.command(events.CmdReactionAdd, "bob", "lobby", events.ReactionChange{ID: old1, Emoji: "👍"}))
	h.send(h.command(events.CmdMessageEdit, "bob", "lobby", events.MessageEdit{ID: old3, Text: "mine"}))
	h.send(h.command(events.CmdMessageEdit, "alice", "lobby", events.MessageEdit{ID: 1, Text: "a session fact"}))
	h.waitSettled()
	want := "message.deleted:alice message.edited:alice reaction.added:bob message.edited:bob"
	if got := factKinds(h.roomFacts("lobby")[7:]); got != want {
		t.Fatalf("facts about old messages:\n got %s\nwant %s", got, want)
	}
	if got := rejectionCodes(h, "bob"); got != "NOT_OWNER" {
		t.Fatalf("bob's rejections: %s", got)
	}
	if got := rejectionCodes(h, "alice"); got != "NO_SUCH_MESSAGE NOT_OWNER NO_SUCH_MESSAGE" {
		t.Fatalf("alice's rejections: %s", got)
	}

	// A fresh instance folds the room from the log, the deletion of a
	// message older than its window included.
	in.stop(t)
	h.start(cfg)
	h.send(h.command(events.CmdMessageEdit, "alice", "lobby", events.MessageEdit{ID: old2, Text: "deleted"}))
	h.send(h.command(events.CmdMessageEdit, "alice", "lobby", events.MessageEdit{ID: old1, Text: "again"}))
	h.send(h.command(events.CmdReactionAdd, "bob", "lobby", events.ReactionChange{ID: old1, Emoji: "👍"}))
	h.waitSettled()
	if got := factKinds(h.roomFacts("lobby")[11:]); got != "message.edited:alice" {
		t.Fatalf("facts after a restart: %s", got)
	}
	if got := rejectionCodes(h, "alice"); got != "NO_SUCH_MESSAGE NOT_OWNER NO_SUCH_MESSAGE NO_SUCH_MESSAGE" {
		t.Fatalf("alice's rejections after a restart: %s", got)
	}
}

// With room for one room state only, every command of another room evicts
// it: each is decided on the room read again from the log, as it would have
// been on the cached one.
func TestEvictedRoomsAreReadAgain(t *testing.T) {
	h := newHarness(t)
	h.createRoom("a", "alice", false, "")
	h.createRoom("b", "alice", false, "")
	h.joinDirect("a", "bob")
	cfg := h.config()
	cfg.RoomCacheBytes = 1
	cfg.Workers = 1
	h.start(cfg)
	for i := range 3 {
		for _, room := range []string{"a", "b"} {
			h.send(h.message("alice", room, fmt.Sprintf("k%d", i), "hello"))
			h.send(h.message("alice", room, fmt.Sprintf("k%d", i), "a resend"))
			h.send(h.message("bob", room, fmt.Sprintf("k%d", i), "bob"))
		}
	}
	h.waitSettled()
	if got := factKinds(h.roomFacts("a")[2:]); got != strings.TrimSpace(strings.Repeat("message.posted:alice message.posted:bob ", 3)) {
		t.Fatalf("room a:\n%s", got)
	}
	if got := factKinds(h.roomFacts("b")[1:]); got != "message.posted:alice message.posted:alice message.posted:alice" {
		t.Fatalf("room b: %s", got)
	}
	if got := rejectionCodes(h, "bob"); got != "NOT_MEMBER NOT_MEMBER NOT_MEMBER" {
		t.Fatalf("bob's rejections: %s", got)
	}
	if got := rejectionCodes(h, "alice"); got != "" {
		t.Fatalf("alice's rejections: %s", got)
	}
}

func TestRoomCacheEvictsTheLeastRecentlyUsed(t *testing.T) {
	room := func(id string) *decide.Room { return decide.NewRoom(id) }
	size := room("x").Size()
	c := newRoomCache(3 * size)
	for _, id := range []string{"a", "b", "c"} {
		c.put(room(id))
	}
	c.get("a")
	c.put(room("d"))
	if _, ok := c.get("b"); ok || c.len() != 3 || c.used != 3*size {
		t.Fatalf("after d: b held %v, %d rooms, %d bytes", ok, c.len(), c.used)
	}
	for _, id := range []string{"a", "c", "d"} {
		if _, ok := c.get(id); !ok {
			t.Fatalf("room %s evicted", id)
		}
	}
	c.drop("c")
	if _, ok := c.get("c"); ok || c.len() != 2 || c.used != 2*size {
		t.Fatalf("after drop: c held %v, %d rooms, %d bytes", ok, c.len(), c.used)
	}
	// The room in use stays, alone over the budget.
	small := newRoomCache(1)
	small.put(room("a"))
	small.put(room("b"))
	if _, ok := small.get("b"); !ok || small.len() != 1 {
		t.Fatalf("over budget: %d rooms, b held %v", small.len(), ok)
	}
}
