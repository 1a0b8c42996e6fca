package events

import (
	"strings"
	"testing"
	"time"
)

var fixedTime = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

func TestRoomIDFromName(t *testing.T) {
	for _, tc := range []struct{ name, want string }{
		{"General", "general"},
		{"  Go & Rust!! ", "go-rust"},
		{"café au lait", "caf-au-lait"},
		{"---", ""},
		{"a__b", "a-b"},
		{strings.Repeat("ab", 40), strings.Repeat("ab", 32)},
		{strings.Repeat("a", 63) + " b", strings.Repeat("a", 63)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := RoomIDFromName(tc.name)
			if got != tc.want {
				t.Fatalf("RoomIDFromName(%q) = %q, want %q", tc.name, got, tc.want)
			}
			if got != "" && !ValidRoomID(got) {
				t.Fatalf("derived id %q is not valid", got)
			}
		})
	}
}

func TestValidUsername(t *testing.T) {
	for name, want := range map[string]bool{
		"alice": true, "bob_2": true, "x-y": true, "a": false, "Alice": false,
		"_alice": false, "al.ice": false, "al ice": false, strings.Repeat("a", 33): false,
	} {
		if got := ValidUsername(name); got != want {
			t.Errorf("ValidUsername(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestPartitionStable(t *testing.T) {
	// The partition of a key is part of the contract: gateways and validators
	// built at different times must agree on it.
	for key, want := range map[string]int{"general": Partition("general"), "random": Partition("random")} {
		for i := 0; i < 3; i++ {
			if got := Partition(key); got != want || got < 0 || got >= CommandPartitions {
				t.Fatalf("Partition(%q) = %d", key, got)
			}
		}
	}
	if got := RoomCmdSubject("general"); !strings.HasPrefix(got, "chat.cmd.") || !strings.HasSuffix(got, ".room.general") {
		t.Fatalf("RoomCmdSubject = %q", got)
	}
}
