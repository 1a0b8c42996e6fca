package decide

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/chillin-chat/chillin/events"
	"github.com/chillin-chat/chillin/events/password"
)

var now = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// hashPassword builds an argon2id PHC string with cheap parameters.
func hashPassword(tb testing.TB, pw string) string {
	tb.Helper()
	h, err := password.Hash(pw, password.Params{Memory: 64, Time: 1, Threads: 1})
	if err != nil {
		tb.Fatal(err)
	}
	return h
}

// builder appends facts to a room with consecutive seqs and stream ids.
type builder struct {
	tb   testing.TB
	room *Room
	id   uint64
	at   time.Time // the time of the facts
}

func newBuilder(tb testing.TB, room string) *builder {
	return &builder{tb: tb, room: NewRoom(room), id: 100, at: now}
}

func (b *builder) add(typ, user string, data any) uint64 {
	b.tb.Helper()
	b.id += 3 // other subjects' facts in between
	f, err := events.NewFact(typ, b.room.ID, b.room.Head+1, user, fmt.Sprintf("cmd-%d", b.id), b.at, data)
	if err != nil {
		b.tb.Fatal(err)
	}
	if err := b.room.Apply(events.Stored{ID: b.id, Fact: f}); err != nil {
		b.tb.Fatal(err)
	}
	return b.id
}

// fixture is a public room "lobby" created by alice, joined by bob, with
// alice's message m1 (clientId "c1", bob reacted 👍), bob's m2, and alice's
// m3 which she deleted; carol is not a member.
type fixture struct {
	room       *Room
	m1, m2, m3 uint64
}

func newFixture(tb testing.TB) fixture {
	b := newBuilder(tb, "lobby")
	b.add(events.RoomCreated, "alice", events.RoomCreatedData{Name: "Lobby"})
	b.add(events.MemberJoined, "bob", events.MemberJoinedData{})
	m1 := b.add(events.MessagePosted, "alice", events.MessagePostedData{Text: "hi", ClientID: "c1"})
	m2 := b.add(events.MessagePosted, "bob", events.MessagePostedData{Text: "yo", ClientID: "c1"})
	m3 := b.add(events.MessagePosted, "alice", events.MessagePostedData{Text: "oops", ClientID: "c2"})
	b.add(events.MessageDeleted, "alice", events.MessageDeletedData{ID: m3})
	b.add(events.ReactionAdded, "bob", events.ReactionData{ID: m1, Emoji: "👍"})
	return fixture{room: b.room, m1: m1, m2: m2, m3: m3}
}

func privateRoom(tb testing.TB, pw string) *Room {
	b := newBuilder(tb, "vault")
	b.add(events.RoomCreated, "alice", events.RoomCreatedData{Name: "Vault", IsPrivate: true, PasswordHash: hashPassword(tb, pw)})
	return b.room
}

var sessions = Sessions{
	"s-alice":   {User: "alice", ExpiresAt: now.Add(time.Hour)},
	"s-bob":     {User: "bob"},
	"s-carol":   {User: "carol", ExpiresAt: now.Add(time.Hour)},
	"s-revoked": {User: "alice", Revoked: true},
	"s-expired": {User: "alice", ExpiresAt: now},
}

// rawJSON is a payload passed to the command as is, bypassing encoding.
type rawJSON string

func input(tb testing.TB, typ, user, session, room string, data any) Input {
	tb.Helper()
	cmd, err := events.NewCommand(typ, "the-cmd", user, session, room, now, data)
	if err != nil {
		tb.Fatal(err)
	}
	if raw, ok := data.(rawJSON); ok {
		cmd.Data = []byte(raw)
	}
	s, ok := sessions[session]
	return Input{Cmd: cmd, Session: s, SessionKnown: ok, Now: now, MaxTextRunes: 20}
}

type want struct {
	code    string // rejection code; "" when not rejected
	fact    string // fact type to append; "" when none
	resend  uint64
	confirm bool
}

