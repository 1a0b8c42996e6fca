package decide

import (
	"testing"

	"github.com/chillin-chat/chillin/events"
)

func TestDecideRead(t *testing.T) {
	fx := newFixture(t) // lobby at seq 7; alice and bob members, carol not
	head := fx.room.Head
	for _, tc := range []struct {
		name    string
		user    string
		session string
		room    string
		data    any
		prev    uint64
		want    want
	}{
		{"first read", "bob", "s-bob", "lobby", events.RoomRead{Seq: 3}, 0, want{fact: events.ReadMarked}},
		{"forward", "bob", "s-bob", "lobby", events.RoomRead{Seq: head}, 3, want{fact: events.ReadMarked}},
		{"the same position changes nothing", "bob", "s-bob", "lobby", events.RoomRead{Seq: 3}, 3, want{}},
		{"backward changes nothing", "bob", "s-bob", "lobby", events.RoomRead{Seq: 2}, 5, want{}},
		{"beyond the head", "bob", "s-bob", "lobby", events.RoomRead{Seq: head + 1}, 0,
			want{code: events.CodeNoSuchMessage, confirm: true}},
		{"beyond the head though behind", "bob", "s-bob", "lobby", events.RoomRead{Seq: head + 1}, head + 5,
			want{code: events.CodeNoSuchMessage, confirm: true}},
		{"seq 0", "bob", "s-bob", "lobby", events.RoomRead{}, 0, want{code: events.CodeBadRequest}},
		{"malformed", "bob", "s-bob", "lobby", rawJSON(`{"seq":"x"}`), 0, want{code: events.CodeBadRequest}},
		{"not a member", "carol", "s-carol", "lobby", events.RoomRead{Seq: 3}, 0, want{code: events.CodeNotMember, confirm: true}},
		{"no such room", "alice", "s-alice", "nowhere", events.RoomRead{Seq: 1}, 0, want{code: events.CodeNoSuchRoom, confirm: true}},
		{"session checked first", "alice", "s-revoked", "lobby", events.RoomRead{Seq: 3}, 0, want{code: events.CodeUnauthenticated}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			room := fx.room
			if tc.room != room.ID {
				room = NewRoom(tc.room)
			}
			in := input(t, events.CmdRoomRead, tc.user, tc.session, tc.room, tc.data)
			in.ReadSeq = tc.prev
			d := Decide(room, in)
			gotCode, gotFact := "", ""
			if d.Reject != nil {
				gotCode = d.Reject.Code
			}
			if d.Fact != nil {
				gotFact = d.Fact.Type
			}
			if gotCode != tc.want.code || gotFact != tc.want.fact || d.Confirm != tc.want.confirm || d.RateLimit != (tc.want.fact != "") {
				t.Fatalf("decision {code %q fact %q confirm %v rate %v}, want %+v (%v)", gotCode, gotFact, d.Confirm, d.RateLimit, tc.want, d.Reject)
			}
			if d.Fact == nil {
				return
			}
			// Not a room fact: no room seq, the reader as actor, the seq read in its data.
			if d.Fact.Seq != 0 || d.Fact.Room != "lobby" || d.Fact.User != tc.user || d.Fact.Cmd != "the-cmd" {
				t.Fatalf("fact envelope %+v", d.Fact)
			}
			data, err := events.DecodeData[events.ReadMarkedData](*d.Fact)
			if err != nil || data.Seq != tc.data.(events.RoomRead).Seq {
				t.Fatalf("fact data %+v, %v", data, err)
			}
		})
	}
}
