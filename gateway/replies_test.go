package gateway

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/chillin-chat/chillin/events"
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