func check(t *testing.T, d Decision, w want, room *Room, cmdID string) {
	t.Helper()
	gotCode := ""
	if d.Reject != nil {
		gotCode = d.Reject.Code
	}
	gotFact := ""
	if d.Fact != nil {
		gotFact = d.Fact.Type
	}
	if gotCode != w.code || gotFact != w.fact || d.Resend != w.resend || d.RateLimit != (w.fact != "") || d.Confirm != w.confirm {
		t.Fatalf("decision = {code %q fact %q resend %d rate %v confirm %v}, want %+v (reject: %v)",
			gotCode, gotFact, d.Resend, d.RateLimit, d.Confirm, w, d.Reject)
	}
	if d.Fact != nil {
		if d.Fact.Seq != room.Head+1 || d.Fact.Room != room.ID || d.Fact.Cmd != cmdID || !d.Fact.At.Equal(now) {
			t.Fatalf("fact envelope %+v: want seq %d room %s cmd %s", d.Fact, room.Head+1, room.ID, cmdID)
		}
	}
}

func TestDecideMessageSend(t *testing.T) {
	fx := newFixture(t)
	send := func(text, clientID string) events.MessageSend {
		return events.MessageSend{Text: text, ClientID: clientID}
	}
	long := strings.Repeat("é", 20)
	for _, tc := range []struct {
		name    string
		user    string
		session string
		room    string
		data    any
		want    want
	}{
		{"accepted", "alice", "s-alice", "lobby", send("hello", "n1"), want{fact: events.MessagePosted}},
		{"session never started", "alice", "s-nobody", "lobby", send("hello", "n1"), want{code: events.CodeUnauthenticated}},
		{"session of another user", "bob", "s-alice", "lobby", send("hello", "n1"), want{code: events.CodeUnauthenticated}},
		{"session revoked", "alice", "s-revoked", "lobby", send("hello", "n1"), want{code: events.CodeUnauthenticated}},
		{"session expired at exactly now", "alice", "s-expired", "lobby", send("hello", "n1"), want{code: events.CodeUnauthenticated}},
		{"session without expiry", "bob", "s-bob", "lobby", send("hello", "n1"), want{fact: events.MessagePosted}},
		{"session checked before room", "alice", "s-nobody", "nowhere", send("hello", "n1"), want{code: events.CodeUnauthenticated}},
		{"no such room", "alice", "s-alice", "nowhere", send("hello", "n1"), want{code: events.CodeNoSuchRoom, confirm: true}},
		{"not a member", "carol", "s-carol", "lobby", send("hello", "n1"), want{code: events.CodeNotMember, confirm: true}},
		{"membership checked before text", "carol", "s-carol", "lobby", send("   ", "n1"), want{code: events.CodeNotMember, confirm: true}},
		{"resend", "alice", "s-alice", "lobby", send("hello again", "c1"), want{resend: fx.m1}},
		{"resend of another user's clientId is new", "bob", "s-bob", "lobby", send("x", "c2"), want{fact: events.MessagePosted}},
		{"resend of a deleted message", "alice", "s-alice", "lobby", send("x", "c2"), want{resend: fx.m3}},
		{"resend checked before text", "alice", "s-alice", "lobby", send("", "c1"), want{resend: fx.m1}},
		{"resend checked before attachments", "alice", "s-alice", "lobby",
			events.MessageSend{Text: "x", ClientID: "c1", Attachments: []events.Attachment{{Key: "k"}}}, want{resend: fx.m1}},
		{"empty", "alice", "s-alice", "lobby", send("", "n1"), want{code: events.CodeEmptyMessage}},
		{"only whitespace", "alice", "s-alice", "lobby", send("   ", "n1"), want{code: events.CodeEmptyMessage}},
		{"only newlines and tabs", "alice", "s-alice", "lobby", send("\n\t \n", "n1"), want{code: events.CodeEmptyMessage}},
		{"exactly the limit", "alice", "s-alice", "lobby", send(long, "n1"), want{fact: events.MessagePosted}},
		{"one over the limit", "alice", "s-alice", "lobby", send(long+"x", "n1"), want{code: events.CodeMessageTooLong}},
		{"bidi override", "alice", "s-alice", "lobby", send("abc\u202edef", "n1"), want{code: events.CodeInvalidContent}},
		{"invalid UTF-8", "alice", "s-alice", "lobby", rawJSON(`{"clientId":"n1","text":"ab` + "\xff" + `cd"}`), want{code: events.CodeInvalidContent}},
		{"invalid UTF-8 in a resend is still a resend", "alice", "s-alice", "lobby", rawJSON(`{"clientId":"c1","text":"ab` + "\xff" + `cd"}`), want{resend: fx.m1}},
		{"reply to a message of the room", "alice", "s-alice", "lobby",
			events.MessageSend{Text: "re", ClientID: "n1", ReplyTo: fx.m2}, want{fact: events.MessagePosted}},
		{"reply to an unknown message", "alice", "s-alice", "lobby",
			events.MessageSend{Text: "re", ClientID: "n1", ReplyTo: 99999}, want{code: events.CodeNoSuchMessage, confirm: true}},
		{"text checked before reply target", "alice", "s-alice", "lobby",
			events.MessageSend{Text: " ", ClientID: "n1", ReplyTo: 99999}, want{code: events.CodeEmptyMessage}},
		{"attachments refused", "alice", "s-alice", "lobby",
			events.MessageSend{Text: "pic", ClientID: "n1", Attachments: []events.Attachment{{Key: "k", Name: "a.png"}}}, want{code: events.CodeBadAttachment}},
		{"reply target checked before attachments", "alice", "s-alice", "lobby",
			events.MessageSend{Text: "pic", ClientID: "n1", ReplyTo: 99999, Attachments: []events.Attachment{{Key: "k"}}}, want{code: events.CodeNoSuchMessage, confirm: true}},
		{"missing clientId", "alice", "s-alice", "lobby", send("hello", ""), want{code: events.CodeBadRequest}},
		{"oversized clientId", "alice", "s-alice", "lobby", send("hello", strings.Repeat("c", MaxClientIDBytes+1)), want{code: events.CodeBadRequest}},
		{"malformed payload", "alice", "s-alice", "lobby", []int{1, 2}, want{code: events.CodeBadRequest}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			room := fx.room
			if tc.room != room.ID {
				room = NewRoom(tc.room)
			}
			in := input(t, events.CmdMessageSend, tc.user, tc.session, tc.room, tc.data)
			d := Decide(room, in)
			check(t, d, tc.want, room, "the-cmd")
			if sent, ok := tc.data.(events.MessageSend); ok && d.Fact != nil {
				got, err := events.DecodeData[events.MessagePostedData](*d.Fact)
				if err != nil {
					t.Fatal(err)
				}
				if got.Text != sent.Text || got.ClientID != sent.ClientID || got.ReplyTo != sent.ReplyTo {
					t.Fatalf("posted %+v, sent %+v", got, sent)
				}
			}
		})
	}
}

