package decide

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/chillin-chat/chillin/events"
)

// flood posts n messages into a room of the default windows, each with a
// clientId of its own, by 50 users, 100 ms apart (the room remembers the
// command ids of the last CommandHorizon), each reacted to by another user
// and every tenth deleted by its author, calling at(i) after message i (1-based)
// for each i in marks.
func flood(tb testing.TB, n int, marks []int, at func(i int, r *Room)) *Room {
	b := newBuilder(tb, "busy")
	b.add(events.RoomCreated, "u0", events.RoomCreatedData{Name: "Busy"})
	for u := 1; u < 50; u++ {
		b.add(events.MemberJoined, fmt.Sprint("u", u), events.MemberJoinedData{})
	}
	data := events.MessagePostedData{Text: "hello"}
	for i := 1; i <= n; i++ {
		data.ClientID = fmt.Sprintf("client-%08d", i)
		b.at = b.at.Add(100 * time.Millisecond)
		author := fmt.Sprint("u", i%50)
		id := b.add(events.MessagePosted, author, data)
		b.add(events.ReactionAdded, fmt.Sprint("u", (i+1)%50), events.ReactionData{ID: id, Emoji: "👍"})
		if i%10 == 0 {
			b.add(events.MessageDeleted, author, events.MessageDeletedData{ID: id})
		}
		if len(marks) > 0 && marks[0] == i {
			at(i, b.room)
			marks = marks[1:]
		}
	}
	return b.room
}

// One room's state stops growing once it holds its windows of messages and
// digests, however many messages flow into it, reacted to and deleted, and its snapshot stays
// under the 1 MiB a snapshot may take.
func TestRoomStateIsBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("folds 200,000 messages")
	}
	sizes := map[int]int{}
	snaps := map[int]int{}
	flood(t, 200_000, []int{50_000, 100_000, 200_000}, func(i int, r *Room) {
		sizes[i], snaps[i] = r.Size(), len(r.Snapshot())
	})
	if sizes[200_000] != sizes[100_000] || sizes[100_000] != sizes[50_000] {
		t.Fatalf("estimated size after 50,000, 100,000 and 200,000 messages: %d, %d, %d bytes; want it to stop growing",
			sizes[50_000], sizes[100_000], sizes[200_000])
	}
	// The filter of the dropped digests sets bits in more of its words as
	// digests are dropped, up to all of them (filterWords of 8 to 10 bytes
	// each): the snapshot grows by bytes, no more.
	if snaps[200_000] > 1<<20 || snaps[200_000] > snaps[50_000]+1024 {
		t.Fatalf("snapshot after 50,000 and 200,000 messages: %d, %d bytes", snaps[50_000], snaps[200_000])
	}
}

// BenchmarkRoomFlood reports one room's state as 200,000 messages flow into
// it (each reacted to, one in ten deleted): the estimated size (Room.Size), the snapshot and the live heap the
// room holds, after 20,000 (the digest window), 50,000, 100,000 and
// 200,000 messages.
//
//	cd validator && go test -run XXX -bench RoomFlood -benchtime 1x ./internal/decide/
func BenchmarkRoomFlood(b *testing.B) {
	for range b.N {
		runtime.GC()
		var base runtime.MemStats
		runtime.ReadMemStats(&base)
		flood(b, 200_000, []int{20_000, 50_000, 100_000, 200_000}, func(i int, r *Room) {
			runtime.GC()
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			k := fmt.Sprintf("%dk", i/1000)
			b.ReportMetric(float64(r.Size()), "size-B@"+k)
			b.ReportMetric(float64(len(r.Snapshot())), "snap-B@"+k)
			b.ReportMetric(float64(int64(m.HeapAlloc)-int64(base.HeapAlloc)), "heap-B@"+k)
		})
	}
}
