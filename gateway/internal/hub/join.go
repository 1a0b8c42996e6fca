package hub

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/chillin-chat/chillin/events"
)

// Joining a room: the backfill of what the joiner missed, from the room's
// recent frames or the log.
//
// A join races with its user leaving the room elsewhere: the leave's Left
// may come while the join is still deciding or backfilling, before the
// subscriber is in the room for Left to drop. A join in progress is
// therefore known to the hub (Expect, and Join itself), Left tells it
// the seq of the leave, and a join whose membership the leave came after
// stops sending and never subscribes (ErrLeft). Left either finds the
// subscriber subscribed, or has told its join before the join's last
// check, taken under the room's lock as it subscribes: the outcome is the
// same as had the join completed before the leave.

// ErrLeft is Join's error when the subscriber's user left the room
// after the membership the join was made with, while the join was in
// progress: the subscriber is not subscribed, as if it had been dropped.
var ErrLeft = errors.New("hub: the user left the room during the join")

// joinKey names a join in progress: the room and the subscriber.
type joinKey struct {
	room string
	s    Subscriber
}

// joining is a join in progress and what it has learnt: the highest room
// seq of a leave of its user that Left was told of meanwhile.
type joining struct {
	refs int // Expects not done; Hub.mu
	left atomic.Uint64
}

// leftAt records a leave at room seq seq.
func (j *joining) leftAt(seq uint64) {
	for {
		cur := j.left.Load()
		if seq <= cur || j.left.CompareAndSwap(cur, seq) {
			return
		}
	}
}

// Expect marks a join of s to room id as in progress until done is called:
// a leave Left is told of meanwhile for s is kept for Join, which
// then refuses to subscribe s if the leave came after the membership it
// is given. Join does this for its own duration; a caller that
// decides the membership before it joins (the gateway asks the validator)
// calls Expect before asking, so a leave decided after its join and told
// before Join starts is not missed.
func (h *Hub) Expect(id string, s Subscriber) (done func()) {
	_, done = h.expect(id, s)
	return done
}

func (h *Hub) expect(id string, s Subscriber) (*joining, func()) {
	k := joinKey{id, s}
	h.mu.Lock()
	j := h.joining[k]
	if j == nil {
		j = &joining{}
		h.joining[k] = j
	}
	j.refs++
	h.mu.Unlock()
	var once sync.Once
	return j, func() {
		once.Do(func() {
			h.mu.Lock()
			if j.refs--; j.refs == 0 {
				delete(h.joining, k)
			}
			h.mu.Unlock()
		})
	}
}

// joiner is a subscriber during its join: its backfill stops once its user
// left the room after the membership it joins with.
type joiner struct {
	Subscriber
	j      *joining
	member uint64
}

func (s joiner) SendWait(b []byte) bool { return !s.overtaken() && s.Subscriber.SendWait(b) }

// overtaken reports whether a leave after the join's membership was told.
func (s joiner) overtaken() bool { return s.j.left.Load() > s.member }

// Join subscribes s to a room and first sends it what it missed: with after
// set, every fact with after < seq; without, the latest tail facts. It
// returns the room's head seq as of the backfill. From then on s receives
// every fact of the room exactly once, in order, until Leave (or Left).
//
// s's user is a member of the room as of room seq member (the head its
// join's decision reported; 0 if unknown): Left drops s for a leave after
// member only, and a join in progress that Left is told of such a leave
// ends with ErrLeft, s not subscribed.
func (h *Hub) Join(ctx context.Context, id string, s Subscriber, after *uint64, tail int, member uint64) (uint64, error) {
	j, done := h.expect(id, s)
	defer done()
	w := joiner{Subscriber: s, j: j, member: member}
	if w.overtaken() {
		return 0, ErrLeft
	}
	r, err := h.acquire(ctx, id)
	if err != nil {
		return 0, err
	}
	fail := func(err error) (uint64, error) {
		h.release(r)
		if w.overtaken() {
			return 0, ErrLeft
		}
		return 0, err
	}
	// What the joiner missed comes from the room's recent frames when they
	// reach back far enough, else from the log (and then seeds them).
	r.mu.Lock()
	frames, head, ok := r.covering(after, tail)
	r.mu.Unlock()
	switch {
	case !ok && after != nil:
		if head, err = h.backfill(ctx, r, w, *after); err != nil {
			return fail(err)
		}
	case !ok:
		var facts []events.Stored
		facts, head, err = h.log.ReadRoomTail(ctx, id, tail)
		if err == nil {
			frames, err = encodeFacts(facts)
		}
		if err != nil {
			return fail(err)
		}
		r.mu.Lock()
		r.seed(frames)
		r.mu.Unlock()
	}
	// What the joiner was not there for, it sees as it stands now.
	if frames, err = redacted(frames); err != nil {
		return fail(err)
	}
	for _, f := range frames {
		if !w.SendWait(f.b) {
			return fail(errClosed)
		}
	}
	pos := head
	if after != nil && *after > pos {
		pos = *after
	}
	// Catch up from the room's recent frames to where live delivery stands,
	// and subscribe, unless the user left meanwhile.
	for {
		r.mu.Lock()
		if w.overtaken() {
			r.mu.Unlock()
			return fail(ErrLeft)
		}
		if pos >= r.last {
			r.subs[s], r.member[s] = &pos, member
			r.mu.Unlock()
			return head, nil
		}
		if missing, ok := r.since(pos); ok {
			for _, f := range missing {
				s.Send(f.b)
			}
			pos = r.last
			r.subs[s], r.member[s] = &pos, member
			r.mu.Unlock()
			return head, nil
		}
		target := r.last
		r.mu.Unlock()
		more, err := h.readBelow(ctx, id, pos, target, min(int(target-pos), backfillPage))
		if err != nil {
			return fail(err)
		}
		if err := sendFacts(w, more); err != nil {
			return fail(err)
		}
		if len(more) > 0 {
			pos = more[len(more)-1].Seq
		}
	}
}

