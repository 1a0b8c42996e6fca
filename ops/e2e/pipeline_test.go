// Package e2e runs the whole system in-process (embedded JetStream, the
// machine's Postgres and Redis) and asserts what users see through real
// WebSocket and HTTP clients.
package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chillin-chat/chillin/events"
	"github.com/coder/websocket"
	"github.com/nats-io/nats.go/jetstream"
)

// Two users on two connections in one room: each message arrives once, in
// seq order, and the sender's confirmation is its own message.posted.
func TestConversation(t *testing.T) {
	s := newSystem(t)
	alice, bob := s.register("alice"), s.register("bob")
	room := s.createRoom(alice, "General Chat")
	if room != "general-chat" {
		t.Fatalf("room id %q", room)
	}
	ca, cb := s.dial(alice), s.dial(bob)
	ca.join(room, nil)
	cb.join(room, nil)
	// alice sees bob's join as a room event.
	if ev := ca.event(); ev.Kind != events.MemberJoined || ev.User != "bob" {
		t.Fatalf("alice saw %+v, want bob's join", ev)
	}

	for i := 0; i < 5; i++ {
		ca.send(room, fmt.Sprint("a", i), fmt.Sprint("hello from alice ", i))
		cb.send(room, fmt.Sprint("b", i), fmt.Sprint("hello from bob ", i))
	}
	seen := [2][]messageData{}
	for k, c := range []*client{ca, cb} {
		for i := 0; i < 10; i++ {
			seen[k] = append(seen[k], c.posted())
		}
		c.quiet(300 * time.Millisecond) // and nothing twice
	}
	for i := range seen[0] {
		if seen[0][i] != seen[1][i] {
			t.Fatalf("alice and bob saw different message %d: %+v vs %+v", i, seen[0][i], seen[1][i])
		}
		if i > 0 && seen[0][i].Seq != seen[0][i-1].Seq+1 {
			t.Fatalf("seq %d follows %d", seen[0][i].Seq, seen[0][i-1].Seq)
		}
	}
	next := map[string]int{}
	for _, m := range seen[0] {
		sender := map[string]string{"alice": "a", "bob": "b"}[m.User]
		if want := fmt.Sprint(sender, next[sender]); m.ClientID != want || m.Text == "" {
			t.Fatalf("message %+v, want clientId %s next from %s", m, want, m.User)
		}
		next[sender]++
	}
	if got := s.waitPG(room, 10); fmt.Sprint(got) != fmt.Sprint(seen[0]) {
		t.Fatalf("postgres holds %+v, clients saw %+v", got, seen[0])
	}
}

// waitPG waits until Postgres holds n messages of a room and returns them,
// and until the Redis cache has caught up with Postgres, so that the API
// answers alike from either.
func (s *system) waitPG(room string, n int) []messageData {
	s.t.Helper()
	var msgs []messageData
	eventually(s.t, 20*time.Second, fmt.Sprintf("%d messages of %s in postgres", n, room), func() bool {
		msgs = s.pgMessages(room)
		return len(msgs) >= n
	})
	if len(msgs) != n {
		s.t.Fatalf("postgres holds %d messages of %s, want %d", len(msgs), room, n)
	}
	s.waitCache(s.pgCheckpoint())
	return msgs
}

