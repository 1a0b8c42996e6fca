package cachelayout

import (
	"errors"
	"testing"
)

func TestKeys(t *testing.T) {
	k := Keys{Prefix: "p:"}
	for got, want := range map[string]string{
		k.Current():             "p:cache:gen",
		k.Counter():             "p:cache:gens",
		k.Lease():               "p:cache:lease",
		k.Meta(3):               "p:cache:3:meta",
		k.Rooms(3):              "p:cache:3:rooms",
		k.Room(3, "r"):          "p:cache:3:room:r",
		k.Members(3, "r"):       "p:cache:3:mem:r",
		k.Window(3, "r"):        "p:cache:3:msgs:r",
		k.Message(3, 123456789): "p:cache:3:m:123456789",
	} {
		if got != want {
			t.Errorf("%q, want %q", got, want)
		}
	}
}

func TestHistoryBound(t *testing.T) {
	if b := HistoryBound(1<<63 - 1); b != "+inf" {
		t.Errorf("no bound: %q", b)
	}
	if b := HistoryBound(42); b != "(42" {
		t.Errorf("below 42: %q", b)
	}
}

// roomHash is a room hash as an HGETALL inside a script answers it.
func roomHash(members string) []any {
	return []any{"name", "Lobby", "description", "", "private", "0", "by", "alice", "at", "1700000000000000", "head", "7", "members", members, "posted", "3"}
}

// A read answers a room only when the cache holds it completely.
func TestParseRoom(t *testing.T) {
	for _, tc := range []struct {
		name    string
		answer  []any
		members int
		miss    bool
	}{
		{"complete", []any{"ok", roomHash("2"), []any{"alice", "bob"}}, 2, false},
		{"member set short", []any{"ok", roomHash("3"), []any{"alice", "bob"}}, 0, true},
		{"room not held", []any{"ok", []any{}, []any{}}, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := ParseRoom("lobby", tc.answer)
			if tc.miss {
				if !errors.Is(err, ErrMiss) {
					t.Fatalf("%+v, %v; want a miss", r, err)
				}
				return
			}
			if err != nil || r.Name != "Lobby" || r.HeadSeq != 7 || len(r.Members) != tc.members || r.CreatedAt.UnixMicro() != 1700000000000000 {
				t.Fatalf("%+v, %v", r, err)
			}
		})
	}
}

// A history page that reaches past the window, or of a private room the
// reader is not a member of, is a miss.
func TestParseHistoryMisses(t *testing.T) {
	private := roomHash("1")
	private[5] = "1"
	for name, answer := range map[string][]any{
		"past the window":       {"ok", "2", roomHash("1"), int64(1), int64(2), int64(1)},
		"private, not a member": {"ok", "100", private, int64(0), int64(3), int64(3)},
		"window lost messages":  {"ok", "100", roomHash("1"), int64(1), int64(2), int64(2)},
	} {
		t.Run(name, func(t *testing.T) {
			if msgs, _, err := ParseHistory(answer, 2); !errors.Is(err, ErrMiss) {
				t.Fatalf("%v, %v; want a miss", msgs, err)
			}
		})
	}
}

// A page the window holds comes oldest first, each message decoded.
func TestParseHistoryPage(t *testing.T) {
	msg := func(text string) []any {
		return []any{"room", "lobby", "seq", "2", "user", "bob", "text", text, "cid", "c", "att", "[]", "reply", "", "at", "1700000000000000", "r|alice|👍", "1700000000000001"}
	}
	answer := []any{"ok", "100", roomHash("1"), int64(1), int64(3), int64(2), []any{"5", msg("newer")}, []any{"4", msg("older")}}
	msgs, more, err := ParseHistory(answer, 2)
	if err != nil || more || len(msgs) != 2 {
		t.Fatalf("%v, more %v, %v", msgs, more, err)
	}
	if msgs[0].ID != 4 || msgs[0].Text != "older" || msgs[1].ID != 5 || len(msgs[1].Reactions["👍"]) != 1 {
		t.Fatalf("%+v", msgs)
	}
}
