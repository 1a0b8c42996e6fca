package cluster_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
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

// Faults of the JetStream cluster in the middle of a burst. In each test
// six users, two to a room and one of each pair on each gateway, send their
// messages at a steady pace the way the web app sends them (see sender);
// one of each pair also loses its socket while the fault lasts and comes
// back later. Whatever clients saw meanwhile (refusals, silence, lost
// sockets), in the end every message is confirmed, and confirmed once: each
// is in CHAT_EVT and in Postgres exactly once, every room's seqs run from 1
// to its head without a gap, and every client saw every fact of its room
// exactly as the log holds it (burst.check).

// The leader of CHAT_EVT is killed: the two other nodes elect a leader and
// carry on, and the killed node, started again, catches up.
func TestStreamLeaderKilledDuringBurst(t *testing.T) {
	s := start(t, faultEnv)
	b := startBurst(t, s, 150, 40*time.Millisecond)

	b.waitSent(b.total / 3)
	leader := s.streamLeader(events.EvtStream, nil)
	b.away(3 * time.Second)
	t.Logf("SIGKILL to %s, leader of %s, with %d messages sent", leader.Name, events.EvtStream, b.sent.Load())
	killed := time.Now()
	if err := leader.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if _, err := leader.Wait(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	next := s.streamLeader(events.EvtStream, leader)
	t.Logf("%s leads %s %s after the kill", next.Name, events.EvtStream, time.Since(killed).Round(time.Millisecond))

	b.wait()
	restart(t, s, leader)
	b.check()
}

// One node, the leader of CHAT_EVT, is frozen (SIGSTOP) for 10 s and then
// let go (SIGCONT): the two others elect a leader meanwhile, the node
// rejoins and catches up, and nothing is lost or doubled of what it held as
// the old leader.
func TestNodeFrozenDuringBurst(t *testing.T) {
	s := start(t, faultEnv)
	b := startBurst(t, s, 350, 40*time.Millisecond)

	b.waitSent(b.total / 8)
	node := s.streamLeader(events.EvtStream, nil)
	t.Cleanup(func() { _ = node.Resume() })
	b.away(5 * time.Second)
	t.Logf("SIGSTOP to %s, leader of %s, with %d messages sent", node.Name, events.EvtStream, b.sent.Load())
	frozen := time.Now()
	if err := node.Pause(); err != nil {
		t.Fatal(err)
	}
	next := s.streamLeader(events.EvtStream, node)
	t.Logf("%s leads %s %s after the freeze", next.Name, events.EvtStream, time.Since(frozen).Round(time.Millisecond))
	time.Sleep(10*time.Second - time.Since(frozen))
	if err := node.Resume(); err != nil {
		t.Fatal(err)
	}
	t.Logf("SIGCONT to %s with %d messages sent", node.Name, b.sent.Load())
	if err := s.WaitReady(t.Context(), node); err != nil {
		t.Fatal(err)
	}

	b.wait()
	b.check()
}

// All three nodes are killed at once and started again on their stores:
// every confirmed fact is still there, and traffic resumes.
func TestAllNodesKilledDuringBurst(t *testing.T) {
	s := start(t, faultEnv)
	b := startBurst(t, s, 150, 40*time.Millisecond)

	b.waitSent(b.total / 3)
	b.away(3 * time.Second)
	t.Logf("SIGKILL to every NATS node with %d messages sent", b.sent.Load())
	for _, n := range s.NATS {
		if err := n.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range s.NATS {
		if _, err := n.Wait(10 * time.Second); err != nil {
			t.Fatal(err)
		}
	}
	restart(t, s, s.NATS...)
	t.Logf("every NATS node back with %d messages sent", b.sent.Load())

	b.wait()
	b.check()
}

// faultEnv lifts the limits a burst would hit: messages, frames, and the
// joins of clients that come back.
var faultEnv = map[string]string{
	"CHILLIN_RATE_LIMIT": "1000000", "CHILLIN_RATE_LIMITS": "member=1000000/10s",
	"CHILLIN_WS_FRAME_RATE": "100000", "CHILLIN_WS_FRAME_BURST": "100000",
}

// restart starts stopped processes again and waits until they are ready.
func restart(t *testing.T, s *system, procs ...*cluster.Proc) {
	t.Helper()
	for _, p := range procs {
		if err := p.Start(); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range procs {
		if err := s.WaitReady(t.Context(), p); err != nil {
			t.Fatal(err)
		}
	}
}

// streamLeader returns the NATS node that leads stream, once there is one
// other than not (nil: any). The stream must be replicated on every node.
func (s *system) streamLeader(stream string, not *cluster.Proc) *cluster.Proc {
	s.t.Helper()
	nc, err := nats.Connect(s.NATSURL)
	if err != nil {
		s.t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		s.t.Fatal(err)
	}
	var last string
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		info, err := js.Stream(ctx, stream)
		var ci *jetstream.StreamInfo
		if err == nil {
			ci, err = info.Info(ctx)
		}
		cancel()
		if err != nil {
			last = err.Error()
			continue
		}
		if ci.Config.Replicas != len(s.NATS) || ci.Cluster == nil || len(ci.Cluster.Replicas) != len(s.NATS)-1 {
			s.t.Fatalf("%s: %d replicas configured, cluster %+v; want one on each of %d nodes", stream, ci.Config.Replicas, ci.Cluster, len(s.NATS))
		}
		last = "leader " + ci.Cluster.Leader
		for _, n := range s.NATS {
			if n.Name == ci.Cluster.Leader && n != not {
				return n
			}
		}
	}
	s.t.Fatalf("%s: no leader other than %v within 30s (last: %s)", stream, not, last)
	return nil
}

// burst is the traffic of a fault test: each of its senders sends each
// messages, one every pace.
type burst struct {
	t       *testing.T
	s       *system
	rooms   []string
	senders []*sender
	total   int
	sent    atomic.Int64 // messages sent for the first time
	results []chan error
	running sync.WaitGroup
}

const (
	burstUsers = 6
	burstRooms = 3
	// roomFacts are a room's facts before its messages: room.created (with
	// its owner a member) and two members joining.
	roomFacts = 3
)

// startBurst sets up the rooms and users, connects every user and starts
// the sending.
func startBurst(t *testing.T, s *system, each int, pace time.Duration) *burst {
	t.Helper()
	b := &burst{t: t, s: s, total: burstUsers * each}
	owner := register(t, s.URL, "owner")
	for r := range burstRooms {
		b.rooms = append(b.rooms, createRoom(t, s.URL, owner, fmt.Sprint("fault-", r)))
	}
	// User k is on gateway k%2, in room k%burstRooms: each room has one
	// user on each gateway.
	for k := range burstUsers {
		name := fmt.Sprint("sender", k)
		c := s.dialOn(k%2, name, register(t, s.URL, name))
		sd := &sender{
			c: c, room: b.rooms[k%burstRooms], each: each, pace: pace, head: uint64(roomFacts + 2*each),
			sent: &b.sent, confirmed: map[string]uint64{}, outbox: map[string]time.Time{}, awayFor: make(chan time.Duration, 1),
		}
		after := uint64(0)
		_, evs := c.join(sd.room, &after)
		sd.facts = evs
		b.senders = append(b.senders, sd)
	}
	// Everyone has seen the other member of the room join.
	for _, sd := range b.senders {
		for sd.c.last[sd.room] < roomFacts {
			sd.facts = append(sd.facts, sd.c.event())
		}
	}
	// The senders end with the test, even a failed one.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(func() {
		cancel()
		b.running.Wait()
	})
	for _, sd := range b.senders {
		res := make(chan error, 1)
		b.results = append(b.results, res)
		b.running.Go(func() { res <- sd.run(ctx) })
	}
	return b
}

