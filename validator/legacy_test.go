package validator

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/chillin-chat/chillin/events"
	"github.com/chillin-chat/chillin/events/password"
	"github.com/nats-io/nats.go/jetstream"
)

// An imported private room keeps the original app's SHA-256 password until
// the first join that proves it: that join appends room.password_upgraded
// (argon2id) and then member.joined; from then on only argon2id is checked.
func TestJoinUpgradesLegacyRoomPassword(t *testing.T) {
	h := newHarness(t)
	sum := sha256.Sum256([]byte("open sesame"))
	f, err := events.NewFact(events.RoomCreated, "book-club", 1, "alice", "legacy:room", time.Now(),
		events.RoomCreatedData{Name: "book club", IsPrivate: true, LegacyPasswordSHA256: hex.EncodeToString(sum[:])})
	if err != nil {
		t.Fatal(err)
	}
	h.appendFact(events.RoomSubject("book-club"), f, jetstream.WithExpectLastSequencePerSubject(0))
	h.start(h.config())
	reply, next := h.outcomes()

	for _, tc := range []struct {
		name string
		user string
		pw   string
		code string
		head uint64
	}{
		{"wrong password", "bob", "open sesame!", events.CodeWrongPassword, 1},
		{"the stored digest is no password", "bob", hex.EncodeToString(sum[:]), events.CodeWrongPassword, 1},
		{"the legacy password: upgrade, then join", "bob", "open sesame", "", 3},
		{"the same password, now argon2id", "carol", "open sesame", "", 4},
		{"a wrong one still fails", "dave", "open", events.CodeWrongPassword, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := h.command(events.CmdRoomJoin, tc.user, "book-club", events.RoomJoin{Password: tc.pw})
			cmd.Reply = reply
			h.send(cmd)
			o := next()
			if o.Cmd != cmd.ID || outcomeCode(o) != tc.code || o.HeadSeq != tc.head {
				t.Fatalf("outcome %+v (error %v), want code %q head %d", o, o.Error, tc.code, tc.head)
			}
		})
	}

	facts := h.roomFacts("book-club")
	if got := factKinds(facts); got != "room.created:alice room.password_upgraded:bob member.joined:bob member.joined:carol" {
		t.Fatalf("room facts: %s", got)
	}
	up, err := events.DecodeData[events.RoomPasswordUpgradedData](facts[1].Fact)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(up.PasswordHash, "$argon2id$") {
		t.Fatalf("upgraded to %q, want an argon2id PHC string", up.PasswordHash)
	}
	if ok, err := password.Verify("open sesame", up.PasswordHash); err != nil || !ok {
		t.Fatalf("the upgraded hash does not verify the password: %v %v", ok, err)
	}
	if facts[1].Cmd != facts[2].Cmd || facts[1].Cmd == "" {
		t.Fatalf("upgrade and join carry commands %q and %q, want the join's", facts[1].Cmd, facts[2].Cmd)
	}
	h.waitSettled()
}
