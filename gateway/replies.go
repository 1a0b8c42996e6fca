package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/chillin-chat/chillin/events"
)

// Every reply that carries a list (room:sync, the room:join reply, REST
// history and members) stops adding to it before its encoding would pass
// replyBudget, says that more remains, and is read a page at a time, so
// that what one request makes the gateway hold stays near the budget too.
// A socket's requests are handled one at a time, so a socket has at most
// one reply in the making; its send queue's byte bound does the rest.
const (
	replyBudget = 256 << 10
	// replyFrame is room left in the budget for a reply's frame around its
	// list: type, ref (part of a client frame, so under 16 KiB), the other
	// fields.
	replyFrame = maxFrame + 1<<10
	// syncFirstPage is how many facts a room:sync reads first; later pages
	// are sized by what the first ones weighed.
	syncFirstPage = 64
	// memberPage bounds the members a member list reads at once.
	memberPage = 1000
	// joinMembersBudget is the members' share of a room:join reply, which
	// also holds the room object (names and description: under 4 KiB) and
	// the ids of those online among the members (at most 35 bytes each).
	joinMembersBudget = replyBudget - replyFrame - 4<<10 - memberPage*35
)

// errEncodeFact is a fact of the log that has no client form.
var errEncodeFact = errors.New("encode fact")

// syncEvents reads the facts of a room:sync: the room's facts after after,
// in order, at most limit and within budget bytes of JSON (the first always
// fits: a sync makes progress), each message shown as it stands now (see
// events.ReaderEvents). It returns them with the room's head seq and the seq
// of the last one (after if none).
func (s *Server) syncEvents(ctx context.Context, room string, after uint64, limit, budget int) ([]json.RawMessage, uint64, uint64, error) {
	facts, head, err := s.syncFacts(ctx, room, after, limit, budget)
	if err != nil {
		return nil, 0, 0, err
	}
	last := after
	if len(facts) > 0 {
		last = facts[len(facts)-1].Seq
	}
	// A page short of the head learns of its messages' later edits and
	// deletes from the projection.
	var later events.Fates
	if last < head {
		if later, err = s.reads.Fates(ctx, room, events.PostedIn(facts)); err != nil {
			return nil, 0, 0, err
		}
	}
	shown, err := events.ReaderEvents(facts, later)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("%w of %s: %w", errEncodeFact, room, err)
	}
	evs := make([]json.RawMessage, 0, len(shown))
	size := 0
	for i, ev := range shown {
		b, err := json.Marshal(ev)
		if err != nil {
			return nil, 0, 0, fmt.Errorf("%w %d of %s: %w", errEncodeFact, facts[i].Seq, room, err)
		}
		// A message edited to a longer text weighs more as shown than as
		// read: the page ends where the budget does.
		if i > 0 && size+len(b)+1 > budget {
			return evs, head, facts[i-1].Seq, nil
		}
		evs, size = append(evs, b), size+len(b)+1
	}
	return evs, head, last, nil
}

// syncFacts reads the room's facts after after, in order, at most limit and
// within budget bytes of their client JSON as stored (the first always). It
// reads a page at a time, so that what it holds stays near the budget.
func (s *Server) syncFacts(ctx context.Context, room string, after uint64, limit, budget int) ([]events.Stored, uint64, error) {
	var (
		out  []events.Stored
		head uint64
		size int
		page = syncFirstPage
	)
	for len(out) < limit {
		facts, h, err := events.ReadRoom(ctx, s.js, s.evt, room, after, min(page, limit-len(out)))
		if err != nil {
			return nil, 0, err
		}
		head = max(head, h)
		for _, f := range facts {
			b, err := clientEventJSON(f)
			if err != nil {
				return nil, 0, err
			}
			if len(out) > 0 && size+len(b)+1 > budget {
				return out, head, nil
			}
			out, size, after = append(out, f), size+len(b)+1, f.Seq
		}
		if len(facts) == 0 || after >= head {
			break
		}
		// As many facts as the rest of the budget holds at the size seen so
		// far, and one more to find the end.
		page = max(1, (budget-size)/(size/len(out))+1) // never 0: that reads all
	}
	return out, head, nil
}

func clientEventJSON(f events.Stored) (json.RawMessage, error) {
	ev, err := events.ClientEvent(f)
	if err == nil {
		var b []byte
		if b, err = json.Marshal(ev); err == nil {
			return b, nil
		}
	}
	return nil, fmt.Errorf("%w %d of %s: %w", errEncodeFact, f.Seq, f.Room, err)
}

// fitJSON returns how many of items, from the first, encode within budget
// bytes as a JSON array (at least one, if any).
func fitJSON[T any](items []T, budget int) int {
	size := 1 // the brackets, less the comma the first item does not need
	for i, it := range items {
		b, err := json.Marshal(it)
		if err != nil {
			return i
		}
		if size += len(b) + 1; i > 0 && size > budget {
			return i
		}
	}
	return len(items)
}

// fitJSONFromEnd is fitJSON counting from the last item back: how many of
// the newest items fit.
func fitJSONFromEnd[T any](items []T, budget int) int {
	size := 1 // the brackets, less the comma the first item does not need
	for i := len(items) - 1; i >= 0; i-- {
		b, err := json.Marshal(items[i])
		if err != nil {
			return len(items) - 1 - i
		}
		if size += len(b) + 1; i < len(items)-1 && size > budget {
			return len(items) - 1 - i
		}
	}
	return len(items)
}

// fitHistory keeps the newest of a history page's messages (oldest first)
// that fit the reply budget; if it drops any, more are to be had.
func fitHistory(msgs []events.Message, more bool) ([]events.Message, bool) {
	if n := fitJSONFromEnd(msgs, replyBudget-replyFrame); n < len(msgs) {
		return msgs[len(msgs)-n:], true
	}
	return msgs, more
}