// waitSent waits until n messages have been sent once.
func (b *burst) waitSent(n int) {
	b.t.Helper()
	eventually(b.t, time.Minute, fmt.Sprint(n, " messages sent"), func() bool { return b.sent.Load() >= int64(n) })
}

// away has the first sender of each room drop its socket and come back
// after d, joining with `after`.
func (b *burst) away(d time.Duration) {
	for _, sd := range b.senders[:burstRooms] {
		sd.awayFor <- d
	}
}

// wait waits until every sender has every message confirmed and has seen
// every fact of its room.
func (b *burst) wait() {
	b.t.Helper()
	for k, res := range b.results {
		sd := b.senders[k]
		if err := <-res; err != nil {
			b.t.Fatalf("%s: %v", sd.c.name, err)
		}
		b.t.Logf("%s: %d messages, %d sent again, %d refusals, %d reconnections", sd.c.name, sd.each, sd.resent, sd.refused, sd.reconnects)
	}
}

// check compares the log, Postgres and every client's view of every room.
func (b *burst) check() {
	b.t.Helper()
	t, s := b.t, b.s
	each := b.senders[0].each
	inLog := logMessages(t, s.NATSURL, b.rooms, uint64(roomFacts+2*each))
	for _, room := range b.rooms {
		logged := inLog[room]
		if len(logged) != 2*each {
			t.Fatalf("room %s: %d messages in the log, want %d", room, len(logged), 2*each)
		}
		posted := make(map[string]uint64, len(logged))
		for _, m := range logged {
			posted[m.User+"/"+m.ClientID] = m.Seq
		}
		// Every client: each of its messages confirmed at the seq the log
		// holds it, and the room seen exactly as the log holds it.
		for _, sd := range b.senders {
			if sd.room != room {
				continue
			}
			for id, seq := range sd.confirmed {
				if posted[sd.c.name+"/"+id] != seq {
					t.Fatalf("%s: message %s confirmed at seq %d, in the log at %d", sd.c.name, id, seq, posted[sd.c.name+"/"+id])
				}
			}
			if !slices.Equal(sd.messages(), logged) {
				t.Fatalf("%s's view of room %s differs from the log", sd.c.name, room)
			}
		}
		// Postgres: the same messages, once each.
		eventually(t, time.Minute, "room "+room+" in postgres", func() bool {
			n, _, _ := s.pgMessages(room)
			return n >= 2*each
		})
		if n, distinct, seqs := s.pgMessages(room); n != 2*each || distinct != 2*each || seqs != 2*each {
			t.Fatalf("room %s: %d messages in postgres, %d distinct (user, clientId), %d distinct seqs; want %d of each", room, n, distinct, seqs, 2*each)
		}
		if pg := s.roomMessages(room); !slices.Equal(pg, logged) {
			t.Fatalf("room %s: postgres holds other messages than the log", room)
		}
	}
}