// Resending a clientId, at once and after the JetStream dedup window has
// passed, yields one message, one row, and the original back to the sender.
func TestResendIsIdempotent(t *testing.T) {
	s := newSystem(t)
	alice, bob := s.register("alice"), s.register("bob")
	room := s.createRoom(alice, "resend")
	ca, cb := s.dial(alice), s.dial(bob)
	cb.join(room, nil)
	ca.join(room, nil) // the creator is a member already: no new fact

	ca.send(room, "k1", "only once")
	orig := ca.posted()
	if got := cb.posted(); got != orig {
		t.Fatalf("bob saw %+v, alice %+v", got, orig)
	}

	ca.send(room, "k1", "only once")
	if again := ca.posted(); again != orig {
		t.Fatalf("immediate resend answered %+v, want the original %+v", again, orig)
	}

	// Shrink both streams' dedup windows so JetStream itself cannot help.
	ctx := context.Background()
	for _, name := range []string{events.CmdStream, events.EvtStream} {
		st, err := s.js.Stream(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		cfg := st.CachedInfo().Config
		cfg.Duplicates = 100 * time.Millisecond
		if _, err := s.js.UpdateStream(ctx, cfg); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(500 * time.Millisecond)
	ca.send(room, "k1", "only once, much later")
	if late := ca.posted(); late != orig {
		t.Fatalf("late resend answered %+v, want the original %+v", late, orig)
	}
	cb.quiet(500 * time.Millisecond)
	if msgs := s.waitPG(room, 1); msgs[0] != orig {
		t.Fatalf("postgres holds %+v", msgs)
	}
}

type rejectedData struct {
	ClientID     string `json:"clientId"`
	Ref          string `json:"ref"`
	Room         string `json:"room"`
	Code         string `json:"code"`
	Message      string `json:"message"`
	RetryAfterMs int64  `json:"retryAfterMs"`
}

func (c *client) rejected() rejectedData {
	c.t.Helper()
	f := c.next(15 * time.Second)
	if f.Type != "rejected" {
		c.t.Fatalf("%s: got %s %s, want rejected", c.user, f.Type, f.Data)
	}
	var r rejectedData
	_ = json.Unmarshal(f.Data, &r)
	return r
}

// The pipeline's refusals reach only the sender, and nothing refused reaches
// other clients or Postgres.
func TestRejections(t *testing.T) {
	s := newSystem(t)
	alice, bob, carol := s.register("alice"), s.register("bob"), s.register("carol")
	room := s.createRoom(alice, "strict")
	ca, cb, cc := s.dial(alice), s.dial(bob), s.dial(carol)
	cb.join(room, nil)
	ca.join(room, nil) // the creator is a member already: no new fact

	{ // rate limit
		for i := 0; i < 11; i++ {
			ca.send(room, fmt.Sprint("rl", i), fmt.Sprint("burst ", i))
		}
		// The refusal and the accepted messages travel apart: any order.
		var r rejectedData
		accepted := 0
		for k := 0; k < 11; k++ {
			f := ca.next(15 * time.Second)
			switch f.Type {
			case "rejected":
				_ = json.Unmarshal(f.Data, &r)
			case "event":
				var ev eventData
				var m messageData
				_ = json.Unmarshal(f.Data, &ev)
				_ = json.Unmarshal(ev.Data, &m)
				if m.ClientID != fmt.Sprint("rl", accepted) {
					t.Fatalf("accepted %q, want rl%d", m.ClientID, accepted)
				}
				accepted++
			default:
				t.Fatalf("unexpected %s %s", f.Type, f.Data)
			}
		}
		if accepted != 10 || r.Code != events.CodeRateLimited || r.ClientID != "rl10" || r.Room != room {
			t.Fatalf("11th: %+v", r)
		}
		if r.RetryAfterMs <= 0 || r.RetryAfterMs > 10000 {
			t.Fatalf("retryAfterMs %d", r.RetryAfterMs)
		}
		for i := 0; i < 10; i++ {
			cb.posted()
		}
	}

	{ // text rules
		for _, tc := range []struct{ text, code string }{
			{"   \n\t ", events.CodeEmptyMessage},
			{strings.Repeat("é", 2001), events.CodeMessageTooLong},
			{"hi\u202egnp.exe", events.CodeInvalidContent},
			{"bell\a", events.CodeInvalidContent},
		} {
			cb.send(room, "t-"+tc.code, tc.text)
			if r := cb.rejected(); r.Code != tc.code || r.ClientID != "t-"+tc.code {
				t.Fatalf("%q: %+v, want %s", tc.text, r, tc.code)
			}
		}
	}

	{ // not a member
		// A socket that never joined is told at the gateway.
		cc.send(room, "c1", "let me in")
		if r := cc.rejected(); r.Code != events.CodeNotMember {
			t.Fatalf("%+v", r)
		}
		// A member who left on another connection is refused: by the
		// gateway once the leave has reached this socket (which then gets
		// no more of the room's frames, its own leave perhaps among them),
		// by the validator before.
		cc.join(room, nil)
		other := s.dial(carol)
		if reply, _ := other.request("room:leave", map[string]any{"room": room}); reply["ok"] != true {
			t.Fatalf("leave: %v", reply)
		}
		cc.send(room, "c2", "still here?")
		f := cc.next(15 * time.Second)
		if f.Type == "event" {
			f = cc.next(15 * time.Second)
		}
		var r rejectedData
		_ = json.Unmarshal(f.Data, &r)
		if f.Type != "rejected" || r.Code != events.CodeNotMember || r.ClientID != "c2" {
			t.Fatalf("%s %s, want c2 rejected NOT_MEMBER", f.Type, f.Data)
		}
	}

	// bob saw carol join and leave, and none of the refused messages.
	for _, kind := range []string{events.MemberJoined, events.MemberLeft} {
		if ev := cb.event(); ev.Kind != kind || ev.User != "carol" {
			t.Fatalf("bob saw %+v, want carol's %s", ev, kind)
		}
	}
	cb.quiet(500 * time.Millisecond)
	time.Sleep(300 * time.Millisecond)
	if msgs := s.waitPG(room, 10); msgs[9].ClientID != "rl9" {
		t.Fatalf("postgres: %+v", msgs)
	}
}

// A client that was away gets exactly what it missed on `room:join {after}`.
func TestReconnectRecovery(t *testing.T) {
	s := newSystem(t, withRateLimit(100))
	alice, bob, carol := s.register("alice"), s.register("bob"), s.register("carol")
	room := s.createRoom(alice, "recovery")
	ca, cb := s.dial(alice), s.dial(bob)
	ca.join(room, nil)
	cb.join(room, nil)
	cc := s.dial(carol)
	_, evs := cc.join(room, nil)
	last := evs[len(evs)-1].Seq
	cc.ws.Close(websocket.StatusNormalClosure, "going offline")

	for i := 0; i < 10; i++ {
		ca.send(room, fmt.Sprint("a", i), fmt.Sprint("a says ", i))
		cb.send(room, fmt.Sprint("b", i), fmt.Sprint("b says ", i))
	}
	var sent []messageData
	for len(sent) < 20 {
		sent = append(sent, ca.posted())
	}

	again := s.dial(carol)
	reply, missed := again.join(room, &last)
	if reply["snapshot"] == true {
		t.Fatal("20 missed facts must not need a snapshot")
	}
	if len(missed) != 20 {
		t.Fatalf("got %d facts, want the 20 missed", len(missed))
	}
	for i, ev := range missed {
		var m messageData
		_ = json.Unmarshal(ev.Data, &m)
		if ev.Kind != events.MessagePosted || m != sent[i] {
			t.Fatalf("missed fact %d is %+v, want %+v", i, m, sent[i])
		}
	}
	again.quiet(500 * time.Millisecond)
	// And live delivery continues from there.
	cb.send(room, "b-live", "welcome back")
	if m := again.posted(); m.ClientID != "b-live" || m.Seq != sent[19].Seq+1 {
		t.Fatalf("live after recovery: %+v", m)
	}
}

// Restarting the validator and the projector in the middle of a burst of
// 2,000 messages from 20 clients loses and duplicates nothing.
func TestRestartMidBurst(t *testing.T) {
	s := newSystem(t, withRateLimit(100000), withFrameRate(10000))
	const clients, each = 20, 100
	owner := s.register("owner")
	room := s.createRoom(owner, "burst")
	cs := make([]*client, clients)
	for i := range cs {
		cs[i] = s.dial(s.register(fmt.Sprint("user", i)))
		cs[i].join(room, nil)
	}
	// Drain the join events each client saw of the later joiners.
	head := func() uint64 {
		var h uint64
		_ = s.pool.QueryRow(context.Background(), `SELECT head_seq FROM rooms WHERE id = $1`, room).Scan(&h)
		return h
	}
	eventually(t, 20*time.Second, "joins projected", func() bool { return head() == clients+1 })

	var wg sync.WaitGroup
	var sentHalf sync.WaitGroup
	sentHalf.Add(clients)
	for i, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < each; j++ {
				if j == each/2 {
					sentHalf.Done()
				}
				if err := c.trySend(room, fmt.Sprint(i, "-", j), fmt.Sprint("burst ", i, " ", j)); err != nil {
					t.Errorf("client %d write: %v", i, err)
					return
				}
			}
		}()
	}
	validatorStop, projectorStop := s.validatorStop, s.projectorStop
	sentHalf.Wait()
	validatorStop()
	projectorStop()
	s.startValidator()
	s.startProjector()
	wg.Wait()

	pg := s.waitPG(room, clients*each)
	for i, m := range pg {
		if i > 0 && m.Seq != pg[i-1].Seq+1 {
			t.Fatalf("postgres seq %d follows %d", m.Seq, pg[i-1].Seq)
		}
	}
	if pg[0].Seq != clients+2 {
		t.Fatalf("first message seq %d, want %d", pg[0].Seq, clients+2)
	}
	for i, c := range cs {
		var view []messageData
		for len(view) < clients*each {
			view = append(view, c.posted())
		}
		if fmt.Sprint(view) != fmt.Sprint(pg) {
			t.Fatalf("client %d's view differs from postgres", i)
		}
	}
}

