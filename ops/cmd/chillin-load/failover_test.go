package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chillin-chat/chillin/events"
)

// eventFrame is the `event` frame the gateway sends for a fact of room
// "lobby" with room seq seq.
func eventFrame(t *testing.T, typ string, seq uint64, data any) []byte {
	t.Helper()
	f, err := events.NewFact(typ, "lobby", seq, "ann", "cmd", time.Now(), data)
	if err != nil {
		t.Fatal(err)
	}
	b, err := events.EventFrame(events.Stored{ID: 1000 + seq, Fact: f})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func posted(t *testing.T, seq uint64, clientID string) []byte {
	return eventFrame(t, events.MessagePosted, seq, events.MessagePostedData{
		Text: "t=" + strconv.FormatInt(time.Now().UnixNano(), 10) + " xxxx", ClientID: clientID})
}

func joinAnswer(head uint64, ok bool) []byte {
	return fmt.Appendf(nil, `{"type":"reply","ref":"join","data":{"headSeq":%d,"members":[],"ok":%t,"online":[],"room":{"id":"lobby","headSeq":1},"snapshot":false}}`, head, ok)
}

// The accounting of one client's frames: first deliveries count, a repeated
// room seq is received twice, one send stored under two seqs is posted
// twice, and a join answered after a lost socket is a reconnect that keeps
// the resume point where the deliveries left it.
func TestFrameAccounting(t *testing.T) {
	c := &client{run: "r-", tag: "r-0-", room: "lobby", joined: make(chan struct{}), rejected: map[string]int{}}
	now := time.Now().UnixNano()
	steps := []struct {
		name                                 string
		frame                                []byte
		delivered, accepted, twice, posted2x int64
		lastSeq                              uint64
	}{
		{"first join: resume from its head", joinAnswer(10, true), 0, 0, 0, 0, 10},
		{"own message", posted(t, 11, "r-0-0"), 1, 1, 0, 0, 11},
		{"another client's", posted(t, 12, "r-1-0"), 2, 1, 0, 0, 12},
		{"the same seq again", posted(t, 12, "r-1-0"), 2, 1, 1, 0, 12},
		{"a join fact", eventFrame(t, events.MemberJoined, 13, events.MemberJoinedData{}), 2, 1, 1, 0, 13},
		{"own send stored again", posted(t, 14, "r-0-0"), 3, 1, 1, 1, 14},
		{"an earlier run's message", posted(t, 15, "q-0-0"), 3, 1, 1, 1, 15},
		{"own next send", posted(t, 16, "r-0-1"), 4, 2, 1, 1, 16},
	}
	for _, s := range steps {
		c.frame(s.frame, now)
		c.mu.Lock()
		got := []int64{c.delivered.Load(), c.accepted.Load(), c.twice, c.postedTwice, int64(c.lastSeq)}
		c.mu.Unlock()
		if want := []int64{s.delivered, s.accepted, s.twice, s.posted2x, int64(s.lastSeq)}; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("%s: delivered, accepted, twice, posted twice, last seq = %v, want %v", s.name, got, want)
		}
	}
	if !c.live.Load() || !c.mine.has(11) || !c.mine.has(14) || !c.mine.has(16) || c.mine.has(12) || c.mine.len() != 3 {
		t.Fatalf("live %v, own seqs %v", c.live.Load(), c.mine)
	}

	// The socket is lost; the new one's join is answered with a head far
	// above what was seen: the next after stays at the last seq seen (what
	// lies between comes as the backfill), and the time back is recorded.
	c.mu.Lock()
	c.losses++
	c.lostAt = time.Unix(0, now).Add(-1500 * time.Millisecond)
	c.mu.Unlock()
	c.frame(joinAnswer(40, true), now)
	if c.reconnects != 1 || len(c.rejoinUs) != 1 || c.rejoinUs[0] != 1500000 || !c.lostAt.IsZero() || c.lastSeq != 16 {
		t.Fatalf("after the rejoin: reconnects %d, times %v µs, lost at %v, last seq %d", c.reconnects, c.rejoinUs, c.lostAt, c.lastSeq)
	}
	c.frame(posted(t, 17, "r-1-1"), now) // the backfill
	if c.lastSeq != 17 || c.delivered.Load() != 5 || c.twice != 1 {
		t.Fatalf("backfill: last seq %d, delivered %d, twice %d", c.lastSeq, c.delivered.Load(), c.twice)
	}

	// A refused join is an error and no rejoin.
	c.lostAt = time.Unix(0, now)
	c.frame(joinAnswer(41, false), now)
	if c.errors.Load() != 1 || c.reconnects != 1 || c.lostAt.IsZero() {
		t.Fatalf("refused join: errors %d, reconnects %d", c.errors.Load(), c.reconnects)
	}
}

