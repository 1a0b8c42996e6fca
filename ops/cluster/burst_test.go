package cluster_test

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/chillin-chat/chillin/events/opshttp/opshttptest"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/chillin-chat/chillin/events"
	"github.com/chillin-chat/chillin/ops/cluster"
)

// Two validators and two projectors share a burst of 5,000 messages from ten
// users on both gateways, in five rooms. Half-way through the sending, one
// validator and one projector get SIGTERM: each must stop cleanly within its
// bound, the others carry on, and both are started again. In the end every
// message is in Postgres exactly once, every room's seqs run without a gap,
// each sender's messages are in the order sent (but for those refused
// UNAVAILABLE, their deadline passed in the backlog, and sent again, as the
// protocol says), and every client saw its room's messages exactly as
// Postgres holds them.
func TestBurstSharedByTwoOfEach(t *testing.T) {
	const (
		users, rooms = 10, 5
		each         = 500
		total        = users * each
	)
	s := start(t, map[string]string{
		"CHILLIN_RATE_LIMIT": "1000000", "CHILLIN_WS_FRAME_RATE": "100000", "CHILLIN_WS_FRAME_BURST": "100000",
	})
	owner := register(t, s.URL, "owner")
	roomIDs := make([]string, rooms)
	for r := range roomIDs {
		roomIDs[r] = createRoom(t, s.URL, owner, fmt.Sprint("burst-", r))
	}
	// User k is on gateway k%2, in room k%rooms: each room has one user on
	// each gateway.
	cs := make([]*client, users)
	for k := range cs {
		name := fmt.Sprint("sender", k)
		cs[k] = s.dialOn(k%2, name, register(t, s.URL, name))
		cs[k].join(roomIDs[k%rooms], nil)
	}
	// Everyone has seen the other member of the room join.
	for k, c := range cs {
		room := roomIDs[k%rooms]
		for c.last[room] < 3 { // room.created, owner... then two member.joined
			c.event()
		}
	}

	var (
		sent    atomic.Int64
		half    = make(chan struct{})
		once    sync.Once
		results = make([]chan burstResult, users)
		senders sync.WaitGroup
	)
	for k, c := range cs {
		room := roomIDs[k%rooms]
		results[k] = make(chan burstResult, 1)
		resend := func(clientID string) error {
			// Refused UNAVAILABLE: not decided, and never will be; the
			// protocol has the client send it again with the same clientId.
			b, _ := json.Marshal(map[string]any{"type": "message:send", "data": map[string]any{
				"room": room, "clientId": clientID, "text": fmt.Sprint("burst ", k, " ", clientID)}})
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			return c.ws.Write(ctx, websocket.MessageText, b)
		}
		go func() { results[k] <- c.collect(room, 2*each, resend) }()
		senders.Go(func() {
			for j := range each {
				b, _ := json.Marshal(map[string]any{"type": "message:send", "data": map[string]any{
					"room": room, "clientId": fmt.Sprint(j), "text": fmt.Sprint("burst ", k, " ", j)}})
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				err := c.ws.Write(ctx, websocket.MessageText, b)
				cancel()
				if err != nil {
					t.Errorf("%s write %d: %v", c.name, j, err)
					return
				}
				if sent.Add(1) == total/2 {
					once.Do(func() { close(half) })
				}
			}
		})
	}

	<-half
	v, p := s.busiest(s.Validators, "chillin_validator_commands_accepted_total"), s.busiest(s.Projectors, "chillin_projector_facts_applied_total")
	var inPG int
	_ = s.pool.QueryRow(context.Background(), `SELECT count(*) FROM messages`).Scan(&inPG)
	t.Logf("SIGTERM to %s and %s with %d messages sent and %d in postgres", v.Name, p.Name, sent.Load(), inPG)
	stopped := time.Now()
	for _, proc := range []*cluster.Proc{v, p} {
		if err := proc.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
	}
	for _, proc := range []*cluster.Proc{v, p} {
		state, err := proc.Wait(20 * time.Second)
		t.Logf("%s stopped %s after SIGTERM", proc.Name, time.Since(stopped).Round(time.Millisecond))
		if err != nil {
			t.Fatalf("graceful stop mid-burst: %v", err)
		}
		if !state.Success() {
			t.Fatalf("%s stopped with %s on SIGTERM mid-burst", proc.Name, state)
		}
	}
	for _, proc := range []*cluster.Proc{v, p} {
		if err := proc.Start(); err != nil {
			t.Fatal(err)
		}
		if err := s.WaitReady(t.Context(), proc); err != nil {
			t.Fatal(err)
		}
	}
	senders.Wait()

	seen := make([]burstResult, users)
	for k := range seen {
		select {
		case seen[k] = <-results[k]:
			if seen[k].err != nil {
				t.Fatalf("%s: %v", cs[k].name, seen[k].err)
			}
		case <-time.After(2 * time.Minute):
			t.Fatalf("%s did not see its room's %d messages", cs[k].name, 2*each)
		}
	}

	eventually(t, 2*time.Minute, "every message in postgres", func() bool {
		var n int
		_ = s.pool.QueryRow(context.Background(), `SELECT count(*) FROM messages`).Scan(&n)
		return n >= total
	})
	for r, room := range roomIDs {
		n, distinct, seqs := s.pgMessages(room)
		if n != 2*each || distinct != 2*each || seqs != 2*each {
			t.Fatalf("room %s: %d messages, %d distinct (user, clientId), %d distinct seqs; want %d of each", room, n, distinct, seqs, 2*each)
		}
		pg := s.roomMessages(room)
		// Gap-free: the room's facts are seqs 1..head, and the messages the
		// last 2*each of them.
		if pg[0].Seq != 4 || pg[len(pg)-1].Seq != uint64(3+2*each) {
			t.Fatalf("room %s: message seqs %d..%d, want 4..%d", room, pg[0].Seq, pg[len(pg)-1].Seq, 3+2*each)
		}
		// Each sender's messages in the order sent, but for those refused
		// UNAVAILABLE (their deadline passed in the queue) and sent again.
		resent := map[string]bool{}
		for k := r; k < users; k += rooms {
			for id := range seen[k].resent {
				resent[cs[k].name+"/"+id] = true
			}
		}
		last := map[string]int{}
		for _, m := range pg {
			if resent[m.User+"/"+m.ClientID] {
				continue
			}
			n, _ := strconv.Atoi(m.ClientID)
			if prev, ok := last[m.User]; ok && n <= prev {
				t.Fatalf("room %s: %s's message %s at seq %d, after %d", room, m.User, m.ClientID, m.Seq, prev)
			}
			last[m.User] = n
		}
		if len(resent) > 0 {
			t.Logf("room %s: %d messages sent again after UNAVAILABLE", room, len(resent))
		}
		for k := r; k < users; k += rooms {
			if !slices.Equal(seen[k].msgs, pg) {
				t.Fatalf("%s's view of room %s differs from postgres", cs[k].name, room)
			}
		}
	}
	for room, msgs := range logMessages(t, s.NATSURL, roomIDs, 2*each+3) {
		if len(msgs) != 2*each {
			t.Fatalf("room %s: %d distinct messages in the log, want %d", room, len(msgs), 2*each)
		}
	}
}

