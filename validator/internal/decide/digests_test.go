package decide

import (
	"fmt"
	"testing"

	"github.com/chillin-chat/chillin/events"
)

// digestFixture is a room "lobby" of alice and bob that keeps 3 digests:
// alice posted c0 … c5 (ids[i] has clientId c<i>), so c0, c1 and c2 were
// dropped and archivedThrough is ids[2].
type digestFixture struct {
	room *Room
	ids  []uint64
}

func newDigestFixture(tb testing.TB) digestFixture {
	b := newBuilder(tb, "lobby")
	b.room.SetDigestWindow(3)
	b.add(events.RoomCreated, "alice", events.RoomCreatedData{Name: "Lobby"})
	b.add(events.MemberJoined, "bob", events.MemberJoinedData{})
	var ids []uint64
	for i := range 6 {
		ids = append(ids, b.add(events.MessagePosted, "alice", events.MessagePostedData{Text: "t", ClientID: fmt.Sprint("c", i)}))
		// A message without a clientId (imported) holds no digest.
		b.add(events.MessagePosted, "bob", events.MessagePostedData{Text: "legacy"})
	}
	return digestFixture{room: b.room, ids: ids}
}

func TestRoomKeepsItsNewestDigests(t *testing.T) {
	fx := newDigestFixture(t)
	r := fx.room
	if len(r.posted) != 3 || r.postedOrder.len() != 3 {
		t.Fatalf("the room holds %d digests, %d in order; want 3", len(r.posted), r.postedOrder.len())
	}
	if got := r.ArchivedThrough(); got != fx.ids[2] {
		t.Fatalf("archived through %d, want %d", got, fx.ids[2])
	}
	for i, id := range fx.ids {
		got, ok := r.PostedBy("alice", fmt.Sprint("c", i))
		if held := i >= 3; ok != held || (held && got != id) {
			t.Fatalf("clientId c%d: held %v (message %d), want held %v (message %d)", i, ok, got, held, id)
		}
	}
	for i := range 3 {
		if !r.archived.mayHold(digestOf("alice", fmt.Sprint("c", i))) {
			t.Fatalf("the archive filter rules out the dropped clientId c%d", i)
		}
	}
	for i := 3; i < 6; i++ {
		if r.archived.mayHold(digestOf("alice", fmt.Sprint("c", i))) {
			t.Fatalf("the archive filter may hold c%d, which was not dropped", i)
		}
	}
	if NewRoom("x").ArchivedThrough() != 0 {
		t.Fatal("a room that dropped no digest has archived through a message")
	}
	// Lowering the window drops the oldest of those held.
	r.SetDigestWindow(1)
	if len(r.posted) != 1 || r.ArchivedThrough() != fx.ids[4] {
		t.Fatalf("window 1: %d digests, archived through %d; want 1, %d", len(r.posted), r.ArchivedThrough(), fx.ids[4])
	}
}

func TestDecideSendPastTheDigests(t *testing.T) {
	fx := newDigestFixture(t)
	through := fx.ids[2]
	query := func(user, clientID string) *ArchiveQuery {
		return &ArchiveQuery{Room: "lobby", User: user, ClientID: clientID, Through: through}
	}
	send := func(clientID string) events.MessageSend { return events.MessageSend{Text: "again", ClientID: clientID} }
	for _, tc := range []struct {
		name     string
		user     string
		clientID string
		archived map[ArchiveQuery]uint64
		archive  *ArchiveQuery
		want     want
	}{
		{"held clientId: resend, no lookup", "alice", "c4", nil, nil, want{resend: fx.ids[4]}},
		{"clientId not held asks the archive", "alice", "c1", nil, query("alice", "c1"), want{}},
		{"archived resend gets the original", "alice", "c1", map[ArchiveQuery]uint64{*query("alice", "c1"): fx.ids[1]}, nil, want{resend: fx.ids[1]}},
		{"new clientId, ruled out by the filter", "alice", "new", nil, nil, want{fact: events.MessagePosted}},
		{"another user's clientId, ruled out by the filter", "bob", "c1", nil, nil, want{fact: events.MessagePosted}},
		{"clientId the archive does not hold is accepted", "alice", "c1", map[ArchiveQuery]uint64{*query("alice", "c1"): 0}, nil, want{fact: events.MessagePosted}},
		{"an answer for another query is no answer", "alice", "c1", map[ArchiveQuery]uint64{*query("alice", "c2"): fx.ids[2]}, query("alice", "c1"), want{}},
		{"an answer past the archive is ignored", "alice", "c1", map[ArchiveQuery]uint64{*query("alice", "c1"): through + 1}, nil, want{fact: events.MessagePosted}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := input(t, events.CmdMessageSend, tc.user, "s-"+tc.user, "lobby", send(tc.clientID))
			in.Archived = tc.archived
			d := Decide(fx.room, in)
			if (d.Archive == nil) != (tc.archive == nil) || (d.Archive != nil && *d.Archive != *tc.archive) {
				t.Fatalf("archive query %+v, want %+v", d.Archive, tc.archive)
			}
			check(t, d, tc.want, fx.room, "the-cmd")
		})
	}
}

