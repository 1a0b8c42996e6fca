package decide

import (
	"testing"

	"github.com/chillin-chat/chillin/events"
)

// windowFixture is a room "lobby" of alice and bob that keeps 3 messages:
// alice's old1 (clientId "c1", bob reacted 👍) and old2 (deleted while in the
// window), and bob's old3 have left the window for alice's m4, m5 and m6.
type windowFixture struct {
	room                     *Room
	old1, old2, old3, newest uint64
}

func newWindowFixture(tb testing.TB) windowFixture {
	b := newBuilder(tb, "lobby")
	b.room.SetMessageWindow(3)
	b.add(events.RoomCreated, "alice", events.RoomCreatedData{Name: "Lobby"})
	b.add(events.MemberJoined, "bob", events.MemberJoinedData{})
	old1 := b.add(events.MessagePosted, "alice", events.MessagePostedData{Text: "one", ClientID: "c1"})
	b.add(events.ReactionAdded, "bob", events.ReactionData{ID: old1, Emoji: "👍"})
	old2 := b.add(events.MessagePosted, "alice", events.MessagePostedData{Text: "two", ClientID: "c2"})
	b.add(events.MessageDeleted, "alice", events.MessageDeletedData{ID: old2})
	old3 := b.add(events.MessagePosted, "bob", events.MessagePostedData{Text: "three", ClientID: "c3"})
	var newest uint64
	for _, c := range []string{"c4", "c5", "c6"} {
		newest = b.add(events.MessagePosted, "alice", events.MessagePostedData{Text: c, ClientID: c})
	}
	return windowFixture{room: b.room, old1: old1, old2: old2, old3: old3, newest: newest}
}

func TestRoomKeepsItsWindowOfMessages(t *testing.T) {
	fx := newWindowFixture(t)
	r := fx.room
	if len(r.messages) != 3 || r.order.len() != 3 {
		t.Fatalf("the room keeps %d messages, %d in order; want 3", len(r.messages), r.order.len())
	}
	for _, id := range []uint64{fx.old1, fx.old2, fx.old3} {
		if _, ok := r.Message(id); ok || !r.Old(id) {
			t.Fatalf("message %d: still in the window, or not known to be older", id)
		}
	}
	if r.Old(fx.newest) || r.Old(fx.newest+1) || r.Old(0) {
		t.Fatal("a message of the window, or a newer id, taken for an old message")
	}
	if id, ok := r.PostedBy("alice", "c1"); !ok || id != fx.old1 {
		t.Fatal("the clientId of a message older than the window was forgotten")
	}
	// Nothing else of the older messages is held: it is looked up.
	if r.Reacted(fx.old1, Reaction{"bob", "👍"}) || len(r.reactions) != 0 || r.nReactions != 0 {
		t.Fatal("the reactions of a message older than the window are still held")
	}
}

