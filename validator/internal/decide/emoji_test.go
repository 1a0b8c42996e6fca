package decide

import (
	"fmt"
	"testing"

	"github.com/chillin-chat/chillin/events"
)

func TestCheckEmoji(t *testing.T) {
	for _, tc := range []struct {
		name, emoji, code string // code "": accepted
	}{
		{"pictograph", "👍", ""},
		{"emoji presentation by default", "😀", ""},
		{"text default with VS16", "❤️", ""},
		{"text default without VS16", "❤", ""},
		{"copyright sign", "©️", ""},
		{"skin tone", "👍🏽", ""},
		{"skin tone after VS16", "✌️🏿", ""},
		{"flag pair", "🇫🇷", ""},
		{"another flag pair", "🇯🇵", ""},
		{"keycap", "1️⃣", ""},
		{"keycap hash without VS16", "#⃣", ""},
		{"ZWJ family", "👨‍👩‍👧‍👦", ""},
		{"ZWJ profession with tone", "👩🏽‍🚀", ""},
		{"ZWJ gendered", "🏃‍♀️", ""},
		{"ZWJ rainbow flag", "🏳️‍🌈", ""},
		{"subdivision flag", "🏴\U000E0067\U000E0062\U000E0065\U000E006E\U000E0067\U000E007F", ""},
		{"newer pictograph in a reserved range", "\U0001FAE8", ""},

		{"word", "spam1", events.CodeInvalidEmoji},
		{"one letter", "a", events.CodeInvalidEmoji},
		{"digit alone", "1", events.CodeInvalidEmoji},
		{"two emoji", "👍👍", events.CodeInvalidEmoji},
		{"emoji then letter", "👍a", events.CodeInvalidEmoji},
		{"letter with combining mark", "é", events.CodeInvalidEmoji},
		{"lone regional indicator", "🇫", events.CodeInvalidEmoji},
		{"three regional indicators", "🇫🇷🇫", events.CodeInvalidEmoji},
		{"lone skin tone", "🏽", events.CodeInvalidEmoji},
		{"lone ZWJ", "\u200d", events.CodeInvalidEmoji},
		{"trailing ZWJ", "👍\u200d", events.CodeInvalidEmoji},
		{"keycap of a letter", "a️⃣", events.CodeInvalidEmoji},
		{"tags on a non-flag", "👍\U000E0067\U000E007F", events.CodeInvalidEmoji},
		{"CJK ideograph", "漢", events.CodeInvalidEmoji},
		{"arrow that is not an emoji", "→", events.CodeInvalidEmoji},
		{"text presentation selector", "❤︎", events.CodeInvalidEmoji},

		{"empty", "", events.CodeInvalidContent},
		{"control character", "👍\x00", events.CodeInvalidContent},
		{"bidi override", "\u202e👍", events.CodeInvalidContent},
		{"over the byte bound", "👨‍👩‍👧‍👦👨‍👩‍👧‍👦", events.CodeInvalidContent},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ""
			if e := CheckEmoji(tc.emoji); e != nil {
				got = e.Code
			}
			if got != tc.code {
				t.Fatalf("CheckEmoji(%+q) = %q, want %q", tc.emoji, got, tc.code)
			}
		})
	}
}

// capFixture is fx's lobby where m1 carries MaxReactionEmojis distinct
// emoji: bob's 👍 and then alice's, and m2 carries one emoji less.
func capFixture(tb testing.TB) (*Room, uint64, uint64) {
	b := newBuilder(tb, "lobby")
	b.add(events.RoomCreated, "alice", events.RoomCreatedData{Name: "Lobby"})
	b.add(events.MemberJoined, "bob", events.MemberJoinedData{})
	m1 := b.add(events.MessagePosted, "alice", events.MessagePostedData{Text: "hi", ClientID: "c1"})
	m2 := b.add(events.MessagePosted, "alice", events.MessagePostedData{Text: "ho", ClientID: "c2"})
	b.add(events.ReactionAdded, "bob", events.ReactionData{ID: m1, Emoji: "👍"})
	for i := range MaxReactionEmojis - 1 {
		e := string(rune(0x1F600 + i))
		b.add(events.ReactionAdded, "alice", events.ReactionData{ID: m1, Emoji: e})
		if i < MaxReactionEmojis-2 {
			b.add(events.ReactionAdded, "alice", events.ReactionData{ID: m2, Emoji: e})
		}
	}
	// An emoji added and taken back no longer counts.
	b.add(events.ReactionAdded, "bob", events.ReactionData{ID: m2, Emoji: "🎉"})
	b.add(events.ReactionRemoved, "bob", events.ReactionData{ID: m2, Emoji: "🎉"})
	return b.room, m1, m2
}

func TestDecideReactionCap(t *testing.T) {
	room, m1, m2 := capFixture(t)
	if n, _ := room.Emojis(m1, ""); n != MaxReactionEmojis {
		t.Fatalf("m1 carries %d distinct emoji, fixture wants %d", n, MaxReactionEmojis)
	}
	for _, tc := range []struct {
		name string
		typ  string
		user string
		data events.ReactionChange
		want want
	}{
		{"a new emoji over the cap", events.CmdReactionAdd, "bob", events.ReactionChange{ID: m1, Emoji: "🎉"}, want{code: events.CodeTooManyReactions, confirm: true}},
		{"an emoji already there", events.CmdReactionAdd, "bob", events.ReactionChange{ID: m1, Emoji: "😀"}, want{fact: events.ReactionAdded}},
		{"taking one back", events.CmdReactionRemove, "bob", events.ReactionChange{ID: m1, Emoji: "👍"}, want{fact: events.ReactionRemoved}},
		{"the last one under the cap", events.CmdReactionAdd, "bob", events.ReactionChange{ID: m2, Emoji: "🎉"}, want{fact: events.ReactionAdded}},
		{"not an emoji, under the cap", events.CmdReactionAdd, "bob", events.ReactionChange{ID: m2, Emoji: "spam1"}, want{code: events.CodeInvalidEmoji}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sess := "s-" + tc.user
			check(t, Decide(room, input(t, tc.typ, tc.user, sess, "lobby", tc.data)), tc.want, room, "the-cmd")
		})
	}
}

// The cap is a rule for new reactions: a log holding more is replayed as
// it is, and a user may still take one of them back.
func TestReactionCapReplaysOldLogs(t *testing.T) {
	b := newBuilder(t, "lobby")
	b.add(events.RoomCreated, "alice", events.RoomCreatedData{Name: "Lobby"})
	m := b.add(events.MessagePosted, "alice", events.MessagePostedData{Text: "hi", ClientID: "c1"})
	for i := range 30 {
		b.add(events.ReactionAdded, "alice", events.ReactionData{ID: m, Emoji: fmt.Sprint("spam", i)})
	}
	if n, has := b.room.Emojis(m, "spam7"); n != 30 || !has {
		t.Fatalf("old log replayed to %d distinct emoji (has spam7 %v), want 30", n, has)
	}
	d := Decide(b.room, input(t, events.CmdReactionRemove, "alice", "s-alice", "lobby", events.ReactionChange{ID: m, Emoji: "spam7"}))
	check(t, d, want{fact: events.ReactionRemoved}, b.room, "the-cmd")
}