func TestDecideSendAsksNoArchiveBeforeAnyDigestIsDropped(t *testing.T) {
	fx := newFixture(t)
	d := Decide(fx.room, input(t, events.CmdMessageSend, "alice", "s-alice", "lobby", events.MessageSend{Text: "new", ClientID: "new"}))
	if d.Archive != nil {
		t.Fatalf("archive query %+v in a room that dropped no digest", d.Archive)
	}
	check(t, d, want{fact: events.MessagePosted}, fx.room, "the-cmd")
}

func TestSnapshotKeepsTheDigestWindow(t *testing.T) {
	fx := newDigestFixture(t)
	got, err := RestoreRoom("lobby", DefaultMessageWindow, fx.room.Snapshot())
	if err != nil {
		t.Fatal(err)
	}
	sameState(t, fx.room, got)
	if got.ArchivedThrough() != fx.ids[2] || got.digests != 3 {
		t.Fatalf("restored: archived through %d, window %d; want %d, 3", got.ArchivedThrough(), got.digests, fx.ids[2])
	}
	// The restored room drops its oldest digest on the next post, as the
	// folded one does.
	b := &builder{tb: t, room: got, id: fx.ids[5] + 10, at: now}
	id := b.add(events.MessagePosted, "alice", events.MessagePostedData{Text: "t", ClientID: "c6"})
	if _, ok := got.PostedBy("alice", "c3"); ok || got.ArchivedThrough() != fx.ids[3] {
		t.Fatalf("after posting %d: c3 still held, or archived through %d, want %d", id, got.ArchivedThrough(), fx.ids[3])
	}
	// A damaged snapshot that holds one digest twice, or more than its
	// window, is refused.
	twice := NewRoom("lobby")
	twice.posted[digestOf("a", "b")] = 1
	twice.postedOrder.push(digestOf("a", "b"))
	twice.postedOrder.push(digestOf("a", "b"))
	if _, err := RestoreRoom("lobby", DefaultMessageWindow, twice.Snapshot()); err == nil {
		t.Fatal("a snapshot holding a digest twice was restored")
	}
	over := newDigestFixture(t).room
	over.digests = 2
	if _, err := RestoreRoom("lobby", DefaultMessageWindow, over.Snapshot()); err == nil {
		t.Fatal("a snapshot holding more digests than its window was restored")
	}
}

func TestSnapshotOfAnotherVersionIsRefused(t *testing.T) {
	snap := newDigestFixture(t).room.Snapshot()
	snap[0] = 1 // the version that held every digest
	if _, err := RestoreRoom("lobby", DefaultMessageWindow, snap); err == nil {
		t.Fatal("a version 1 snapshot was restored")
	}
}

// The filter never rules out a dropped digest, and rules out most others.
func TestArchiveFilter(t *testing.T) {
	var f filter
	if f.mayHold(digestOf("a", "b")) {
		t.Fatal("an empty filter may hold a digest")
	}
	const n = 50_000
	for i := range n {
		f.add(digestOf("alice", fmt.Sprint("dropped", i)))
	}
	for i := range n {
		if !f.mayHold(digestOf("alice", fmt.Sprint("dropped", i))) {
			t.Fatalf("dropped%d ruled out", i)
		}
	}
	falsePositives := 0
	for i := range n {
		if f.mayHold(digestOf("alice", fmt.Sprint("new", i))) {
			falsePositives++
		}
	}
	// 2^20 bits, four per digest, 50,000 digests: about 0.1 %.
	if falsePositives > n/100 {
		t.Fatalf("%d of %d new digests may be held", falsePositives, n)
	}
	t.Logf("%d of %d new digests not ruled out after %d dropped", falsePositives, n, n)
}