func TestDecideTextStoredVerbatim(t *testing.T) {
	fx := newFixture(t)
	for _, text := range []string{
		"Robert'); DROP TABLE messages;--",
		"<script>alert(1)</script>",
		"<b>bold</b> &amp; \"quoted\"",
		"  leading and trailing spaces  ",
		"line one\nline two\ttabbed",
		"👍🏽 family: 👨‍👩‍👧",
		"\u200fright-to-left mark is not an override",
	} {
		t.Run(text, func(t *testing.T) {
			in := input(t, events.CmdMessageSend, "alice", "s-alice", "lobby", events.MessageSend{Text: text, ClientID: "v"})
			in.MaxTextRunes = DefaultMaxTextRunes
			d := Decide(fx.room, in)
			if d.Fact == nil {
				t.Fatalf("refused: %v", d.Reject)
			}
			got, err := events.DecodeData[events.MessagePostedData](*d.Fact)
			if err != nil {
				t.Fatal(err)
			}
			if got.Text != text {
				t.Fatalf("stored %q, sent %q", got.Text, text)
			}
		})
	}
}

func TestDecideEditDelete(t *testing.T) {
	fx := newFixture(t)
	for _, tc := range []struct {
		name string
		typ  string
		user string
		sess string
		data any
		want want
	}{
		{"edit own", events.CmdMessageEdit, "alice", "s-alice", events.MessageEdit{ID: fx.m1, Text: "hello!"}, want{fact: events.MessageEdited}},
		{"edit someone else's", events.CmdMessageEdit, "bob", "s-bob", events.MessageEdit{ID: fx.m1, Text: "mine now"}, want{code: events.CodeNotOwner, confirm: true}},
		{"edit missing", events.CmdMessageEdit, "alice", "s-alice", events.MessageEdit{ID: 4242, Text: "x"}, want{code: events.CodeNoSuchMessage, confirm: true}},
		{"edit deleted", events.CmdMessageEdit, "alice", "s-alice", events.MessageEdit{ID: fx.m3, Text: "x"}, want{code: events.CodeNoSuchMessage, confirm: true}},
		{"edit to blank", events.CmdMessageEdit, "alice", "s-alice", events.MessageEdit{ID: fx.m1, Text: " \n"}, want{code: events.CodeEmptyMessage}},
		{"edit too long", events.CmdMessageEdit, "alice", "s-alice", events.MessageEdit{ID: fx.m1, Text: strings.Repeat("x", 21)}, want{code: events.CodeMessageTooLong}},
		{"edit with invalid UTF-8", events.CmdMessageEdit, "alice", "s-alice", rawJSON(fmt.Sprintf(`{"id":%d,"text":"a`+"\xc3\x28"+`"}`, fx.m1)), want{code: events.CodeInvalidContent}},
		{"edit with control", events.CmdMessageEdit, "alice", "s-alice", events.MessageEdit{ID: fx.m1, Text: "a\x07"}, want{code: events.CodeInvalidContent}},
		{"edit by non-member", events.CmdMessageEdit, "carol", "s-carol", events.MessageEdit{ID: fx.m1, Text: "x"}, want{code: events.CodeNotMember, confirm: true}},
		{"edit with revoked session", events.CmdMessageEdit, "alice", "s-revoked", events.MessageEdit{ID: fx.m1, Text: "x"}, want{code: events.CodeUnauthenticated}},
		{"owner checked before text", events.CmdMessageEdit, "bob", "s-bob", events.MessageEdit{ID: fx.m1, Text: ""}, want{code: events.CodeNotOwner, confirm: true}},
		{"delete own", events.CmdMessageDelete, "bob", "s-bob", events.MessageDelete{ID: fx.m2}, want{fact: events.MessageDeleted}},
		{"delete someone else's", events.CmdMessageDelete, "alice", "s-alice", events.MessageDelete{ID: fx.m2}, want{code: events.CodeNotOwner, confirm: true}},
		{"delete missing", events.CmdMessageDelete, "alice", "s-alice", events.MessageDelete{ID: 1}, want{code: events.CodeNoSuchMessage, confirm: true}},
		{"delete twice", events.CmdMessageDelete, "alice", "s-alice", events.MessageDelete{ID: fx.m3}, want{code: events.CodeNoSuchMessage, confirm: true}},
		{"delete malformed", events.CmdMessageDelete, "alice", "s-alice", "nope", want{code: events.CodeBadRequest}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := Decide(fx.room, input(t, tc.typ, tc.user, tc.sess, "lobby", tc.data))
			check(t, d, tc.want, fx.room, "the-cmd")
		})
	}
}