func TestFailoverCounts(t *testing.T) {
	newClient := func(idx int, room string, mine, seen []uint64) *client {
		c := &client{idx: idx, room: room}
		for _, s := range mine {
			c.mine.add(s)
		}
		for _, s := range seen {
			c.seen.add(s)
		}
		return c
	}
	a := newClient(0, "lobby", []uint64{5, 7}, []uint64{5, 6, 7})
	b := newClient(1, "lobby", []uint64{6}, []uint64{5, 6})   // misses 7
	c := newClient(2, "lobby", nil, []uint64{8})              // misses 5, 6, 7; 8 was never answered
	d := newClient(3, "den", []uint64{900}, []uint64{900})    // another room: lobby's seqs are not its
	e := newClient(4, "den", nil, []uint64{5, 6, 7, 900, 70}) // has all of den's
	b.losses, b.reconnects, b.rejoinUs = 2, 1, []int64{1000}
	c.losses, c.gaveUp, c.twice = 1, true, 3
	f := failoverCounts([]*client{a, b, c, d, e})
	if f.missed != 4 || f.losses != 3 || f.reconnects != 1 || f.gaveUp != 1 || f.twice != 3 || len(f.rejoinUs) != 1 {
		t.Fatalf("totals %+v, want 4 missed, 3 losses, 1 reconnect, 1 gave up, 3 twice", f)
	}
}

func TestSeqSet(t *testing.T) {
	var s seqSet
	for _, seq := range []uint64{300, 301, 7, 64, 1000} {
		if !s.add(seq) {
			t.Fatalf("%d was not there yet", seq)
		}
	}
	if s.add(7) || s.add(300) {
		t.Fatal("a seq added twice was new")
	}
	for _, seq := range []uint64{7, 64, 300, 301, 1000} {
		if !s.has(seq) {
			t.Errorf("lost %d", seq)
		}
	}
	for _, seq := range []uint64{0, 6, 8, 63, 65, 302, 999, 1001, 1 << 40} {
		if s.has(seq) {
			t.Errorf("holds %d", seq)
		}
	}
	if s.len() != 5 {
		t.Errorf("len %d", s.len())
	}
	var o seqSet
	o.add(301)
	o.add(5000)
	if n := s.without(&o); n != 4 {
		t.Errorf("without: %d, want 4", n)
	}
	o.union(&s)
	if o.len() != 6 || !o.has(7) || !o.has(5000) {
		t.Errorf("union: %d seqs", o.len())
	}
}

// proxy passes TCP connections to a backend until cut closes them all, as a
// gateway that dies does to its sockets.
type proxy struct {
	ln      net.Listener
	backend string
	mu      sync.Mutex
	conns   []net.Conn
}

func startProxy(t *testing.T, backend string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, backend: backend}
	t.Cleanup(func() { ln.Close(); p.cut() })
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", backend)
			if err != nil {
				in.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, in, out)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(out, in); out.Close() }()
			go func() { _, _ = io.Copy(in, out); in.Close() }()
		}
	}()
	return p
}

// cut closes every connection through the proxy and returns how many
// client connections there were.
func (p *proxy) cut() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	n := len(p.conns) / 2
	p.conns = nil
	return n
}

// lineWatch calls fn once, when a progress line holds want.
type lineWatch struct {
	want string
	once sync.Once
	fn   func()
}

func (w *lineWatch) Write(b []byte) (int, error) {
	if strings.Contains(string(b), w.want) {
		w.once.Do(w.fn)
	}
	return len(b), nil
}

