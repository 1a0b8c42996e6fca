package main

import (
	"context"
	"fmt"
	"io"
	"math/bits"
	mrand "math/rand/v2"
	"net/http"
	"time"

	"github.com/coder/websocket"
)

// A client whose socket is lost (its gateway died, the server closed it)
// comes back as the web app does (ui/js/connection.js, client.js): after a
// delay that doubles with each attempt, with jitter, it opens a new socket,
// logs in again if the session was refused, and joins its room with after =
// the last room seq it saw, so that the server sends what it missed.

// Reconnection delays, as the web app's (ui/js/backoff.js): attempt k
// (0-based) waits min(base·2^k + jitter, cap), jitter in [0, jitter), and
// after maxAttempts failed attempts the client gives up.
const (
	backoffBase        = time.Second
	backoffJitter      = time.Second
	backoffCap         = 30 * time.Second
	backoffMaxAttempts = 10
)

func backoffDelay(attempt int) time.Duration {
	d := backoffBase<<min(attempt, 16) + mrand.N(backoffJitter)
	return min(d, backoffCap)
}

// closeUnauthorized is the close code of a socket whose session ended.
const closeUnauthorized = 4001

// failover is what a client keeps to come back after a lost socket and to
// account for what it received. Its fields are guarded by client.mu.
type failover struct {
	lastSeq uint64 // the highest room seq seen, or the first join's head: the next join's after
	resume  bool   // the room was joined once: later joins carry after
	seen    seqSet // room seqs of this run's messages received
	mine    seqSet // room seqs of this client's own messages, answered
	ownN    seqSet // the numbers of this client's messages (its clientIds), answered
	lostAt  time.Time

	losses, reconnects, relogins int64
	gaveUp                       bool
	twice, postedTwice           int64
	snapshots                    int64
	rejoinUs                     []int64 // µs from a lost socket to its room joined again
}

// received records the delivery of this run's message with room seq seq
// (own: the client's own, its clientId number n). It reports whether this
// is the first delivery of that seq, and, for its own, whether it is the
// first answer to that send. c.mu is held.
//
// The client joins again with after = the highest room seq it has seen, and
// the protocol sends on one socket every fact once, in seq order, and with
// after only the facts above it: so no seq is owed twice, and every repeat
// counts as received twice. The web app drops a repeated seq; a client
// that shows what it is sent would show it twice. A message of the
// client's own that comes back under a second seq was posted twice.
func (c *client) received(seq uint64, own bool, n uint64) (first, answer bool) {
	if !c.seen.add(seq) {
		c.twice++
		return false, false
	}
	if !own {
		return true, false
	}
	c.mine.add(seq)
	if !c.ownN.add(n) {
		c.postedTwice++
		return true, false
	}
	return true, true
}

// rejoined records an answered room:join with the room's head seq. The first
// join's replay of recent history ends at head; a later one (with after)
// sends what follows lastSeq, which moves on as it arrives. c.mu is held.
func (c *client) rejoined(head uint64, snapshot bool, now time.Time) {
	if !c.resume {
		c.lastSeq = max(c.lastSeq, head)
		c.resume = true
	}
	if snapshot {
		// More than the server replays was missed: a real client reloads
		// the history over REST; this one counts what it did not get.
		c.snapshots++
		c.lastSeq = max(c.lastSeq, head)
	}
	if !c.lostAt.IsZero() {
		c.reconnects++
		c.rejoinUs = append(c.rejoinUs, now.Sub(c.lostAt).Microseconds())
		c.lostAt = time.Time{}
	}
}

// serve reads ws, and each socket after it, until ctx ends; a lost socket
// is replaced as the web app replaces it.
func (c *client) serve(ctx context.Context, nw *network, ws *websocket.Conn) {
	for {
		err := c.read(ws)
		c.live.Store(false)
		c.ws.CompareAndSwap(ws, nil)
		if ctx.Err() != nil {
			return
		}
		c.mu.Lock()
		c.losses++
		if c.lostAt.IsZero() { // a socket lost before its join was answered keeps the first loss's time
			c.lostAt = time.Now()
		}
		c.mu.Unlock()
		if ws = c.reconnect(ctx, nw, websocket.CloseStatus(err) == closeUnauthorized); ws == nil {
			return
		}
	}
}

// reconnect opens a new socket after the backoff delays and joins the room
// on it; it returns nil when ctx ends or the attempts are spent.
func (c *client) reconnect(ctx context.Context, nw *network, relogin bool) *websocket.Conn {
	for attempt := 0; attempt < backoffMaxAttempts; attempt++ {
		t := time.NewTimer(backoffDelay(attempt))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		if relogin {
			token, err := account(ctx, nw.httpc, nw.authBase, c.user)
			if err != nil {
				continue
			}
			c.token, relogin = token, false
			c.mu.Lock()
			c.relogins++
			c.mu.Unlock()
		}
		ws, status, err := c.dial(ctx, nw)
		if err != nil {
			relogin = status == http.StatusUnauthorized
			continue
		}
		c.ws.Store(ws)
		if ctx.Err() != nil { // the run ended while dialing: runLoad may not have seen this socket
			ws.CloseNow()
			return nil
		}
		if err := c.join(ctx, ws); err != nil {
			ws.CloseNow()
			c.ws.CompareAndSwap(ws, nil)
			continue
		}
		return ws
	}
	c.mu.Lock()
	c.gaveUp = true
	c.mu.Unlock()
	return nil
}