func TestDecideReactions(t *testing.T) {
	fx := newFixture(t)
	for _, tc := range []struct {
		name string
		typ  string
		user string
		sess string
		data events.ReactionChange
		want want
	}{
		{"add new", events.CmdReactionAdd, "alice", "s-alice", events.ReactionChange{ID: fx.m1, Emoji: "👍"}, want{fact: events.ReactionAdded}},
		{"add another emoji", events.CmdReactionAdd, "bob", "s-bob", events.ReactionChange{ID: fx.m1, Emoji: "🎉"}, want{fact: events.ReactionAdded}},
		{"add again changes nothing", events.CmdReactionAdd, "bob", "s-bob", events.ReactionChange{ID: fx.m1, Emoji: "👍"}, want{confirm: true}},
		{"remove existing", events.CmdReactionRemove, "bob", "s-bob", events.ReactionChange{ID: fx.m1, Emoji: "👍"}, want{fact: events.ReactionRemoved}},
		{"remove absent changes nothing", events.CmdReactionRemove, "alice", "s-alice", events.ReactionChange{ID: fx.m1, Emoji: "👍"}, want{confirm: true}},
		{"on a deleted message", events.CmdReactionAdd, "bob", "s-bob", events.ReactionChange{ID: fx.m3, Emoji: "👍"}, want{code: events.CodeNoSuchMessage, confirm: true}},
		{"on a missing message", events.CmdReactionAdd, "bob", "s-bob", events.ReactionChange{ID: 7, Emoji: "👍"}, want{code: events.CodeNoSuchMessage, confirm: true}},
		{"by a non-member", events.CmdReactionAdd, "carol", "s-carol", events.ReactionChange{ID: fx.m1, Emoji: "👍"}, want{code: events.CodeNotMember, confirm: true}},
		{"empty emoji", events.CmdReactionAdd, "bob", "s-bob", events.ReactionChange{ID: fx.m1, Emoji: ""}, want{code: events.CodeInvalidContent}},
		{"emoji with space", events.CmdReactionAdd, "bob", "s-bob", events.ReactionChange{ID: fx.m1, Emoji: "a b"}, want{code: events.CodeInvalidContent}},
		{"emoji too long", events.CmdReactionAdd, "bob", "s-bob", events.ReactionChange{ID: fx.m1, Emoji: strings.Repeat("😀", 9)}, want{code: events.CodeInvalidContent}},
		{"not an emoji", events.CmdReactionAdd, "bob", "s-bob", events.ReactionChange{ID: fx.m1, Emoji: "spam1"}, want{code: events.CodeInvalidEmoji}},
		{"two emoji", events.CmdReactionAdd, "bob", "s-bob", events.ReactionChange{ID: fx.m1, Emoji: "👍🎉"}, want{code: events.CodeInvalidEmoji}},
		{"removing a non-emoji changes nothing", events.CmdReactionRemove, "bob", "s-bob", events.ReactionChange{ID: fx.m1, Emoji: "spam1"}, want{confirm: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			check(t, Decide(fx.room, input(t, tc.typ, tc.user, tc.sess, "lobby", tc.data)), tc.want, fx.room, "the-cmd")
		})
	}
}

