package events_test

import (
	"context"
	"testing"
	"time"

	"github.com/chillin-chat/chillin/events"
	"github.com/chillin-chat/chillin/events/natstest"
)

// A user's facts read from the stream leader: the last one's sequence, and
// a range of them in order, skipping other subjects' facts between them.
func TestLeaderReads(t *testing.T) {
	ctx := context.Background()
	nc, js := natstest.Connect(t, natstest.Start(t))
	if err := events.EnsureStreams(ctx, js, events.StreamOptions{}); err != nil {
		t.Fatal(err)
	}
	if last, err := events.LeaderLastSeq(ctx, nc, events.UserSubject("ann")); err != nil || last != 0 {
		t.Fatalf("no facts: last %d, %v; want 0", last, err)
	}
	var seqs []uint64
	for i, user := range []string{"ann", "bob", "ann", "bob", "ann"} {
		f, err := events.NewFact(events.UserRegistered, "", 0, user, "c", time.Now(), events.UserRegisteredData{Username: user, DisplayName: user})
		if err != nil {
			t.Fatal(err)
		}
		b, err := f.Encode()
		if err != nil {
			t.Fatal(err)
		}
		ack, err := js.Publish(ctx, events.UserSubject(user), b)
		if err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			seqs = append(seqs, ack.Sequence)
		}
	}
	last, err := events.LeaderLastSeq(ctx, nc, events.UserSubject("ann"))
	if err != nil || last != seqs[2] {
		t.Fatalf("last %d, %v; want %d", last, err, seqs[2])
	}
	facts, err := events.LeaderReadSubject(ctx, nc, events.UserSubject("ann"), 1, last)
	if err != nil {
		t.Fatal(err)
	}
	if len(facts) != 3 || facts[0].ID != seqs[0] || facts[1].ID != seqs[1] || facts[2].ID != seqs[2] || facts[2].User != "ann" {
		t.Fatalf("read %+v, want ann's facts at %v", facts, seqs)
	}
	if facts, err := events.LeaderReadSubject(ctx, nc, events.UserSubject("ann"), seqs[1], seqs[1]); err != nil || len(facts) != 1 || facts[0].ID != seqs[1] {
		t.Fatalf("read of one: %+v, %v", facts, err)
	}
}