// sender is a user in one room who sends messages the way the web app
// does: each with a clientId, kept in its outbox until the room's fact of it
// arrives, which confirms it. A send refused as UNAVAILABLE or TIMEOUT, or
// still unanswered after resendAfter, is sent again with the same clientId;
// so is every send still in the outbox when a lost socket is back. A lost
// socket is dialled again through nginx and the room joined with `after` =
// the last seq seen, which brings the facts missed. Every room fact must
// come once, in seq order; the answer to a repeated send is the original
// fact, wherever it falls.
type sender struct {
	c     *client
	room  string
	each  int
	pace  time.Duration
	head  uint64        // the room's head once every message is in
	sent  *atomic.Int64 // first sends, shared by a burst's senders
	facts []event       // the room's facts seen: facts[i].Seq == i+1

	confirmed map[string]uint64    // clientId → seq of its message
	outbox    map[string]time.Time // clientId → when to send it again
	awayFor   chan time.Duration   // drop the socket, come back after that

	joined    bool
	joinRef   string
	joinAt    time.Time
	awayUntil time.Time

	resent, refused, reconnects int
}

// resendAfter is how long a send may go unanswered before it is sent again.
const resendAfter = 10 * time.Second

// run sends the sender's messages and reads its socket until every message
// is confirmed and the room's head is seen, or ctx ends. It runs in a
// goroutine of its own and reports rather than fails.
func (sd *sender) run(ctx context.Context) error {
	tick := time.NewTicker(sd.pace)
	defer tick.Stop()
	sd.joined = true
	next := 0
	for next < sd.each || len(sd.outbox) > 0 || uint64(len(sd.facts)) < sd.head {
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d of %d sent, %d unconfirmed, %d of %d facts seen, then: %w",
				next, sd.each, len(sd.outbox), len(sd.facts), sd.head, ctx.Err())
		case f, ok := <-sd.c.frames:
			if !ok {
				if err := sd.redial(ctx); err != nil {
					return err
				}
				continue
			}
			if err := sd.handle(f); err != nil {
				return err
			}
		case d := <-sd.awayFor:
			sd.awayUntil = time.Now().Add(d)
			sd.c.ws.CloseNow()
		case now := <-tick.C:
			if !sd.joined {
				if sd.joinRef == "" && now.After(sd.joinAt) || now.After(sd.joinAt.Add(resendAfter)) {
					sd.join()
				}
				continue
			}
			if next < sd.each {
				id := fmt.Sprint(next)
				next++
				sd.sent.Add(1)
				sd.send(id, now)
			}
			for id, at := range sd.outbox {
				if now.After(at) {
					sd.resent++
					sd.send(id, now)
				}
			}
		}
	}
	return nil
}

func (sd *sender) send(clientID string, now time.Time) {
	sd.outbox[clientID] = now.Add(resendAfter)
	sd.write(map[string]any{"type": "message:send", "data": map[string]any{
		"room": sd.room, "clientId": clientID, "text": "fault " + sd.c.name + " " + clientID}})
}

// write sends a frame; on a socket that failed, the frame is dropped and
// the read side notices the loss.
func (sd *sender) write(v any) {
	b, _ := json.Marshal(v)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = sd.c.ws.Write(ctx, websocket.MessageText, b)
}