func TestDecideMembership(t *testing.T) {
	fx := newFixture(t)
	vault := privateRoom(t, "open sesame")
	for _, tc := range []struct {
		name string
		typ  string
		user string
		sess string
		room *Room
		data any
		want want
	}{
		{"join public", events.CmdRoomJoin, "carol", "s-carol", fx.room, events.RoomJoin{}, want{fact: events.MemberJoined}},
		{"join public ignores a password", events.CmdRoomJoin, "carol", "s-carol", fx.room, events.RoomJoin{Password: "x"}, want{fact: events.MemberJoined}},
		{"join as member changes nothing", events.CmdRoomJoin, "bob", "s-bob", fx.room, events.RoomJoin{}, want{confirm: true}},
		{"join missing room", events.CmdRoomJoin, "bob", "s-bob", NewRoom("nowhere"), events.RoomJoin{}, want{code: events.CodeNoSuchRoom, confirm: true}},
		{"join private with the password", events.CmdRoomJoin, "bob", "s-bob", vault, events.RoomJoin{Password: "open sesame"}, want{fact: events.MemberJoined}},
		{"join private with a wrong password", events.CmdRoomJoin, "bob", "s-bob", vault, events.RoomJoin{Password: "open sesame "}, want{code: events.CodeWrongPassword, confirm: true}},
		{"join private without password", events.CmdRoomJoin, "bob", "s-bob", vault, events.RoomJoin{}, want{code: events.CodeWrongPassword, confirm: true}},
		{"creator of private room is a member", events.CmdRoomJoin, "alice", "s-alice", vault, events.RoomJoin{}, want{confirm: true}},
		{"join with expired session", events.CmdRoomJoin, "alice", "s-expired", fx.room, events.RoomJoin{}, want{code: events.CodeUnauthenticated}},
		{"leave as member", events.CmdRoomLeave, "bob", "s-bob", fx.room, events.RoomLeave{}, want{fact: events.MemberLeft}},
		{"leave as non-member changes nothing", events.CmdRoomLeave, "carol", "s-carol", fx.room, events.RoomLeave{}, want{confirm: true}},
		{"leave missing room", events.CmdRoomLeave, "bob", "s-bob", NewRoom("nowhere"), events.RoomLeave{}, want{code: events.CodeNoSuchRoom, confirm: true}},
		{"unknown command", "room.paint", "bob", "s-bob", fx.room, struct{}{}, want{code: events.CodeBadRequest}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			check(t, Decide(tc.room, input(t, tc.typ, tc.user, tc.sess, tc.room.ID, tc.data)), tc.want, tc.room, "the-cmd")
		})
	}
}

