package legacy

import (
	"strings"
	"testing"

	"github.com/chillin-chat/chillin/events"
)

func TestUsernameBase(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"alice", "alice"},
		{"Alice", "alice"},
		{"  Bob Smith ", "bob-smith"},
		{"bob_smith", "bob_smith"},
		{"bob--smith", "bob-smith"},
		{"_bob_", "bob_"},
		{"-bob-", "bob"},
		{"O'Brien & sons!", "o-brien-sons"},
		{"zoë", "zo"},
		{"x", "user-2d711642"},
		{"", "user-e3b0c442"},
		{"漢字", "user-c6d29771"},
		{strings.Repeat("a", 40), strings.Repeat("a", 32)},
		{strings.Repeat("a", 31) + " b", strings.Repeat("a", 31)},
	} {
		got := UsernameBase(tc.in)
		if got != tc.want {
			t.Errorf("UsernameBase(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if !events.ValidUsername(got) {
			t.Errorf("UsernameBase(%q) = %q is not a valid username", tc.in, got)
		}
	}
}

func TestRoomBase(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"general", "general"},
		{"Book Club", "book-club"},
		{"c++ & go", "c-go"},
		{"!!!", "room-e84c538e"},
		{strings.Repeat("ab ", 40), strings.Repeat("ab-", 22)[:64]},
	} {
		got := RoomBase(tc.in)
		if got != tc.want {
			t.Errorf("RoomBase(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if !events.ValidRoomID(got) {
			t.Errorf("RoomBase(%q) = %q is not a valid room id", tc.in, got)
		}
	}
}

func TestCandidate(t *testing.T) {
	long := strings.Repeat("a", 30) + "-b"
	for _, tc := range []struct {
		base string
		n    int
		want string
	}{
		{"alice", 1, "alice"},
		{"alice", 2, "alice-2"},
		{"alice", 12, "alice-12"},
		{long, 1, long},
		{long, 2, strings.Repeat("a", 30) + "-2"},
		{strings.Repeat("a", 32), 100, strings.Repeat("a", 28) + "-100"},
	} {
		if got := Candidate(tc.base, tc.n, maxUsername); got != tc.want || !events.ValidUsername(got) {
			t.Errorf("Candidate(%q, %d) = %q, want %q (valid)", tc.base, tc.n, got, tc.want)
		}
	}
}

func TestCommandIDsAreStableAndDistinct(t *testing.T) {
	ids := map[string]string{}
	for _, id := range []struct{ what, id string }{
		{"user alice", userCmd("alice")},
		{"user Alice", userCmd("Alice")},
		{"room alice", roomCmd("alice")},
		{"room general", roomCmd("general")},
		{"join general 0", joinCmd("general", 0)},
		{"msg general 0", messageCmd("general", 0)},
		{"msg general 1", messageCmd("general", 1)},
		{"msg General 0", messageCmd("General", 0)},
	} {
		if other, ok := ids[id.id]; ok {
			t.Errorf("%s and %s share the command id %s", id.what, other, id.id)
		}
		ids[id.id] = id.what
	}
	if userCmd("alice") != "legacy:user:"+keyOf("user", "alice") || messageCmd("general", 3) != messageCmd("general", 3) {
		t.Fatal("command ids are not derived from the names alone")
	}
}