// join joins the room again from the last fact seen.
func (sd *sender) join() {
	sd.joined = false
	sd.c.refs++
	sd.joinRef, sd.joinAt = fmt.Sprint("j", sd.c.refs), time.Now()
	sd.write(map[string]any{"type": "room:join", "ref": sd.joinRef, "data": map[string]any{"room": sd.room, "after": len(sd.facts)}})
}

// redial reconnects a lost socket (after its time away, if any), with
// backoff, and joins the room again.
func (sd *sender) redial(ctx context.Context) error {
	wait := time.Until(sd.awayUntil)
	backoff := 50 * time.Millisecond
	var err error
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("could not reconnect (%v): %w", err, ctx.Err())
		case <-time.After(wait):
		}
		if err = sd.c.connect(); err == nil {
			break
		}
		wait, backoff = backoff, min(2*backoff, time.Second)
	}
	sd.reconnects++
	sd.join()
	return nil
}

func (sd *sender) handle(f frame) error {
	switch f.Type {
	case "presence:update", "typing:update", "heartbeat:ack":
		return nil
	case "reply":
		if f.Ref != sd.joinRef {
			return nil // an earlier join's, given up on
		}
		var r struct {
			OK       bool          `json:"ok"`
			Snapshot bool          `json:"snapshot"`
			Error    *events.Error `json:"error"`
		}
		if err := json.Unmarshal(f.Data, &r); err != nil {
			return err
		}
		switch {
		case r.OK && !r.Snapshot:
			sd.joined, sd.joinRef = true, ""
			for id := range sd.outbox {
				sd.outbox[id] = time.Time{} // sent again at the next tick
			}
		case !r.OK && r.Error != nil && retryable(r.Error.Code):
			sd.joinRef, sd.joinAt = "", time.Now().Add(500*time.Millisecond)
		default:
			return fmt.Errorf("join after %d: %s", len(sd.facts), f.Data)
		}
		return nil
	case "rejected":
		var r events.RejectedData
		if err := json.Unmarshal(f.Data, &r); err != nil {
			return err
		}
		if !retryable(r.Code) {
			return fmt.Errorf("message %s refused: %s %s", r.ClientID, r.Code, r.Message)
		}
		sd.refused++
		if _, ok := sd.outbox[r.ClientID]; ok {
			sd.outbox[r.ClientID] = time.Now().Add(200 * time.Millisecond)
		}
		return nil
	case "event":
	default:
		return fmt.Errorf("%s frame %s", f.Type, f.Data)
	}
	var ev event
	if err := json.Unmarshal(f.Data, &ev); err != nil {
		return err
	}
	var m message
	if ev.Kind == events.MessagePosted {
		if err := json.Unmarshal(ev.Data, &m); err != nil {
			return err
		}
	}
	last := uint64(len(sd.facts))
	switch {
	case ev.Room != sd.room:
		return fmt.Errorf("event of room %s", ev.Room)
	case ev.Seq == last+1:
		sd.facts = append(sd.facts, ev)
	case ev.Kind == events.MessagePosted && ev.User == sd.c.name:
		// The original of a repeated send.
		if ev.Seq <= last && (sd.facts[ev.Seq-1].ID != ev.ID || sd.facts[ev.Seq-1].Kind != ev.Kind) {
			return fmt.Errorf("seq %d answered a repeated send with fact %d, but was fact %d", ev.Seq, ev.ID, sd.facts[ev.Seq-1].ID)
		}
	default:
		return fmt.Errorf("seq %d after %d", ev.Seq, last)
	}
	if ev.Kind == events.MessagePosted && ev.User == sd.c.name {
		if seq, ok := sd.confirmed[m.ClientID]; ok && seq != ev.Seq {
			return fmt.Errorf("message %s confirmed at seq %d and at seq %d", m.ClientID, seq, ev.Seq)
		}
		sd.confirmed[m.ClientID] = ev.Seq
		delete(sd.outbox, m.ClientID)
	}
	return nil
}

// messages are the room's messages as the sender saw them, by seq.
func (sd *sender) messages() []message {
	var out []message
	for _, ev := range sd.facts {
		if ev.Kind != events.MessagePosted {
			continue
		}
		var m message
		_ = json.Unmarshal(ev.Data, &m)
		out = append(out, message{ID: m.ID, Seq: ev.Seq, User: ev.User, ClientID: m.ClientID})
	}
	return out
}

// retryable says a refusal means "try again": NATS or the room's state was
// out of reach.
func retryable(code string) bool {
	return code == events.CodeUnavailable || code == events.CodeTimeout
}