func TestRoomFold(t *testing.T) {
	fx := newFixture(t)
	r := fx.room
	if !r.Exists || r.Name != "Lobby" || r.Head != 7 || r.LastID != 121 {
		t.Fatalf("room state %+v", r)
	}
	if !r.IsMember("alice") || !r.IsMember("bob") || r.IsMember("carol") {
		t.Fatalf("members %v", r.Members)
	}
	m1, ok1 := r.Message(fx.m1)
	m2, ok2 := r.Message(fx.m2)
	m3, ok3 := r.Message(fx.m3)
	if !ok1 || !ok2 || !ok3 || m1.Author != "alice" || m2.Author != "bob" || m3.Author != "alice" {
		t.Fatalf("messages %+v %+v %+v", m1, m2, m3)
	}
	if !m3.Deleted || m1.Deleted || m2.Deleted {
		t.Fatal("deleted flags wrong")
	}
	if _, ok := r.Message(fx.m3 + 1); ok {
		t.Fatal("a message that was never posted")
	}
	if !r.Reacted(fx.m1, Reaction{"bob", "👍"}) || r.Reacted(fx.m1, Reaction{"alice", "👍"}) || r.Reacted(fx.m2, Reaction{"bob", "👍"}) {
		t.Fatal("reactions wrong")
	}
	if id, ok := r.PostedBy("alice", "c1"); !ok || id != fx.m1 {
		t.Fatalf("alice's c1 is %d, %v", id, ok)
	}
	if id, ok := r.PostedBy("bob", "c1"); !ok || id != fx.m2 {
		t.Fatalf("bob's c1 is %d, %v", id, ok)
	}
	if _, ok := r.PostedBy("bob", "c2"); ok {
		t.Fatal("bob never sent c2")
	}
	if !r.HasCommand("cmd-103") || r.HasCommand("cmd-999") {
		t.Fatal("recent command ids wrong")
	}

	// A fact already applied is skipped; a gap is an error.
	f, _ := events.NewFact(events.MemberLeft, "lobby", 3, "bob", "x", now, events.MemberLeftData{})
	if err := r.Apply(events.Stored{ID: 106, Fact: f}); err != nil || !r.IsMember("bob") {
		t.Fatalf("re-applying an old fact: err %v, bob member %v", err, r.IsMember("bob"))
	}
	f.Seq = 9
	if err := r.Apply(events.Stored{ID: 200, Fact: f}); err == nil {
		t.Fatal("a gap in room seqs was accepted")
	}
	f.Seq, f.Room = 8, "other"
	if err := r.Apply(events.Stored{ID: 200, Fact: f}); err == nil {
		t.Fatal("a fact of another room was accepted")
	}

	// A member who left is no longer a member; the room creator can leave too.
	b := newBuilder(t, "x")
	b.add(events.RoomCreated, "dora", events.RoomCreatedData{Name: "X"})
	b.add(events.MemberLeft, "dora", events.MemberLeftData{})
	if b.room.IsMember("dora") {
		t.Fatal("dora still a member after leaving")
	}
}

func TestRoomRecentCommandsBounded(t *testing.T) {
	b := newBuilder(t, "busy")
	b.at = now.Add(-CommandHorizon - time.Minute)
	b.add(events.RoomCreated, "alice", events.RoomCreatedData{Name: "Busy"})
	first := "cmd-103"
	for i := 0; i < RecentCommands-1; i++ {
		b.add(events.MemberJoined, "alice", events.MemberJoinedData{})
	}
	b.at = now
	b.add(events.MemberJoined, "alice", events.MemberJoinedData{})
	if b.room.HasCommand(first) {
		t.Fatal("the oldest command id was not forgotten")
	}
	if len(b.room.recent) != RecentCommands || !b.room.HasCommand(fmt.Sprintf("cmd-%d", b.id)) {
		t.Fatalf("recent holds %d ids", len(b.room.recent))
	}
}

