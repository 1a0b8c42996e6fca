package events_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chillin-chat/chillin/events"
	"github.com/chillin-chat/chillin/events/natstest"
	"github.com/nats-io/nats.go/jetstream"
)

func TestReadRoom(t *testing.T) {
	ctx := context.Background()
	_, js := natstest.Connect(t, natstest.Start(t))
	if err := events.EnsureStreams(ctx, js, events.StreamOptions{}); err != nil {
		t.Fatal(err)
	}
	// EnsureStreams must be idempotent.
	if err := events.EnsureStreams(ctx, js, events.StreamOptions{}); err != nil {
		t.Fatalf("second EnsureStreams: %v", err)
	}
	evt, err := js.Stream(ctx, events.EvtStream)
	if err != nil {
		t.Fatal(err)
	}
	// Interleave two rooms so the room's facts are spread over the stream.
	const n = 300
	for i := 1; i <= n; i++ {
		for _, room := range []string{"alpha", "beta"} {
			typ := events.MessagePosted
			var data any = events.MessagePostedData{Text: fmt.Sprint(i), ClientID: fmt.Sprint(room, i)}
			if i == 1 {
				typ, data = events.RoomCreated, events.RoomCreatedData{Name: room}
			}
			f, err := events.NewFact(typ, room, uint64(i), "alice", fmt.Sprint("c", room, i), time.Now(), data)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := f.Encode()
			if _, err := js.Publish(ctx, events.RoomSubject(room), b); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, tc := range []struct {
		after     uint64
		max       int
		wantFirst uint64
		wantN     int
	}{
		{0, 0, 1, n},
		{0, 10, 1, 10},
		{1, 0, 2, n - 1},
		{150, 0, 151, n - 150},
		{299, 0, 300, 1},
		{300, 0, 0, 0},
		{500, 0, 0, 0},
		{200, 20, 201, 20},
	} {
		t.Run(fmt.Sprintf("after=%d,max=%d", tc.after, tc.max), func(t *testing.T) {
			facts, head, err := events.ReadRoom(ctx, js, evt, "beta", tc.after, tc.max)
			if err != nil {
				t.Fatal(err)
			}
			if head != n {
				t.Fatalf("head = %d, want %d", head, n)
			}
			if len(facts) != tc.wantN {
				t.Fatalf("got %d facts, want %d", len(facts), tc.wantN)
			}
			for i, f := range facts {
				if f.Room != "beta" || f.Seq != tc.wantFirst+uint64(i) {
					t.Fatalf("fact %d: room %s seq %d", i, f.Room, f.Seq)
				}
			}
		})
	}
	tail, head, err := events.ReadRoomTail(ctx, js, evt, "alpha", 50)
	if err != nil || head != n || len(tail) != 50 || tail[0].Seq != n-49 || tail[49].Seq != n {
		t.Fatalf("tail: head %d len %d err %v", head, len(tail), err)
	}
	empty, head, err := events.ReadRoom(ctx, js, evt, "nowhere", 0, 0)
	if err != nil || head != 0 || len(empty) != 0 {
		t.Fatalf("empty room: %v %d %v", empty, head, err)
	}
	// A batch over every room: facts in stream order with their subjects;
	// more until the stream has nothing further.
	nc := js.Conn()
	all, more, err := events.DirectBatch(ctx, nc, events.EvtStream, events.AllRoomFacts, 1, 4)
	if err != nil || !more || len(all) != 4 || all[0].Seq != 1 || all[3].Seq != 4 || all[1].Subject != events.RoomSubject("beta") {
		t.Fatalf("first batch: %+v more=%v err=%v", all, more, err)
	}
	last, more, err := events.DirectBatch(ctx, nc, events.EvtStream, events.AllRoomFacts, 2*n-1, 4)
	if err != nil || more || len(last) != 2 || last[1].Seq != 2*n {
		t.Fatalf("last batch: %d facts more=%v err=%v", len(last), more, err)
	}
	// Reading leaves nothing behind on the server.
	info, err := evt.Info(ctx)
	if err != nil || info.State.Consumers != 0 {
		t.Fatalf("reads left %d consumers (%v)", info.State.Consumers, err)
	}
}

func TestCreateOnlyIfAbsent(t *testing.T) {
	ctx := context.Background()
	js := natstest.Streams(t)
	f, _ := events.NewFact(events.UserRegistered, "", 0, "carol", "", time.Now(), events.UserRegisteredData{Username: "carol"})
	b, _ := f.Encode()
	if _, err := js.Publish(ctx, events.UserSubject("carol"), b, jetstream.WithExpectLastSequencePerSubject(0)); err != nil {
		t.Fatalf("first registration: %v", err)
	}
	_, err := js.Publish(ctx, events.UserSubject("carol"), b, jetstream.WithExpectLastSequencePerSubject(0))
	if !events.IsWrongLastSequence(err) {
		t.Fatalf("second registration: %v, want wrong last sequence", err)
	}
}

// A replica of an R3 stream may not hold yet the fact another said is the
// last: ReadSubject asks again for a while before it calls the log short.
func TestReadSubjectWaitsForALaggingReplica(t *testing.T) {
	ctx := context.Background()
	_, js := natstest.Connect(t, natstest.Start(t))
	if err := events.EnsureStreams(ctx, js, events.StreamOptions{}); err != nil {
		t.Fatal(err)
	}
	subject := events.RoomSubject("lag")
	post := func(seq uint64) uint64 {
		t.Helper()
		f, err := events.NewFact(events.MessagePosted, "lag", seq, "alice", fmt.Sprint("c", seq), time.Now(), events.MessagePostedData{Text: "hi", ClientID: fmt.Sprint(seq)})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := f.Encode()
		ack, err := js.Publish(ctx, subject, b)
		if err != nil {
			t.Fatal(err)
		}
		return ack.Sequence
	}
	first := post(1)

	// Told that first+1 is the last, before this "replica" has it.
	late := make(chan uint64, 1)
	time.AfterFunc(60*time.Millisecond, func() { late <- post(2) })
	facts, err := events.ReadSubject(ctx, js, subject, 0, first+1, 0)
	if err != nil {
		t.Fatalf("read while the last fact was on its way: %v", err)
	}
	if second := <-late; len(facts) != 2 || facts[0].ID != first || facts[1].ID != second {
		t.Fatalf("read %+v, want stream seqs %d and %d", facts, first, second)
	}

	// A fact that never comes: the read fails, once the pauses are over.
	begun := time.Now()
	_, err = events.ReadSubject(ctx, js, subject, 0, first+10, 0)
	if err == nil || !strings.Contains(err.Error(), "log ended before") {
		t.Fatalf("read past the log's end: %v, want the log ended", err)
	}
	if took := time.Since(begun); took > 5*time.Second {
		t.Fatalf("a read past the log's end took %v", took)
	}
}