// Two validators at once on one room: no gap, no duplicate seq, and each
// sender's messages in the order sent, even when one of them stops mid-way.
func TestTwoValidators(t *testing.T) {
	s := newSystem(t, withRateLimit(100000), withFrameRate(10000))
	first := s.validatorStop
	s.startValidator()
	const users, each = 3, 150
	owner := s.register("owner")
	room := s.createRoom(owner, "pair")
	cs := make([]*client, users)
	for i := range cs {
		cs[i] = s.dial(s.register(fmt.Sprint("v", i)))
		cs[i].join(room, nil)
	}
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < each; j++ {
				if err := c.trySend(room, fmt.Sprint(j), fmt.Sprint("m", j)); err != nil {
					t.Errorf("write: %v", err)
					return
				}
				if i == 0 && j == each/3 {
					first() // the pinned one may be this one: the other takes over
				}
			}
		}()
	}
	wg.Wait()
	pg := s.waitPG(room, users*each)
	next := map[string]int{}
	seqs := map[uint64]bool{}
	for i, m := range pg {
		if seqs[m.Seq] || (i > 0 && m.Seq != pg[i-1].Seq+1) {
			t.Fatalf("seq %d after %d", m.Seq, pg[i-1].Seq)
		}
		seqs[m.Seq] = true
		if m.ClientID != fmt.Sprint(next[m.User]) {
			t.Fatalf("%s's message %s arrived when %d was due", m.User, m.ClientID, next[m.User])
		}
		next[m.User]++
	}
	// The log agrees: every room fact once, seqs 1..head.
	facts, head, err := events.ReadRoom(context.Background(), s.js, mustStream(t, s.js), room, 0, 0)
	if err != nil || uint64(len(facts)) != head {
		t.Fatalf("log: %d facts, head %d, %v", len(facts), head, err)
	}
}