func TestRoomRemembersTheCommandsOfTheHorizon(t *testing.T) {
	b := newBuilder(t, "busy")
	b.add(events.RoomCreated, "alice", events.RoomCreatedData{Name: "Busy"})
	first := "cmd-103"
	for i := 0; i < 2*RecentCommands; i++ {
		b.add(events.MemberJoined, "alice", events.MemberJoinedData{})
	}
	if !b.room.HasCommand(first) || len(b.room.recent) != 2*RecentCommands+1 {
		t.Fatalf("within the horizon: first remembered %v, %d ids", b.room.HasCommand(first), len(b.room.recent))
	}
	b.at = now.Add(CommandHorizon + time.Second)
	b.add(events.MemberJoined, "alice", events.MemberJoinedData{})
	if b.room.HasCommand(first) || len(b.room.recent) != RecentCommands {
		t.Fatalf("past the horizon: first remembered %v, %d ids", b.room.HasCommand(first), len(b.room.recent))
	}
}

func TestSessionsFold(t *testing.T) {
	exp1, exp2 := now.Add(time.Hour), now.Add(2*time.Hour)
	fact := func(id uint64, typ string, exp time.Time) events.Stored {
		f, err := events.NewFact(typ, "", 0, "alice", "", now, events.SessionData{Session: "s1", ExpiresAt: exp})
		if err != nil {
			t.Fatal(err)
		}
		return events.Stored{ID: id, Fact: f}
	}
	started, refreshed, revoked := fact(1, events.SessionStarted, exp1), fact(5, events.SessionRefreshed, exp2), fact(9, events.SessionRevoked, time.Time{})
	for _, tc := range []struct {
		name    string
		order   []events.Stored
		exp     time.Time
		revoked bool
	}{
		{"in order", []events.Stored{started, refreshed}, exp2, false},
		{"refresh seen first", []events.Stored{refreshed, started}, exp2, false},
		{"applied twice", []events.Stored{started, refreshed, started, refreshed}, exp2, false},
		{"revoked", []events.Stored{started, revoked}, exp1, true},
		{"revocation sticks", []events.Stored{revoked, started, refreshed}, exp2, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ss := Sessions{}
			for _, s := range tc.order {
				if err := ss.Apply(s); err != nil {
					t.Fatal(err)
				}
			}
			got := ss["s1"]
			if got.User != "alice" || !got.ExpiresAt.Equal(tc.exp) || got.Revoked != tc.revoked {
				t.Fatalf("session %+v", got)
			}
		})
	}
	if err := (Sessions{}).Apply(events.Stored{ID: 1, Fact: events.Fact{Type: events.MemberJoined, Data: []byte(`{}`)}}); err == nil {
		t.Fatal("a room fact was folded as a session fact")
	}
}

func TestVerifyPassword(t *testing.T) {
	h := hashPassword(t, "pw")
	for _, tc := range []struct {
		name string
		phc  string
		pw   string
		ok   bool
	}{
		{"right", h, "pw", true},
		{"wrong", h, "pW", false},
		{"empty", h, "", false},
		{"argon2i", strings.Replace(h, "argon2id", "argon2i", 1), "pw", false},
		{"huge memory", strings.Replace(h, "m=64", "m=99999999", 1), "pw", false},
		{"not PHC", "5e884898da28047151d0e56f8dc62927", "pw", false},
		{"no hash at all", "", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := verifyPassword(tc.phc, tc.pw); got != tc.ok {
				t.Fatalf("verifyPassword = %v, want %v", got, tc.ok)
			}
		})
	}
}