// The connection to the server drops mid-run, every socket at once: each
// client reconnects, joins again with after and takes the backfill, and
// misses nothing the server accepted.
func TestReconnectAfterDrop(t *testing.T) {
	base := startSystem(t, 1000)
	p := startProxy(t, strings.TrimPrefix(base, "http://"))
	o := options{URL: "http://" + p.ln.Addr().String(), MetricsURL: base + "/metrics", Clients: 8, Users: 8, Rooms: 2,
		Rate: 5, Duration: 6 * time.Second, Drain: 2 * time.Second, Heartbeat: time.Second, SourceIPs: 1, Size: 64,
		Concurrency: 4, Prefix: "drop"}
	if err := o.validate(); err != nil {
		t.Fatal(err)
	}
	cut := make(chan int, 1)
	// Two seconds into sending, the sockets drop.
	watch := &lineWatch{want: "    2s  sent", fn: func() { cut <- p.cut() }}
	res, err := runLoad(context.Background(), o, watch)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	select {
	case n = <-cut:
	default:
		t.Fatal("the run ended before the sockets were cut")
	}
	if n < o.Clients {
		t.Fatalf("cut %d connections, want at least the %d sockets", n, o.Clients)
	}
	q := res.ReconnectMs
	switch {
	case res.Disconnects != int64(o.Clients) || res.Reconnects != int64(o.Clients) || res.GaveUp != 0:
		t.Fatalf("disconnects %d, reconnects %d, gave up %d: want each of %d clients back once", res.Disconnects, res.Reconnects, res.GaveUp, o.Clients)
	case q == nil || q["p50"] < float64(backoffBase.Milliseconds()) || q["p99"] < q["p50"] || q["max"] < q["p99"]:
		t.Fatalf("time to reconnect %v: want at least the first backoff delay", q)
	case res.Missed != 0 || res.ReceivedTwice != 0 || res.PostedTwice != 0:
		t.Fatalf("missed %d, received twice %d, posted twice %d; want none", res.Missed, res.ReceivedTwice, res.PostedTwice)
	case res.Accepted < 2*int64(o.Clients) || res.Errors != 0:
		t.Fatalf("accepted %d, errors %d", res.Accepted, res.Errors)
	case res.Delivered != 4*res.Accepted:
		t.Fatalf("delivered %d, want 4 per accepted message (rooms of 4), each once", res.Delivered)
	}
	if len(res.GatewayClients) != 1 || res.GatewayClients[0].End == nil || *res.GatewayClients[0].End != float64(o.Clients) {
		t.Fatalf("gateway clients %+v, want %d at the end", res.GatewayClients, o.Clients)
	}
}

// A session revoked mid-run closes its sockets with 4001: the client logs
// in again before it reconnects.
func TestReloginAfterRevoke(t *testing.T) {
	base := startSystem(t, 1000)
	o := options{URL: base, Clients: 2, Users: 2, Rooms: 1, Rate: 5, Duration: 5 * time.Second, Drain: 2 * time.Second,
		Heartbeat: time.Second, SourceIPs: 1, Size: 64, Concurrency: 2, Prefix: "revoke"}
	if err := o.validate(); err != nil {
		t.Fatal(err)
	}
	revoked := make(chan error, 1)
	watch := &lineWatch{want: "    2s  sent", fn: func() {
		ctx := context.Background()
		token, err := account(ctx, http.DefaultClient, base, "revoke-u0")
		if err == nil {
			var code int
			code, _, err = postJSON(ctx, http.DefaultClient, base+"/api/auth/logout-all", token, map[string]any{})
			if err == nil && code != http.StatusOK {
				err = fmt.Errorf("logout-all: %d", code)
			}
		}
		revoked <- err
	}}
	res, err := runLoad(context.Background(), o, watch)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-revoked:
		if err != nil {
			t.Fatal(err)
		}
	default:
		t.Fatal(errors.New("the run ended before the session was revoked"))
	}
	if res.Disconnects != 1 || res.Reconnects != 1 || res.Relogins != 1 || res.Missed != 0 || res.ReceivedTwice != 0 {
		t.Fatalf("disconnects %d, reconnects %d, relogins %d, missed %d, twice %d; want the revoked client back once, logged in again, missing nothing",
			res.Disconnects, res.Reconnects, res.Relogins, res.Missed, res.ReceivedTwice)
	}
}