func TestDecideMessagesOlderThanTheWindow(t *testing.T) {
	fx := newWindowFixture(t)
	asOf := fx.room.LastID
	logged := map[uint64]OldMessage{
		fx.old1: {Author: "alice", Reactions: []Reaction{{"bob", "👍"}}, AsOf: asOf},
		fx.old2: {Author: "alice", Deleted: true, AsOf: asOf},
		fx.old3: {Author: "bob", AsOf: asOf},
	}
	var full []Reaction // old3 carrying the most distinct emoji it may
	for _, e := range []string{"😀", "😁", "😂", "🤣", "😃", "😄", "😅", "😆", "😉", "😊", "😋", "😎", "😍", "😘", "🥰", "😗", "😙", "🥲", "😚", "🙂"} {
		full = append(full, Reaction{"bob", e})
	}
	edit := func(id uint64) events.MessageEdit { return events.MessageEdit{ID: id, Text: "edited"} }
	for _, tc := range []struct {
		name   string
		typ    string
		user   string
		data   any
		logged map[uint64]OldMessage
		lookup uint64
		want   want
	}{
		{"edit asks for the log", events.CmdMessageEdit, "alice", edit(fx.old1), nil, fx.old1, want{}},
		{"edit by the owner", events.CmdMessageEdit, "alice", edit(fx.old1), logged, 0, want{fact: events.MessageEdited}},
		{"edit by another member", events.CmdMessageEdit, "bob", edit(fx.old1), logged, 0, want{code: events.CodeNotOwner, confirm: true}},
		{"edit of a deleted one", events.CmdMessageEdit, "alice", edit(fx.old2), logged, 0, want{code: events.CodeNoSuchMessage, confirm: true}},
		{"edit of an id that is no message of the room", events.CmdMessageEdit, "alice", edit(fx.old1), map[uint64]OldMessage{fx.old1: {AsOf: asOf}}, 0, want{code: events.CodeNoSuchMessage, confirm: true}},
		{"an answer as of another fact is asked again", events.CmdMessageEdit, "alice", edit(fx.old1), map[uint64]OldMessage{fx.old1: {Author: "alice", AsOf: asOf - 1}}, fx.old1, want{}},
		{"edit of a newer id, no lookup", events.CmdMessageEdit, "alice", edit(fx.newest + 1), nil, 0, want{code: events.CodeNoSuchMessage, confirm: true}},
		{"delete by the owner", events.CmdMessageDelete, "bob", events.MessageDelete{ID: fx.old3}, logged, 0, want{fact: events.MessageDeleted}},
		{"delete asks for the log", events.CmdMessageDelete, "bob", events.MessageDelete{ID: fx.old3}, nil, fx.old3, want{}},
		{"reaction asks for the log", events.CmdReactionAdd, "bob", events.ReactionChange{ID: fx.old3, Emoji: "🎉"}, nil, fx.old3, want{}},
		{"reaction", events.CmdReactionAdd, "alice", events.ReactionChange{ID: fx.old3, Emoji: "🎉"}, logged, 0, want{fact: events.ReactionAdded}},
		{"reaction already there", events.CmdReactionAdd, "bob", events.ReactionChange{ID: fx.old1, Emoji: "👍"}, logged, 0, want{confirm: true}},
		{"reaction removed", events.CmdReactionRemove, "bob", events.ReactionChange{ID: fx.old1, Emoji: "👍"}, logged, 0, want{fact: events.ReactionRemoved}},
		{"reaction not there to remove", events.CmdReactionRemove, "alice", events.ReactionChange{ID: fx.old1, Emoji: "👍"}, logged, 0, want{confirm: true}},
		{"reaction to a deleted one", events.CmdReactionAdd, "bob", events.ReactionChange{ID: fx.old2, Emoji: "🎉"}, logged, 0, want{code: events.CodeNoSuchMessage, confirm: true}},
		{"reaction past the most emoji", events.CmdReactionAdd, "alice", events.ReactionChange{ID: fx.old3, Emoji: "🎉"},
			map[uint64]OldMessage{fx.old3: {Author: "bob", Reactions: full, AsOf: asOf}}, 0, want{code: events.CodeTooManyReactions, confirm: true}},
		{"reaction with an emoji already there", events.CmdReactionAdd, "alice", events.ReactionChange{ID: fx.old3, Emoji: "😀"},
			map[uint64]OldMessage{fx.old3: {Author: "bob", Reactions: full, AsOf: asOf}}, 0, want{fact: events.ReactionAdded}},
		{"reply asks for the log", events.CmdMessageSend, "bob", events.MessageSend{Text: "re", ClientID: "r1", ReplyTo: fx.old1}, nil, fx.old1, want{}},
		{"reply", events.CmdMessageSend, "bob", events.MessageSend{Text: "re", ClientID: "r1", ReplyTo: fx.old1}, logged, 0, want{fact: events.MessagePosted}},
		{"reply to a deleted one", events.CmdMessageSend, "bob", events.MessageSend{Text: "re", ClientID: "r1", ReplyTo: fx.old2}, logged, 0, want{fact: events.MessagePosted}},
		{"resend of a message older than the window", events.CmdMessageSend, "alice", events.MessageSend{Text: "again", ClientID: "c1"}, nil, 0, want{resend: fx.old1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := input(t, tc.typ, tc.user, "s-"+tc.user, "lobby", tc.data)
			in.Logged = tc.logged
			d := Decide(fx.room, in)
			if d.Lookup != tc.lookup {
				t.Fatalf("lookup %d, want %d", d.Lookup, tc.lookup)
			}
			check(t, d, tc.want, fx.room, "the-cmd")
		})
	}
}

// A room folds nothing of the changes of messages older than its window:
// they are looked up when a command names the message.
func TestRoomHoldsNothingOfOldMessages(t *testing.T) {
	fx := newWindowFixture(t)
	before := fx.room.Size()
	b := &builder{tb: t, room: fx.room, id: fx.newest, at: now}
	b.add(events.ReactionAdded, "alice", events.ReactionData{ID: fx.old3, Emoji: "🎉"})
	b.add(events.MessageDeleted, "bob", events.MessageDeletedData{ID: fx.old3})
	if fx.room.Reacted(fx.old3, Reaction{"alice", "🎉"}) || fx.room.Size() > before+2*56 {
		t.Fatal("a change of a message older than the window was held")
	}
	// A deletion of a message in the window drops its reactions.
	b.add(events.ReactionAdded, "alice", events.ReactionData{ID: fx.newest, Emoji: "🎉"})
	b.add(events.MessageDeleted, "alice", events.MessageDeletedData{ID: fx.newest})
	if m, _ := fx.room.Message(fx.newest); !m.Deleted || fx.room.nReactions != 0 {
		t.Fatal("the deletion of a message in the window was not folded")
	}
}