func TestRateLimitedAndRejection(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want int64
	}{{2500 * time.Millisecond, 2500}, {0, 1}, {-time.Second, 1}, {time.Microsecond, 1}} {
		if e := RateLimited(events.CmdMessageSend, tc.d); e.Code != events.CodeRateLimited || e.RetryAfterMs != tc.want {
			t.Errorf("RateLimited(%v) = %+v, want retryAfterMs %d", tc.d, e, tc.want)
		}
	}
	for typ, what := range map[string]string{
		events.CmdMessageSend: "too many messages", events.CmdMessageEdit: "too many edits",
		events.CmdMessageDelete: "too many deletions", events.CmdReactionRemove: "too many reactions",
		events.CmdRoomLeave: "too many joins and leaves",
	} {
		if e := RateLimited(typ, time.Second); !strings.HasPrefix(e.Message, what) {
			t.Errorf("RateLimited(%s) says %q, want it to start with %q", typ, e.Message, what)
		}
	}
	cmd, _ := events.NewCommand(events.CmdMessageSend, "c-9", "bob", "s", "lobby", now, events.MessageSend{Text: "x", ClientID: "k1"})
	cmd.Ref, cmd.Conn = "r7", "gw1/42"
	f, err := Rejection(cmd, RateLimited(cmd.Type, 3*time.Second), now)
	if err != nil {
		t.Fatal(err)
	}
	d, err := events.DecodeData[events.CommandRejectedData](f)
	if err != nil {
		t.Fatal(err)
	}
	want := events.CommandRejectedData{Command: events.CmdMessageSend, Room: "lobby", ClientID: "k1", Ref: "r7", Conn: "gw1/42",
		Code: events.CodeRateLimited, Message: d.Message, RetryAfterMs: 3000}
	if d != want || f.Type != events.CommandRejected || f.Cmd != "c-9" || f.User != "bob" || f.Seq != 0 {
		t.Fatalf("rejection %+v data %+v", f, d)
	}
	if _, err := events.DecodeFact(mustEncode(t, f)); err != nil {
		t.Fatalf("rejection does not decode: %v", err)
	}
}

func mustEncode(tb testing.TB, f events.Fact) []byte {
	tb.Helper()
	b, err := f.Encode()
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func BenchmarkDecideSend(b *testing.B) {
	fx := newFixture(b)
	in := input(b, events.CmdMessageSend, "alice", "s-alice", "lobby", events.MessageSend{Text: "a normal chat message of moderate length", ClientID: "bench"})
	in.MaxTextRunes = DefaultMaxTextRunes
	b.ReportAllocs()
	for b.Loop() {
		if d := Decide(fx.room, in); d.Fact == nil {
			b.Fatal(d.Reject)
		}
	}
}

// BenchmarkRoomHistory folds a room's history of 100,000 messages, decoded
// from their stored bytes as a reload does, and reports what the state keeps
// per message (retained-B/msg) and how long a full garbage collection takes
// with it live (gc-ms): a validator holds every room it decided, so both grow
// with the rooms' histories.
func BenchmarkRoomHistory(b *testing.B) {
	const users, messages = 200, 100_000
	var stored [][]byte
	var ids []uint64
	room := NewRoom("busy")
	add := func(typ, user string, data any) {
		f, err := events.NewFact(typ, room.ID, uint64(len(stored))+1, user, fmt.Sprintf("cmd-%d", len(stored)), now, data)
		if err != nil {
			b.Fatal(err)
		}
		stored, ids = append(stored, mustEncode(b, f)), append(ids, uint64(len(stored))+1000)
	}
	add(events.RoomCreated, "user-0", events.RoomCreatedData{Name: "Busy"})
	for u := 1; u < users; u++ {
		add(events.MemberJoined, fmt.Sprintf("user-%d", u), events.MemberJoinedData{})
	}
	for n := range messages {
		add(events.MessagePosted, fmt.Sprintf("user-%d", n%users), events.MessagePostedData{
			Text: "a normal chat message of moderate length", ClientID: fmt.Sprintf("load-run-%d-%d", n%users, n)})
	}
	var before, after runtime.MemStats
	var gc time.Duration
	for b.Loop() {
		b.StopTimer()
		room = nil
		runtime.GC()
		runtime.ReadMemStats(&before)
		b.StartTimer()
		room = NewRoom("busy")
		for i, raw := range stored {
			f, err := events.DecodeFact(raw)
			if err != nil {
				b.Fatal(err)
			}
			if err := room.Apply(events.Stored{ID: ids[i], Fact: f}); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		start := time.Now()
		runtime.GC()
		gc = time.Since(start)
		runtime.ReadMemStats(&after)
		b.StartTimer()
	}
	runtime.KeepAlive(room)
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/messages, "retained-B/msg")
	b.ReportMetric(float64(gc.Microseconds())/1000, "gc-ms")
}
