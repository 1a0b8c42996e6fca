package validator

import (
	"context"
	"testing"

	"github.com/chillin-chat/chillin/events"
)

// A read position moves forward only, for members, up to the room's head,
// each move one read.marked on the reader's subject for the room; a read
// that is not progress appends nothing and is not refused.
func TestReadPositions(t *testing.T) {
	h := newHarness(t)
	h.createRoom("lobby", "alice", false, "")
	h.joinDirect("lobby", "bob")
	h.start(h.config())
	reply, next := h.outcomes()
	for i := range 3 {
		h.send(h.message("alice", "lobby", "c"+string(rune('a'+i)), "hello"))
	}
	h.waitHead("lobby", 5)

	for _, tc := range []struct {
		name string
		user string
		seq  uint64
		code string
	}{
		{"first read", "bob", 3, ""},
		{"forward", "bob", 5, ""},
		{"backward", "bob", 4, ""},
		{"the same", "bob", 5, ""},
		{"beyond the head", "bob", 6, events.CodeNoSuchMessage},
		{"not a member", "carol", 2, events.CodeNotMember},
		{"another reader", "alice", 4, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := h.command(events.CmdRoomRead, tc.user, "lobby", events.RoomRead{Seq: tc.seq})
			cmd.Reply = reply
			h.send(cmd)
			if o := next(); o.Cmd != cmd.ID || outcomeCode(o) != tc.code {
				t.Fatalf("outcome %+v (error %v), want code %q", o, o.Error, tc.code)
			}
		})
	}
	if got := readSeqs(t, h, "bob", "lobby"); len(got) != 2 || got[0] != 3 || got[1] != 5 {
		t.Fatalf("bob's read facts mark %v, want [3 5]", got)
	}
	if got := readSeqs(t, h, "alice", "lobby"); len(got) != 1 || got[0] != 4 {
		t.Fatalf("alice's read facts mark %v, want [4]", got)
	}
	// Reads take no room seq.
	if got := len(h.roomFacts("lobby")); got != 5 {
		t.Fatalf("room has %d facts, want 5", got)
	}
}

func readSeqs(t *testing.T, h *harness, user, room string) []uint64 {
	t.Helper()
	subject := events.ReadPosSubject(user, room)
	last, err := events.LeaderLastSeq(context.Background(), h.nc, subject)
	if err != nil {
		t.Fatal(err)
	}
	facts, err := events.LeaderReadSubject(context.Background(), h.nc, subject, 1, last)
	if err != nil {
		t.Fatal(err)
	}
	var out []uint64
	for _, f := range facts {
		d, err := events.DecodeData[events.ReadMarkedData](f.Fact)
		if err != nil || f.Type != events.ReadMarked || f.User != user || f.Room != room {
			t.Fatalf("fact %+v: %v", f, err)
		}
		out = append(out, d.Seq)
	}
	return out
}
