package decide

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/chillin-chat/chillin/events"
)

// randomRoom folds n random facts of every room kind into a room of window
// 5 and digest window 7, with deletions and reactions inside and outside the window, and a
// password upgrade.
func randomRoom(tb testing.TB, seed uint64, n int) *builder {
	rng := rand.New(rand.NewPCG(seed, 1))
	b := newBuilder(tb, "lobby")
	b.room.SetMessageWindow(5)
	b.room.SetDigestWindow(7)
	b.add(events.RoomCreated, "alice", events.RoomCreatedData{Name: "Lobby", IsPrivate: true, LegacyPasswordSHA256: "ab"})
	b.add(events.RoomPasswordUpgraded, "alice", events.RoomPasswordUpgradedData{PasswordHash: "$argon2id$x"})
	users := []string{"alice", "bob", "carol", "dave"}
	var posted []uint64
	for i := range n {
		u := users[rng.IntN(len(users))]
		switch k := rng.IntN(10); {
		case k == 0:
			b.add(events.MemberJoined, u, events.MemberJoinedData{})
		case k == 1:
			b.add(events.MemberLeft, u, events.MemberLeftData{})
		case k < 6 || len(posted) == 0:
			posted = append(posted, b.add(events.MessagePosted, u, events.MessagePostedData{Text: "t", ClientID: fmt.Sprint("c", i)}))
		case k == 6:
			b.add(events.MessageDeleted, u, events.MessageDeletedData{ID: posted[rng.IntN(len(posted))]})
		case k == 7:
			b.add(events.MessageEdited, u, events.MessageEditedData{ID: posted[rng.IntN(len(posted))], Text: "e"})
		default:
			typ := events.ReactionAdded
			if k == 9 {
				typ = events.ReactionRemoved
			}
			b.add(typ, u, events.ReactionData{ID: posted[rng.IntN(len(posted))], Emoji: []string{"👍", "🎉", "❤️"}[rng.IntN(3)]})
		}
	}
	return b
}

// sameState fails unless two rooms hold the same state: the same snapshot
// (which encodes every field) and the same derived counts.
func sameState(t *testing.T, want, got *Room) {
	t.Helper()
	if !bytes.Equal(want.Snapshot(), got.Snapshot()) {
		t.Fatal("the restored room differs from the folded one")
	}
	if want.nReactions != got.nReactions || !reflect.DeepEqual(want.emojis, got.emojis) ||
		!reflect.DeepEqual(want.authorOf, got.authorOf) || want.Size() != got.Size() {
		t.Fatal("the restored room's derived state differs from the folded one")
	}
}

func TestSnapshotRestoresTheRoom(t *testing.T) {
	for seed := range uint64(20) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			b := randomRoom(t, seed, 200)
			folded := b.room
			got, err := RestoreRoom("lobby", 5, folded.Snapshot())
			if err != nil {
				t.Fatal(err)
			}
			sameState(t, folded, got)
			// Both go on folding the same facts to the same state.
			twin := &builder{tb: t, room: got, id: b.id, at: b.at}
			for i := range 30 {
				data := events.MessagePostedData{Text: "more", ClientID: fmt.Sprint("more", i)}
				b.add(events.MessagePosted, "bob", data)
				twin.add(events.MessagePosted, "bob", data)
			}
			sameState(t, folded, got)
			for _, c := range []string{"c0", "c50", "c199", "more0", "never"} {
				for _, u := range []string{"alice", "bob", "carol", "dave"} {
					a, aok := folded.PostedBy(u, c)
					g, gok := got.PostedBy(u, c)
					if a != g || aok != gok {
						t.Fatalf("PostedBy(%s, %s): %d %v, restored %d %v", u, c, a, aok, g, gok)
					}
				}
			}
		})
	}
}

func TestRestoreRefusesAnotherRoomOrWindow(t *testing.T) {
	snap := randomRoom(t, 1, 50).room.Snapshot()
	if _, err := RestoreRoom("other", 5, snap); err == nil {
		t.Fatal("a snapshot of lobby restored as room other")
	}
	if _, err := RestoreRoom("lobby", 6, snap); err == nil {
		t.Fatal("a snapshot of window 5 restored with window 6")
	}
	bad := bytes.Clone(snap)
	bad[0] = snapshotVersion + 1
	if _, err := RestoreRoom("lobby", 5, bad); err == nil {
		t.Fatal("a snapshot of another version restored")
	}
}

func TestRestoreRefusesDamage(t *testing.T) {
	snap := randomRoom(t, 2, 100).room.Snapshot()
	for n := range len(snap) {
		if _, err := RestoreRoom("lobby", 5, snap[:n]); err == nil {
			t.Fatalf("a snapshot cut at %d of %d bytes restored", n, len(snap))
		}
	}
	if _, err := RestoreRoom("lobby", 5, append(bytes.Clone(snap), 0)); err == nil {
		t.Fatal("a snapshot with trailing bytes restored")
	}
}

func FuzzRestoreRoom(f *testing.F) {
	f.Add(randomRoom(f, 3, 40).room.Snapshot())
	f.Fuzz(func(t *testing.T, snap []byte) {
		r, err := RestoreRoom("lobby", 5, snap)
		if err != nil {
			return
		}
		// Whatever restores encodes to a snapshot that restores again.
		if _, err := RestoreRoom("lobby", 5, r.Snapshot()); err != nil {
			t.Fatalf("a restored room's own snapshot: %v", err)
		}
	})
}
