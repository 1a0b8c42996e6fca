package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/chillin-chat/chillin/events"
	"github.com/chillin-chat/chillin/events/natstest"
	"github.com/chillin-chat/chillin/gateway/internal/readmodel"
	"github.com/chillin-chat/chillin/schema/schematest"
)

// The fit helpers count what a list's JSON takes, keep at least one item (a
// reply always makes progress) and, from the end, the newest.
func TestFitJSON(t *testing.T) {
	items := []string{strings.Repeat("a", 100), strings.Repeat("b", 100), strings.Repeat("c", 100)}
	one, _ := json.Marshal(items[:1])
	two, _ := json.Marshal(items[:2])
	for _, tc := range []struct {
		budget, first, last int
	}{
		{len(two), 2, 2},
		{len(two) - 1, 1, 1},
		{len(one), 1, 1},
		{1, 1, 1}, // the first always goes
		{1 << 20, 3, 3},
	} {
		if n := fitJSON(items, tc.budget); n != tc.first {
			t.Errorf("fitJSON within %d: %d items, want %d", tc.budget, n, tc.first)
		}
		if n := fitJSONFromEnd(items, tc.budget); n != tc.last {
			t.Errorf("fitJSONFromEnd within %d: %d items, want %d", tc.budget, n, tc.last)
		}
	}
	if n := fitJSON([]string{}, 10); n != 0 {
		t.Errorf("fitJSON of nothing: %d", n)
	}
	// fitHistory keeps the newest messages and says more remain.
	msgs, more := fitHistory(nil, false)
	if len(msgs) != 0 || more {
		t.Errorf("fitHistory of nothing: %d, %v", len(msgs), more)
	}
	var page []events.Message
	for i := range 100 {
		page = append(page, events.Message{ID: uint64(i + 1), Text: strings.Repeat("😀", 2000)})
	}
	msgs, more = fitHistory(page, false)
	b, _ := json.Marshal(msgs)
	if !more || len(msgs) == 0 || len(msgs) == len(page) || msgs[len(msgs)-1].ID != 100 || len(b) > replyBudget-replyFrame {
		t.Errorf("fitHistory of 800 KB: %d messages up to id %d in %d bytes, more %v", len(msgs), msgs[len(msgs)-1].ID, len(b), more)
	}
	if msgs, more := fitHistory(page[:3], false); len(msgs) != 3 || more {
		t.Errorf("fitHistory of 3 messages: %d, more %v", len(msgs), more)
	}
}

// room:sync's events stop at the budget, the first always comes, and asked
// again from the last one, a sync goes on to the head.
func TestSyncEventsWithinBudget(t *testing.T) {
	ctx := context.Background()
	js := natstest.Streams(t)
	evt, err := js.Stream(ctx, events.EvtStream)
	if err != nil {
		t.Fatal(err)
	}
	// A page short of the head asks the projection of later edits and
	// deletes: none here, the room's messages are all as posted.
	pool, _ := schematest.NewDB(t)
	s := &Server{js: js, evt: evt, pg: pool, reads: readmodel.New(readmodel.Config{PG: pool, JS: js, Evt: evt, Log: slog.New(slog.DiscardHandler)})}
	const room, n = "budget", 12
	for seq := uint64(1); seq <= n; seq++ {
		typ, data := events.MessagePosted, any(events.MessagePostedData{Text: strings.Repeat("x", 1000), ClientID: fmt.Sprint(seq)})
		if seq == 1 {
			typ, data = events.RoomCreated, events.RoomCreatedData{Name: room}
		}
		f, err := events.NewFact(typ, room, seq, "alice", fmt.Sprint("c", seq), time.Now(), data)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := f.Encode()
		if _, err := js.Publish(ctx, events.RoomSubject(room), b); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		budget   int
		perReply int // events per reply after the first fact, which is small
	}{
		{100, 1},      // smaller than one event: one each time
		{3000, 2},     // two messages of about 1,250 bytes
		{1 << 20, 12}, // all
	} {
		after, replies := uint64(0), 0
		for after < n {
			evs, head, last, err := s.syncEvents(ctx, room, after, 500, tc.budget)
			if err != nil || head != n || len(evs) == 0 {
				t.Fatalf("budget %d, after %d: %d events, head %d, %v", tc.budget, after, len(evs), head, err)
			}
			size := 0
			for i, b := range evs {
				var ev struct{ Seq uint64 }
				if err := json.Unmarshal(b, &ev); err != nil || ev.Seq != after+uint64(i)+1 {
					t.Fatalf("budget %d: event %s after %d", tc.budget, b, after)
				}
				size += len(b) + 1
			}
			if len(evs) > 1 && size > tc.budget {
				t.Fatalf("budget %d: %d events of %d bytes", tc.budget, len(evs), size)
			}
			if after > 0 && len(evs) != min(tc.perReply, int(n-after)) {
				t.Fatalf("budget %d, after %d: %d events, want %d", tc.budget, after, len(evs), tc.perReply)
			}
			after, replies = last, replies+1
		}
		t.Logf("budget %d: %d replies", tc.budget, replies)
	}
}