// readBelow reads the room's facts after after, at most max, when the log
// is known to hold the room up to head. Any replica of an R3 stream may
// answer a read, one that has not caught up among them: nothing after
// after, below head, is such a replica's answer, and is asked again after
// the pauses of events.WaitForReplica before it is an error. Taken for the
// end of the room, it would leave a joiner a gap.
func (h *Hub) readBelow(ctx context.Context, room string, after, head uint64, max int) ([]events.Stored, error) {
	lagged := 0
	for {
		facts, _, err := h.log.ReadRoom(ctx, room, after, max)
		if err != nil || len(facts) > 0 || after >= head {
			return facts, err
		}
		if !events.WaitForReplica(ctx, &lagged) {
			return nil, fmt.Errorf("read room %s: nothing after seq %d, below its head %d", room, after, head)
		}
	}
}

// backfillPage bounds the facts a join reads from the log at once: a page
// is sent (SendWait waiting for the socket to take it) before the next is
// read, so a join far behind holds a page, not everything it missed.
const backfillPage = 64

// backfill sends s the room's facts after after, up to the head as of the
// first read, from the log, a page at a time; the last page seeds the room's
// recent frames. Each message is shown as it stands at that head: a first
// pass over the pages folds the edits and deletes (all it keeps), the second
// sends the pages. It returns that head.
func (h *Hub) backfill(ctx context.Context, r *room, s Subscriber, after uint64) (uint64, error) {
	fates, head, facts, err := h.fates(ctx, r.id, after)
	if err != nil {
		return 0, err
	}
	for ; err == nil && len(facts) > 0; facts, err = h.readBelow(ctx, r.id, after, head, backfillPage) {
		if i := slices.IndexFunc(facts, func(f events.Stored) bool { return f.Seq > head }); i >= 0 {
			facts = facts[:i] // the room moved on meanwhile: the catch-up sends the rest
		}
		frames, err := encodeFacts(facts)
		if err != nil {
			return 0, err
		}
		if len(frames) == 0 {
			break
		}
		if after = frames[len(frames)-1].seq; after >= head {
			r.mu.Lock()
			r.seed(frames)
			r.mu.Unlock()
		}
		if frames, err = redactedBy(frames, fates); err != nil {
			return 0, err
		}
		for _, f := range frames {
			if !s.SendWait(f.b) {
				return 0, errClosed
			}
		}
		if after >= head {
			break
		}
	}
	return head, err
}

// fates folds the edits and deletes of the room's facts after after, up to
// the head as of the first read, and returns them with that head and the
// first page it read (the backfill's first page).
func (h *Hub) fates(ctx context.Context, room string, after uint64) (fates events.Fates, head uint64, first []events.Stored, err error) {
	fates = events.Fates{}
	facts, head, err := h.log.ReadRoom(ctx, room, after, backfillPage)
	first = facts
	for ; err == nil && len(facts) > 0; facts, err = h.readBelow(ctx, room, after, head, backfillPage) {
		for _, f := range facts {
			if f.Seq > head {
				return fates, head, first, nil
			}
			if f.Type == events.MessageEdited || f.Type == events.MessageDeleted {
				if err := fates.Fold(f); err != nil {
					return nil, 0, nil, err
				}
			}
			after = f.Seq
		}
		if after >= head {
			break
		}
	}
	return fates, head, first, err
}

// covering returns the frames a join needs, with after set those above
// after, else the newest tail, and the room's head, if the recent frames
// reach back that far. r.mu is held.
func (r *room) covering(after *uint64, tail int) ([]frame, uint64, bool) {
	from := uint64(1) // the first seq the joiner needs
	switch {
	case after != nil:
		from = *after + 1
	case r.last > uint64(tail):
		from = r.last - uint64(tail) + 1
	}
	if from > r.last {
		return nil, r.last, true
	}
	missing, ok := r.since(from - 1)
	if !ok {
		return nil, 0, false
	}
	return slices.Clone(missing), r.last, true
}

// seed makes frames read from the log the room's recent frames, if the
// room has none yet and they end where the room stands. r.mu is held.
func (r *room) seed(frames []frame) {
	if len(r.ring) > 0 || len(frames) == 0 || frames[len(frames)-1].seq != r.last {
		return
	}
	for i := 1; i < len(frames); i++ {
		if frames[i].seq != frames[i-1].seq+1 {
			return
		}
	}
	r.ring = append(r.ring, frames...)
	for _, f := range frames {
		r.size += len(f.b)
	}
}

// since returns the ring's frames after pos, if the ring reaches back that far.
func (r *room) since(pos uint64) ([]frame, bool) {
	if len(r.ring) == 0 || r.ring[0].seq > pos+1 {
		return nil, false
	}
	i := int(pos + 1 - r.ring[0].seq)
	return r.ring[i:], true
}
