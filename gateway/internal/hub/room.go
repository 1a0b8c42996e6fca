package hub

import (
	"context"
	"time"

	"github.com/chillin-chat/chillin/events"
)

// A hosted room's goroutine: it takes live frames in seq order, fills gaps
// from the log, checks the head when idle, and delivers to subscribers.

// drainMax bounds the live frames a room takes off its channel at once.
const drainMax = 64

func (h *Hub) run(r *room) {
	idle := time.NewTimer(h.opts.IdleCheck)
	defer idle.Stop()
	batch := make([][]byte, 0, drainMax)
	for {
		select {
		case <-r.stop:
			return
		case payload := <-r.in:
			// Take what else has arrived too: each socket then gets the
			// frames back to back, and its writer sends them together.
			batch = append(batch[:0], payload)
		drain:
			for len(batch) < drainMax {
				select {
				case p := <-r.in:
					batch = append(batch, p)
				default:
					break drain
				}
			}
			h.advance(r, batch)
			idle.Reset(h.opts.IdleCheck)
		case <-idle.C:
			h.checkHead(r)
			idle.Reset(h.opts.IdleCheck)
		}
	}
}

// advance delivers live frames, in seq order, after filling any gap below
// each of them.
func (h *Hub) advance(r *room, payloads [][]byte) {
	var run []frame // consecutive frames not yet delivered
	deliver := func() {
		if len(run) > 0 {
			r.mu.Lock()
			r.deliver(run, h.opts)
			r.mu.Unlock()
			run = run[:0]
		}
	}
	defer deliver()
	for _, payload := range payloads {
		seq, b, err := events.DecodeLiveRoom(payload)
		if err != nil {
			h.lg.Warn("bad live payload", "room", r.id, "err", err)
			continue
		}
		var last uint64
		if len(run) > 0 {
			last = run[len(run)-1].seq
		} else {
			r.mu.Lock()
			last = r.last
			r.mu.Unlock()
		}
		if seq <= last {
			continue
		}
		if seq > last+1 {
			deliver()
			r.mu.Lock()
			last = r.last
			r.mu.Unlock()
			if seq > last+1 && !h.fill(r, last, seq-1) {
				return // the frames are delivered when the log can be read again
			}
		}
		run = append(run, h.liveFrame(r.id, seq, b))
	}
}

// fill reads facts (from, to] from the log and delivers them.
func (h *Hub) fill(r *room, from, to uint64) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	facts, _, err := h.log.ReadRoom(ctx, r.id, from, int(to-from))
	if err != nil {
		h.lg.Warn("fill gap from log", "room", r.id, "after", from, "err", err)
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, f := range facts {
		if f.Seq != r.last+1 {
			continue
		}
		fr, err := factFrame(f)
		if err != nil {
			h.lg.Error("encode fact", "room", r.id, "seq", f.Seq, "err", err)
			return false
		}
		r.deliver([]frame{fr}, h.opts)
	}
	return r.last >= to
}

// checkHead asks the log whether the room moved without a live frame reaching us.
func (h *Hub) checkHead(r *room) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	head, err := h.log.Head(ctx, r.id)
	if err != nil {
		return
	}
	r.mu.Lock()
	last := r.last
	r.mu.Unlock()
	if head > last {
		h.fill(r, last, head)
	}
}

// deliver hands frames, those that continue the room's seq, to every
// subscriber below them: each subscriber gets its frames back to back. r.mu
// is held.
func (r *room) deliver(fs []frame, opts Options) {
	start := len(r.ring)
	for _, f := range fs {
		if f.seq == r.last+1 {
			r.last = f.seq
			r.ring = append(r.ring, f)
			r.size += len(f.b)
		}
	}
	added := r.ring[start:]
	if len(added) == 0 {
		return
	}
	for s, pos := range r.subs {
		for _, f := range added {
			if f.seq > *pos {
				s.Send(f.b)
				*pos = f.seq
			}
		}
	}
	if len(r.ring) >= 2*opts.Ring || r.size >= 2*opts.RingBytes { // amortised O(1)
		r.trim(opts.Ring, opts.RingBytes)
	}
}

// trim keeps the newest n frames of the ring that fit in size bytes (the
// newest one always). r.mu is held.
func (r *room) trim(n, size int) {
	keep, kept := 0, 0
	for i := len(r.ring) - 1; i >= 0 && keep < n; i-- {
		if keep > 0 && kept+len(r.ring[i].b) > size {
			break
		}
		keep, kept = keep+1, kept+len(r.ring[i].b)
	}
	r.ring = append(r.ring[:0:0], r.ring[len(r.ring)-keep:]...)
	r.size = kept
}
