package pg

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/chillin-chat/chillin/events"
)

var t0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

// fact builds a stored fact with id (stream sequence) id.
func fact(tb testing.TB, id uint64, typ, room string, seq uint64, user string, data any) events.Stored {
	tb.Helper()
	f, err := events.NewFact(typ, room, seq, user, fmt.Sprintf("cmd-%d", id), t0.Add(time.Duration(id)*time.Second), data)
	if err != nil {
		tb.Fatal(err)
	}
	return events.Stored{ID: id, Fact: f}
}

func at(id uint64) time.Time { return t0.Add(time.Duration(id) * time.Second) }

func i64p(v int64) *int64 { return &v }

func ptr(s string) *string { return &s }

// legacyHex is the original app's credential for "password": unsalted SHA-256.
const legacyHex = "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8"

func heads(rooms []string, seqs, ids []int64) Stmt {
	return Stmt{SQL: sqlAdvanceHeads, Args: []any{rooms, seqs, ids}}
}

func TestPlan(t *testing.T) {
	hash := "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA"
	posted := func(id uint64, room string, seq uint64, user, text, cid string, reply uint64, atts ...events.Attachment) events.Stored {
		return fact(t, id, events.MessagePosted, room, seq, user, events.MessagePostedData{Text: text, ClientID: cid, ReplyTo: reply, Attachments: atts})
	}
	bad := func(id uint64, typ, room string, seq uint64, user, data string) events.Stored {
		f := fact(t, id, typ, room, seq, user, struct{}{})
		f.Data = json.RawMessage(data)
		return f
	}
	noAtt := func() []any { return []any{[]int64{}, []int32{}, []string{}, []string{}, []string{}, []int64{}} }

	tests := []struct {
		name  string
		facts []events.Stored
		want  []Stmt
		skip  []uint64
	}{
		{
			name: "user registered",
			facts: []events.Stored{
				fact(t, 1, events.UserRegistered, "", 0, "alice", events.UserRegisteredData{Username: "alice", DisplayName: "Alice", PasswordHash: hash}),
				fact(t, 2, events.UserRegistered, "", 0, "bob", events.UserRegisteredData{Username: "bob", PasswordHash: hash}),
			},
			want: []Stmt{
				{sqlInsertUser, []any{"alice", "Alice", hash, at(1), int64(1)}},
				{sqlInsertUser, []any{"bob", "bob", hash, at(2), int64(2)}},
			},
		},
		{
			name: "rooms created, creator joins",
			facts: []events.Stored{
				fact(t, 3, events.RoomCreated, "general", 1, "alice", events.RoomCreatedData{Name: "General", Description: "Anything"}),
				fact(t, 4, events.RoomCreated, "secret", 1, "bob", events.RoomCreatedData{Name: "Secret", IsPrivate: true, PasswordHash: hash}),
			},
			want: []Stmt{
				{sqlInsertRoom, []any{"general", "General", "Anything", false, (*string)(nil), "alice", at(3), int64(1), int64(3)}},
				{sqlInsertMember, []any{"general", "alice", at(3)}},
				{sqlReadUpTo, []any{"alice", "general", int64(1)}},
				{sqlInsertRoomEvent, []any{int64(3), "general", int64(1), events.RoomCreated, "alice", at(3)}},
				{sqlInsertRoom, []any{"secret", "Secret", "", true, &hash, "bob", at(4), int64(1), int64(4)}},
				{sqlInsertMember, []any{"secret", "bob", at(4)}},
				{sqlReadUpTo, []any{"bob", "secret", int64(1)}},
				{sqlInsertRoomEvent, []any{int64(4), "secret", int64(1), events.RoomCreated, "bob", at(4)}},
				heads([]string{"general", "secret"}, []int64{1, 1}, []int64{3, 4}),
			},
		},
		{
			name: "imported users keep a marked legacy credential until upgraded",
			facts: []events.Stored{
				fact(t, 70, events.UserImported, "", 0, "bob-smith", events.UserImportedData{Username: "bob-smith", DisplayName: "Bob Smith", LegacyName: "Bob Smith", LegacySHA256: legacyHex}),
				fact(t, 71, events.UserImported, "", 0, "lurker", events.UserImportedData{Username: "lurker", LegacyName: "lurker"}),
				fact(t, 72, events.UserPasswordUpgraded, "", 0, "bob-smith", events.UserPasswordUpgradedData{PasswordHash: hash}),
			},
			want: []Stmt{
				{sqlInsertUser, []any{"bob-smith", "Bob Smith", LegacyCredential + legacyHex, at(70), int64(70)}},
				{sqlInsertUser, []any{"lurker", "lurker", NoCredential, at(71), int64(71)}},
				{sqlSetUserPassword, []any{"bob-smith", hash}},
			},
		},
		{
			name: "an imported private room keeps a marked legacy password until upgraded",
			facts: []events.Stored{
				fact(t, 80, events.RoomCreated, "book-club", 1, "alice", events.RoomCreatedData{Name: "book club", IsPrivate: true, LegacyPasswordSHA256: legacyHex}),
				fact(t, 81, events.RoomPasswordUpgraded, "book-club", 2, "bob", events.RoomPasswordUpgradedData{PasswordHash: hash}),
				fact(t, 82, events.MemberJoined, "book-club", 3, "bob", events.MemberJoinedData{}),
			},
			want: []Stmt{
				{sqlInsertRoom, []any{"book-club", "book club", "", true, ptr(LegacyCredential + legacyHex), "alice", at(80), int64(1), int64(80)}},
				{sqlInsertMember, []any{"book-club", "alice", at(80)}},
				{sqlReadUpTo, []any{"alice", "book-club", int64(1)}},
				{sqlInsertRoomEvent, []any{int64(80), "book-club", int64(1), events.RoomCreated, "alice", at(80)}},
				{sqlSetRoomPassword, []any{"book-club", hash}},
				{sqlInsertMember, []any{"book-club", "bob", at(82)}},
				{sqlReadUpTo, []any{"bob", "book-club", int64(3)}},
				{sqlInsertRoomEvent, []any{int64(82), "book-club", int64(3), events.MemberJoined, "bob", at(82)}},
				heads([]string{"book-club"}, []int64{3}, []int64{82}),
			},
		},
		{
			name: "an upgrade without a hash is skipped",
			facts: []events.Stored{
				fact(t, 90, events.UserPasswordUpgraded, "", 0, "bob", events.UserPasswordUpgradedData{}),
				fact(t, 91, events.RoomPasswordUpgraded, "general", 4, "bob", events.RoomPasswordUpgradedData{}),
			},
			want: []Stmt{heads([]string{"general"}, []int64{4}, []int64{91})},
			skip: []uint64{90, 91},
		},
		{
			name: "avatars: the last one set is the user's",
			facts: []events.Stored{
				fact(t, 95, events.UserAvatarChanged, "", 0, "alice", events.UserAvatarChangedData{Key: "v/alice/aaaaaaaaaaaaaaaaaaaaaaaaaa"}),
				fact(t, 96, events.UserAvatarChanged, "", 0, "alice", events.UserAvatarChangedData{Key: "v/alice/bbbbbbbbbbbbbbbbbbbbbbbbbb"}),
				fact(t, 97, events.UserAvatarChanged, "", 0, "bob", events.UserAvatarChangedData{}),
			},
			want: []Stmt{
				{sqlSetUserAvatar, []any{"alice", "v/alice/aaaaaaaaaaaaaaaaaaaaaaaaaa"}},
				{sqlSetUserAvatar, []any{"alice", "v/alice/bbbbbbbbbbbbbbbbbbbbbbbbbb"}},
			},
			skip: []uint64{97},
		},
		{
			name: "members join and leave",
			facts: []events.Stored{
				fact(t, 5, events.MemberJoined, "general", 2, "bob", events.MemberJoinedData{}),
				fact(t, 6, events.MemberLeft, "general", 3, "bob", events.MemberLeftData{}),
			},
			want: []Stmt{
				{sqlInsertMember, []any{"general", "bob", at(5)}},
				{sqlReadUpTo, []any{"bob", "general", int64(2)}},
				{sqlInsertRoomEvent, []any{int64(5), "general", int64(2), events.MemberJoined, "bob", at(5)}},
				{sqlDeleteMember, []any{"general", "bob"}},
				{sqlInsertRoomEvent, []any{int64(6), "general", int64(3), events.MemberLeft, "bob", at(6)}},
				heads([]string{"general"}, []int64{3}, []int64{6}),
			},
		},
		{
			name: "read positions: not room facts, no head moves; a bad one is skipped",
			facts: []events.Stored{
				fact(t, 7, events.ReadMarked, "general", 0, "bob", events.ReadMarkedData{Seq: 12}),
				fact(t, 8, events.ReadMarked, "general", 0, "bob", events.ReadMarkedData{}),
				fact(t, 9, events.ReadMarked, "random", 0, "alice", events.ReadMarkedData{Seq: 3}),
			},
			want: []Stmt{
				{sqlReadUpTo, []any{"bob", "general", int64(12)}},
				{sqlReadUpTo, []any{"alice", "random", int64(3)}},
			},
			skip: []uint64{8},
		},
		{
			name: "a run of posts is one insert",
			facts: []events.Stored{
				posted(10, "general", 4, "alice", "hello", "c1", 0,
					events.Attachment{Key: "att/a.png", Name: "a.png", ContentType: "image/png", Size: 10},
					events.Attachment{Key: "att/b.pdf", Name: "b.pdf", ContentType: "application/pdf", Size: 20}),
				posted(11, "random", 7, "bob", "hi", "c2", 10),
				posted(12, "general", 5, "bob", "yo", "c3", 0),
			},
			want: []Stmt{
				{sqlInsertMessages, []any{
					[]int64{10, 11, 12}, []string{"general", "random", "general"}, []int64{4, 7, 5},
					[]string{"alice", "bob", "bob"}, []string{"c1", "c2", "c3"}, []string{"hello", "hi", "yo"},
					[]*int64{nil, i64p(10), nil}, []time.Time{at(10), at(11), at(12)},
					[]int64{10, 10}, []int32{0, 1}, []string{"att/a.png", "att/b.pdf"}, []string{"a.png", "b.pdf"},
					[]string{"image/png", "application/pdf"}, []int64{10, 20},
				}},
				heads([]string{"general", "random"}, []int64{5, 7}, []int64{12, 11}),
			},
		},
		{
			name: "all posts of a batch are one insert, where the first was",
			facts: []events.Stored{
				fact(t, 19, events.MessageEdited, "general", 1, "alice", events.MessageEditedData{ID: 2, Text: "older"}),
				posted(20, "general", 2, "alice", "first", "c1", 0),
				fact(t, 21, events.MessageEdited, "general", 3, "alice", events.MessageEditedData{ID: 20, Text: "first!"}),
				posted(22, "general", 4, "alice", "second", "c2", 0),
				fact(t, 23, events.MessageDeleted, "general", 5, "alice", events.MessageDeletedData{ID: 22}),
			},
			want: []Stmt{
				{sqlEditMessage, []any{int64(2), "general", "older", at(19)}},
				{sqlInsertMessages, append([]any{[]int64{20, 22}, []string{"general", "general"}, []int64{2, 4}, []string{"alice", "alice"},
					[]string{"c1", "c2"}, []string{"first", "second"}, []*int64{nil, nil}, []time.Time{at(20), at(22)}}, noAtt()...)},
				{sqlEditMessage, []any{int64(20), "general", "first!", at(21)}},
				{sqlDeleteMessage, []any{int64(22), "general", at(23)}},
				heads([]string{"general"}, []int64{5}, []int64{23}),
			},
		},
		{
			name: "delete and reactions",
			facts: []events.Stored{
				fact(t, 30, events.ReactionAdded, "general", 8, "bob", events.ReactionData{ID: 20, Emoji: "👍"}),
				fact(t, 31, events.ReactionRemoved, "general", 9, "bob", events.ReactionData{ID: 20, Emoji: "👍"}),
				fact(t, 32, events.MessageDeleted, "general", 10, "alice", events.MessageDeletedData{ID: 20}),
			},
			want: []Stmt{
				{sqlAddReaction, []any{int64(20), "bob", "👍", at(30), "general"}},
				{sqlRemoveReaction, []any{int64(20), "bob", "👍"}},
				{sqlDeleteMessage, []any{int64(20), "general", at(32)}},
				heads([]string{"general"}, []int64{10}, []int64{32}),
			},
		},
		{
			name: "sessions",
			facts: []events.Stored{
				fact(t, 40, events.SessionStarted, "", 0, "alice", events.SessionData{Session: "s1", ExpiresAt: at(1000)}),
				fact(t, 41, events.SessionRefreshed, "", 0, "alice", events.SessionData{Session: "s1", ExpiresAt: at(2000)}),
				fact(t, 42, events.SessionRevoked, "", 0, "alice", events.SessionData{Session: "s1"}),
				fact(t, 43, events.SessionStarted, "", 0, "alice", events.SessionData{Session: "s2"}),
			},
			want: []Stmt{
				{sqlStartSession, []any{"s1", "alice", at(40), at(1000)}},
				{sqlRefreshSession, []any{"s1", "alice", at(2000)}},
				{sqlRevokeSession, []any{"s1", "alice", at(42)}},
			},
			skip: []uint64{43},
		},
		{
			name: "rejections change no table",
			facts: []events.Stored{
				fact(t, 50, events.CommandRejected, "", 0, "bob", events.CommandRejectedData{Command: events.CmdMessageSend, Room: "general", Code: events.CodeNotMember}),
			},
			want: nil,
		},
		{
			name: "an unreadable payload is skipped but still moves the room head",
			facts: []events.Stored{
				posted(60, "general", 11, "alice", "ok", "c9", 0),
				bad(61, events.MessagePosted, "general", 12, "alice", `{"text": 5}`),
				bad(62, events.UserRegistered, "", 0, "carol", `{"username": []}`),
			},
			want: []Stmt{
				{sqlInsertMessages, append([]any{[]int64{60}, []string{"general"}, []int64{11}, []string{"alice"}, []string{"c9"}, []string{"ok"}, []*int64{nil}, []time.Time{at(60)}}, noAtt()...)},
				heads([]string{"general"}, []int64{12}, []int64{61}),
			},
			skip: []uint64{61, 62},
		},
		{name: "empty batch", facts: nil, want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := plan(tt.facts)
			if len(p.Stmts) != len(tt.want) {
				t.Fatalf("got %d statements, want %d:\n%s", len(p.Stmts), len(tt.want), describe(p.Stmts))
			}
			for i := range tt.want {
				if p.Stmts[i].SQL != tt.want[i].SQL {
					t.Errorf("statement %d is\n%s\nwant\n%s", i, firstLine(p.Stmts[i].SQL), firstLine(tt.want[i].SQL))
					continue
				}
				if !reflect.DeepEqual(p.Stmts[i].Args, tt.want[i].Args) {
					t.Errorf("statement %d (%s) args\n got %#v\nwant %#v", i, firstLine(tt.want[i].SQL), p.Stmts[i].Args, tt.want[i].Args)
				}
			}
			var skipped []uint64
			for _, s := range p.Skipped {
				skipped = append(skipped, s.Seq)
				if s.Err == nil {
					t.Errorf("skip of seq %d has no reason", s.Seq)
				}
			}
			if !reflect.DeepEqual(skipped, tt.skip) {
				t.Errorf("skipped %v, want %v", skipped, tt.skip)
			}
		})
	}
}

func firstLine(s string) string { return strings.SplitN(s, "\n", 2)[0] }

func describe(stmts []Stmt) string {
	var b strings.Builder
	for _, s := range stmts {
		fmt.Fprintf(&b, "  %s %v\n", firstLine(s.SQL), s.Args)
	}
	return b.String()
}