// rejoined waits until every client that lost its socket has joined its
// room again or given up, at most limit.
func rejoined(ctx context.Context, clients []*client, limit time.Duration, progress io.Writer) error {
	deadline := time.Now().Add(limit)
	for said := false; ; {
		away := 0
		for _, c := range clients {
			c.mu.Lock()
			if !c.lostAt.IsZero() && !c.gaveUp {
				away++
			}
			c.mu.Unlock()
		}
		if away == 0 || time.Now().After(deadline) {
			return nil
		}
		if !said {
			fmt.Fprintf(progress, "waiting for %d clients to rejoin\n", away)
			said = true
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// failoverTotals is what the clients' lost sockets cost, added up.
type failoverTotals struct {
	losses, reconnects, relogins, gaveUp  int64
	missed, twice, postedTwice, snapshots int64
	rejoinUs                              []int64
}

// failoverCounts adds up the clients' failover accounting. Missed is, for
// every room, the messages answered to their sender (a client of the run
// received its own message, live or in a backfill) that a client in that
// room never received.
func failoverCounts(clients []*client) failoverTotals {
	var t failoverTotals
	byRoom := map[string][]*client{}
	for _, c := range clients {
		byRoom[c.room] = append(byRoom[c.room], c)
	}
	for _, members := range byRoom {
		var answered seqSet
		for _, c := range members {
			c.mu.Lock()
			answered.union(&c.mine)
			c.mu.Unlock()
		}
		for _, c := range members {
			c.mu.Lock()
			t.missed += int64(answered.without(&c.seen))
			t.losses += c.losses
			t.reconnects += c.reconnects
			t.relogins += c.relogins
			if c.gaveUp {
				t.gaveUp++
			}
			t.twice += c.twice
			t.postedTwice += c.postedTwice
			t.snapshots += c.snapshots
			t.rejoinUs = append(t.rejoinUs, c.rejoinUs...)
			c.mu.Unlock()
		}
	}
	return t
}

// seqSet is a set of room seqs: a bitmap from base, as a room's seqs are
// dense.
type seqSet struct {
	base  uint64 // a multiple of 64
	words []uint64
}

// add puts seq in the set and reports whether it was not there.
func (s *seqSet) add(seq uint64) bool {
	if len(s.words) == 0 {
		s.base = seq &^ 63
	}
	if seq < s.base {
		grow := int((s.base - seq&^63) / 64)
		s.words = append(make([]uint64, grow, grow+len(s.words)), s.words...)
		s.base = seq &^ 63
	}
	i := int((seq - s.base) / 64)
	for i >= len(s.words) {
		s.words = append(s.words, 0)
	}
	bit := uint64(1) << (seq % 64)
	if s.words[i]&bit != 0 {
		return false
	}
	s.words[i] |= bit
	return true
}

func (s *seqSet) has(seq uint64) bool {
	if seq < s.base {
		return false
	}
	i := (seq - s.base) / 64
	return i < uint64(len(s.words)) && s.words[i]&(1<<(seq%64)) != 0
}

func (s *seqSet) len() int {
	n := 0
	for _, w := range s.words {
		n += bits.OnesCount64(w)
	}
	return n
}

// union adds every seq of o.
func (s *seqSet) union(o *seqSet) {
	for i, w := range o.words {
		for ; w != 0; w &= w - 1 {
			s.add(o.base + uint64(i)*64 + uint64(bits.TrailingZeros64(w)))
		}
	}
}

// without counts the seqs of s that o does not hold.
func (s *seqSet) without(o *seqSet) int {
	n := 0
	for i, w := range s.words {
		for ; w != 0; w &= w - 1 {
			if !o.has(s.base + uint64(i)*64 + uint64(bits.TrailingZeros64(w))) {
				n++
			}
		}
	}
	return n
}

// gatewayConnections reads chillin_gateway_connections from each page of
// the list, in order; nil for a page that does not answer (a dead gateway)
// or has no such gauge.
func gatewayConnections(ctx context.Context, c *http.Client, list string) []*float64 {
	var out []*float64
	for _, u := range urls(list) {
		var v *float64
		if fams, err := scrape(ctx, c, u); err == nil {
			if m := fams["chillin_gateway_connections"].GetMetric(); len(m) > 0 {
				x := m[0].GetGauge().GetValue()
				v = &x
			}
		}
		out = append(out, v)
	}
	return out
}
