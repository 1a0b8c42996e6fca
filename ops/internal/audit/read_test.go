package audit

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/chillin-chat/chillin/events"
	"github.com/chillin-chat/chillin/events/natstest"
	"github.com/nats-io/nats.go/jetstream"
)

// twoRooms appends n facts alternating between rooms a and b (stream seq
// i+1 is a's when i is even) and returns the JetStream handle.
func twoRooms(t *testing.T, n int) jetstream.JetStream {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	js := natstest.Streams(t)
	seqs := map[string]uint64{}
	for i := range n {
		room := "a"
		if i%2 == 1 {
			room = "b"
		}
		seqs[room]++
		typ, data := events.MessagePosted, any(events.MessagePostedData{Text: fmt.Sprint(i), ClientID: fmt.Sprint(i)})
		if seqs[room] == 1 {
			typ, data = events.RoomCreated, events.RoomCreatedData{Name: room}
		}
		f, err := events.NewFact(typ, room, seqs[room], "ann", "", t0, data)
		if err != nil {
			t.Fatal(err)
		}
		b, err := f.Encode()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := js.PublishAsync(events.RoomSubject(room), b); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-ctx.Done():
		t.Fatal("publishing did not complete")
	}
	return js
}

func TestRead(t *testing.T) {
	const n = 2*readChunk + 301
	js := twoRooms(t, n)
	for _, tc := range []struct {
		name      string
		subject   string
		from, to  uint64
		wantFirst uint64
		wantLast  uint64
		wantCount int
	}{
		{"everything", "chat.evt.>", 0, 0, 1, n, n},
		{"one room", events.RoomSubject("b"), 0, 0, 2, n - 1, n / 2},
		{"one room, a seq range", events.RoomSubject("a"), 100, 1200, 101, 1199, 550},
		{"a range past the room's end", events.RoomSubject("b"), n + 10, 0, 0, 0, 0},
		{"a room with no facts", events.RoomSubject("c"), 0, 0, 0, 0, 0},
		{"the last fact", "chat.evt.>", n, n, n, n, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			var got []uint64
			err := Read(ctx, js, tc.subject, tc.from, tc.to, func(s events.Stored) error {
				if len(got) > 0 && s.ID <= got[len(got)-1] {
					return fmt.Errorf("seq %d after %d", s.ID, got[len(got)-1])
				}
				if tc.subject != "chat.evt.>" && events.RoomSubject(s.Room) != tc.subject {
					return fmt.Errorf("seq %d is of room %s", s.ID, s.Room)
				}
				got = append(got, s.ID)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tc.wantCount {
				t.Fatalf("%d facts, want %d", len(got), tc.wantCount)
			}
			if len(got) > 0 && (got[0] != tc.wantFirst || got[len(got)-1] != tc.wantLast) {
				t.Fatalf("facts %d–%d, want %d–%d", got[0], got[len(got)-1], tc.wantFirst, tc.wantLast)
			}
		})
	}

	stop := errors.New("enough")
	calls := 0
	err := Read(context.Background(), js, "chat.evt.>", 0, 0, func(events.Stored) error {
		calls++
		if calls == 3 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || calls != 3 {
		t.Fatalf("after fn's error: %v, %d calls", err, calls)
	}
}