func mustStream(t *testing.T, js jetstream.JetStream) jetstream.Stream {
	t.Helper()
	st, err := js.Stream(context.Background(), events.EvtStream)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// Concurrent registrations of one username: exactly one wins, and its owner
// can log in at once.
func TestConcurrentRegistration(t *testing.T) {
	s := newSystem(t)
	const n = 10
	codes := make([]int, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var a authAnswer
			codes[i] = s.api("POST", "/api/auth/register", "", map[string]string{"username": "Zed", "password": fmt.Sprint("secret-", i)}, &a)
		}()
	}
	wg.Wait()
	winner := -1
	for i, c := range codes {
		switch c {
		case http.StatusCreated:
			if winner >= 0 {
				t.Fatalf("two registrations of zed won: %v", codes)
			}
			winner = i
		case http.StatusConflict:
		default:
			t.Fatalf("registration answered %d", c)
		}
	}
	if winner < 0 {
		t.Fatalf("no registration won: %v", codes)
	}
	// The winner's password logs in, and the others' are refused: four of
	// them, since one address may fail five logins of an account before it
	// is throttled.
	tries := []int{winner}
	for i := 0; i < n && len(tries) < 5; i++ {
		if i != winner {
			tries = append(tries, i)
		}
	}
	for _, i := range tries {
		var a authAnswer
		code := s.api("POST", "/api/auth/login", "", map[string]string{"username": "zed", "password": fmt.Sprint("secret-", i)}, &a)
		if want := map[bool]int{true: http.StatusOK, false: http.StatusUnauthorized}[i == winner]; code != want {
			t.Fatalf("login with password %d: %d, want %d", i, code, want)
		}
		if i == winner && (a.Token == "" || a.User.ID != "zed") {
			t.Fatalf("login answer %+v", a)
		}
		if i != winner && (a.Error == nil || a.Error.Code != events.CodeInvalidCredentials) {
			t.Fatalf("failed login answer %+v", a)
		}
	}
}