// busiest is the process of procs with the highest value of a counter: the
// one whose stop matters most.
func (s *system) busiest(procs []*cluster.Proc, counter string) *cluster.Proc {
	s.t.Helper()
	best, most := procs[0], -1.0
	for _, p := range procs {
		if v := value(opshttptest.Scrape(s.t, "http://"+p.Addr), counter); v > most {
			best, most = p, v
		}
	}
	return best
}

type burstResult struct {
	msgs   []message
	resent map[string]bool // clientIds sent again after UNAVAILABLE
	err    error
}

// collect reads the room's next n messages (in a goroutine of its own: it
// reports, rather than fails), checking every room seq comes once, in order.
func (c *client) collect(room string, n int, resend func(clientID string) error) burstResult {
	var out []message
	resent := map[string]bool{}
	last := c.last[room]
	for len(out) < n {
		var f frame
		select {
		case fr, ok := <-c.frames:
			if !ok {
				return burstResult{out, resent, fmt.Errorf("socket closed: %w", <-c.closed)}
			}
			f = fr
		case <-time.After(time.Minute):
			return burstResult{out, resent, fmt.Errorf("%d of %d messages, then silence", len(out), n)}
		}
		switch f.Type {
		case "event":
		case "presence:update", "typing:update":
			continue
		case "rejected":
			var r events.RejectedData
			if err := json.Unmarshal(f.Data, &r); err != nil || r.Code != events.CodeUnavailable {
				return burstResult{out, resent, fmt.Errorf("rejected frame %s", f.Data)}
			}
			if err := resend(r.ClientID); err != nil {
				return burstResult{out, resent, fmt.Errorf("resend %s: %w", r.ClientID, err)}
			}
			resent[r.ClientID] = true
			continue
		default:
			return burstResult{out, resent, fmt.Errorf("%s frame %s", f.Type, f.Data)}
		}
		var ev event
		if err := json.Unmarshal(f.Data, &ev); err != nil {
			return burstResult{out, resent, err}
		}
		if ev.Room != room || ev.Seq != last+1 {
			return burstResult{out, resent, fmt.Errorf("room %s seq %d after %d", ev.Room, ev.Seq, last)}
		}
		last = ev.Seq
		var m message
		if err := json.Unmarshal(ev.Data, &m); err != nil || ev.Kind != events.MessagePosted {
			return burstResult{out, resent, fmt.Errorf("seq %d: %s %v", ev.Seq, ev.Kind, err)}
		}
		out = append(out, message{ID: m.ID, Seq: m.Seq, User: m.User, ClientID: m.ClientID})
	}
	return burstResult{msgs: out, resent: resent}
}

