package live

import (
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/chillin-chat/chillin/events"
	"github.com/chillin-chat/chillin/projector/internal/projtest"
)

func stored(tb testing.TB, id uint64, typ, room string, seq uint64, user string, data any) events.Stored {
	tb.Helper()
	return events.Stored{ID: id, Fact: projtest.Fact(tb, id, typ, room, seq, user, data)}
}

func TestPlan(t *testing.T) {
	const prefix = "chillin:"
	posted := stored(t, 7, events.MessagePosted, "general", 3, "alice", events.MessagePostedData{Text: "hi", ClientID: "c1"})
	created := stored(t, 5, events.RoomCreated, "secret", 1, "bob", events.RoomCreatedData{Name: "Secret", IsPrivate: true, PasswordHash: projtest.Hash})
	sendRejected := events.CommandRejectedData{Command: events.CmdMessageSend, Room: "general", ClientID: "c2", Ref: "r2", Conn: "gw1.9", Code: events.CodeRateLimited, Message: "slow down", RetryAfterMs: 900}
	joinRejected := events.CommandRejectedData{Command: events.CmdRoomJoin, Room: "secret", Conn: "gw1.9", Code: events.CodeWrongPassword, Message: "wrong password"}
	leaveRejected := events.CommandRejectedData{Command: events.CmdRoomLeave, Room: "secret", Code: events.CodeNotMember, Message: "not a member"}
	badPayload := stored(t, 30, events.CommandRejected, "", 0, "bob", struct{}{})
	badPayload.Data = json.RawMessage(`{"code": 1}`)

	roomPub := func(s events.Stored) Pub {
		frame, err := events.EventFrame(s)
		if err != nil {
			t.Fatal(err)
		}
		return Pub{Channel: "chillin:room:" + s.Room, Payload: events.EncodeLiveRoom(s.Seq, frame)}
	}
	userPub := func(user string, m events.UserLive) Pub {
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return Pub{Channel: "chillin:user:" + user, Payload: b}
	}
	selfPub := func(user, typ, room string, seq uint64) Pub {
		return userPub(user, events.UserLive{All: true, Frame: json.RawMessage(
			`{"type":"` + typ + `","data":{"room":"` + room + `","seq":` + strconv.FormatUint(seq, 10) + `}}`)})
	}
	frame, err := events.RejectedFrame(sendRejected)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name  string
		facts []events.Stored
		want  []Pub
		skip  []uint64
	}{
		{name: "room facts go to the room channel", facts: []events.Stored{created, posted},
			want: []Pub{roomPub(created), selfPub("bob", "room:joined", "secret", 1), roomPub(posted)}},
		{name: "joins and leaves also go to every socket of the member", facts: []events.Stored{
			stored(t, 17, events.MemberJoined, "general", 4, "carol", events.MemberJoinedData{}),
			stored(t, 18, events.MemberLeft, "general", 5, "carol", events.MemberLeftData{}),
		}, want: []Pub{
			roomPub(stored(t, 17, events.MemberJoined, "general", 4, "carol", events.MemberJoinedData{})), selfPub("carol", "room:joined", "general", 4),
			roomPub(stored(t, 18, events.MemberLeft, "general", 5, "carol", events.MemberLeftData{})), selfPub("carol", "room:left", "general", 5),
		}},
		{name: "a read position goes to every socket of the reader only", facts: []events.Stored{
			stored(t, 19, events.ReadMarked, "general", 0, "carol", events.ReadMarkedData{Seq: 4}),
		}, want: []Pub{selfPub("carol", "room:read", "general", 4)}},
		{name: "a read position without seq is unreadable", facts: []events.Stored{
			stored(t, 20, events.ReadMarked, "general", 0, "carol", events.ReadMarkedData{}),
		}, skip: []uint64{20}},
		{name: "a refused read is not answered", facts: []events.Stored{stored(t, 21, events.CommandRejected, "", 0, "bob",
			events.CommandRejectedData{Command: events.CmdRoomRead, Room: "general", Code: events.CodeRateLimited, Message: "slow down"})}},
		{name: "a refused send goes to its connection", facts: []events.Stored{stored(t, 10, events.CommandRejected, "", 0, "bob", sendRejected)},
			want: []Pub{userPub("bob", events.UserLive{Conn: "gw1.9", Frame: frame})}},
		{name: "refused joins and leaves are answered by reply", facts: []events.Stored{
			stored(t, 11, events.CommandRejected, "", 0, "bob", joinRejected),
			stored(t, 12, events.CommandRejected, "", 0, "bob", leaveRejected),
		}},
		{name: "a revoked session closes its sockets", facts: []events.Stored{stored(t, 13, events.SessionRevoked, "", 0, "alice", events.SessionData{Session: "abc"})},
			want: []Pub{userPub("alice", events.UserLive{Revoke: "abc"})}},
		{name: "nothing live in other facts", facts: []events.Stored{
			stored(t, 14, events.SessionStarted, "", 0, "alice", events.SessionData{Session: "abc"}),
			stored(t, 15, events.SessionRefreshed, "", 0, "alice", events.SessionData{Session: "abc"}),
			stored(t, 16, events.UserRegistered, "", 0, "alice", events.UserRegisteredData{Username: "alice", PasswordHash: projtest.Hash}),
		}},
		{name: "unreadable facts are skipped, order kept", facts: []events.Stored{posted, badPayload, created},
			want: []Pub{roomPub(posted), roomPub(created), selfPub("bob", "room:joined", "secret", 1)}, skip: []uint64{30}},
		{name: "revocation without a session is unreadable", facts: []events.Stored{stored(t, 31, events.SessionRevoked, "", 0, "alice", events.SessionData{})}, skip: []uint64{31}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pubs, skips := plan(prefix, tt.facts)
			if !reflect.DeepEqual(pubs, tt.want) {
				t.Fatalf("pubs:\n%q\nwant:\n%q", pubs, tt.want)
			}
			var got []uint64
			for _, s := range skips {
				got = append(got, s.Seq)
			}
			if !reflect.DeepEqual(got, tt.skip) {
				t.Fatalf("skipped %v, want %v", got, tt.skip)
			}
		})
	}
}

func TestPlanKeepsSecretsOut(t *testing.T) {
	created := stored(t, 5, events.RoomCreated, "secret", 1, "bob", events.RoomCreatedData{Name: "Secret", IsPrivate: true, PasswordHash: projtest.Hash})
	pubs, _ := plan("p:", []events.Stored{created})
	if len(pubs) != 2 {
		t.Fatalf("room.created live payloads: %s", pubs)
	}
	for _, p := range pubs {
		if strings.Contains(string(p.Payload), "argon2id") {
			t.Fatalf("room.created live payload leaks the password hash: %s", pubs)
		}
	}
}
