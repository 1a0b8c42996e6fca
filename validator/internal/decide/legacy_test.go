package decide

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/chillin-chat/chillin/events"
	"github.com/chillin-chat/chillin/events/password"
)

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// importedRoom is a private room brought over from the original app, with
// its password as that app kept it (unsalted SHA-256, hex).
func importedRoom(tb testing.TB, legacy string) *Room {
	b := newBuilder(tb, "book-club")
	b.add(events.RoomCreated, "alice", events.RoomCreatedData{Name: "book club", IsPrivate: true, LegacyPasswordSHA256: legacy})
	return b.room
}

func TestDecideJoinImportedRoom(t *testing.T) {
	legacy := sha256Hex("open sesame")
	for _, tc := range []struct {
		name    string
		legacy  string
		user    string
		sess    string
		pw      string
		upgrade bool
		want    want
	}{
		{name: "the legacy password asks for an upgrade", legacy: legacy, user: "bob", sess: "s-bob", pw: "open sesame", upgrade: true},
		{name: "upper-case hex digests verify too", legacy: strings.ToUpper(legacy), user: "bob", sess: "s-bob", pw: "open sesame", upgrade: true},
		{name: "a wrong password is refused", legacy: legacy, user: "bob", sess: "s-bob", pw: "open sesame ", want: want{code: events.CodeWrongPassword, confirm: true}},
		{name: "no password is refused", legacy: legacy, user: "bob", sess: "s-bob", want: want{code: events.CodeWrongPassword, confirm: true}},
		{name: "the stored digest is not a password", legacy: legacy, user: "bob", sess: "s-bob", pw: legacy, want: want{code: events.CodeWrongPassword, confirm: true}},
		{name: "a malformed legacy digest never verifies", legacy: legacy[:40], user: "bob", sess: "s-bob", pw: "open sesame", want: want{code: events.CodeWrongPassword, confirm: true}},
		{name: "the creator is a member already", legacy: legacy, user: "alice", sess: "s-alice", pw: "open sesame", want: want{confirm: true}},
		{name: "the session comes first", legacy: legacy, user: "alice", sess: "s-expired", pw: "open sesame", want: want{code: events.CodeUnauthenticated}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := importedRoom(t, tc.legacy)
			d := Decide(r, input(t, events.CmdRoomJoin, tc.user, tc.sess, r.ID, events.RoomJoin{Password: tc.pw}))
			if d.Upgrade != tc.upgrade {
				t.Fatalf("upgrade = %v, want %v", d.Upgrade, tc.upgrade)
			}
			if tc.upgrade && (d.Fact != nil || d.Reject != nil || d.Confirm || d.Resend != 0) {
				t.Fatalf("an upgrade decision carries more: %+v", d)
			}
			check(t, d, tc.want, r, "the-cmd")
		})
	}
}

// After the upgrade fact, the room holds argon2id only: the join is decided
// again and becomes a member.joined; the legacy digest is gone for good.
func TestPasswordUpgradeFold(t *testing.T) {
	r := importedRoom(t, sha256Hex("open sesame"))
	in := input(t, events.CmdRoomJoin, "bob", "s-bob", r.ID, events.RoomJoin{Password: "open sesame"})
	hash, err := password.Hash("open sesame", password.Params{Memory: 64, Time: 1, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	f, err := PasswordUpgrade(r, in, hash)
	if err != nil {
		t.Fatal(err)
	}
	if f.Type != events.RoomPasswordUpgraded || f.Seq != r.Head+1 || f.Room != r.ID || f.User != "bob" || f.Cmd != "the-cmd" || !f.At.Equal(now) {
		t.Fatalf("upgrade fact envelope %+v", f)
	}
	if err := r.Apply(events.Stored{ID: 500, Fact: f}); err != nil {
		t.Fatal(err)
	}
	if r.PasswordHash != hash || r.LegacySHA256 != "" || r.Head != 2 || r.LastID != 500 {
		t.Fatalf("room after upgrade: %+v", r)
	}
	if r.HasCommand("the-cmd") {
		t.Fatal("the upgrade marked the join command as done before its member.joined")
	}
	check(t, Decide(r, in), want{fact: events.MemberJoined}, r, "the-cmd")

	// The same password still works for the next person; nothing else does.
	carol := input(t, events.CmdRoomJoin, "carol", "s-carol", r.ID, events.RoomJoin{Password: "open sesame"})
	check(t, Decide(r, carol), want{fact: events.MemberJoined}, r, "the-cmd")
	wrong := input(t, events.CmdRoomJoin, "carol", "s-carol", r.ID, events.RoomJoin{Password: sha256Hex("open sesame")})
	if d := Decide(r, wrong); d.Upgrade || d.Reject == nil || d.Reject.Code != events.CodeWrongPassword {
		t.Fatalf("the old digest as a password: %+v", d)
	}
}

// A room created live with an argon2id hash ignores any legacy field.
func TestLegacyFieldIgnoredBesideArgon2(t *testing.T) {
	b := newBuilder(t, "vault")
	b.add(events.RoomCreated, "alice", events.RoomCreatedData{Name: "Vault", IsPrivate: true,
		PasswordHash: hashPassword(t, "argon"), LegacyPasswordSHA256: sha256Hex("legacy")})
	if b.room.LegacySHA256 != "" {
		t.Fatalf("legacy credential kept beside argon2id: %+v", b.room)
	}
	d := Decide(b.room, input(t, events.CmdRoomJoin, "bob", "s-bob", "vault", events.RoomJoin{Password: "legacy"}))
	if d.Upgrade || d.Reject == nil || d.Reject.Code != events.CodeWrongPassword {
		t.Fatalf("legacy password accepted beside argon2id: %+v", d)
	}
}