// roomMessages is a room's messages in Postgres, by seq.
func (s *system) roomMessages(room string) []message {
	s.t.Helper()
	rows, err := s.pool.Query(context.Background(), `SELECT id, seq, user_id, client_id FROM messages WHERE room_id = $1 ORDER BY seq`, room)
	if err != nil {
		s.t.Fatal(err)
	}
	defer rows.Close()
	var out []message
	for rows.Next() {
		var m message
		if err := rows.Scan(&m.ID, &m.Seq, &m.User, &m.ClientID); err != nil {
			s.t.Fatal(err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		s.t.Fatal(err)
	}
	return out
}

// logMessages reads each room from CHAT_EVT and checks what every reader of
// the log relies on: head facts with seqs 1..head (no gap), and every (user,
// clientId) posted once. It returns each room's messages in log order.
func logMessages(t *testing.T, url string, rooms []string, head uint64) map[string][]message {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	evt, err := js.Stream(ctx, events.EvtStream)
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string][]message, len(rooms))
	for _, room := range rooms {
		facts, h, err := events.ReadRoom(ctx, js, evt, room, 0, 0)
		if err != nil {
			t.Fatalf("read room %s: %v", room, err)
		}
		if h != head || uint64(len(facts)) != head {
			t.Fatalf("room %s: %d facts, head %d, want %d", room, len(facts), h, head)
		}
		posted := map[string]uint64{}
		for i, f := range facts {
			if f.Seq != uint64(i+1) {
				t.Fatalf("room %s: fact %d has seq %d", room, i, f.Seq)
			}
			if f.Type != events.MessagePosted {
				continue
			}
			d, err := events.DecodeData[events.MessagePostedData](f.Fact)
			if err != nil {
				t.Fatal(err)
			}
			key := f.User + "/" + d.ClientID
			if seq, ok := posted[key]; ok {
				t.Fatalf("room %s: %s posted at seq %d and again at %d", room, key, seq, f.Seq)
			}
			posted[key] = f.Seq
			out[room] = append(out[room], message{ID: f.ID, Seq: f.Seq, User: f.User, ClientID: d.ClientID})
		}
	}
	return out
}
