package e2e

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/chillin-chat/chillin/events"
)

// NATS stopped and started again while clients send: every send gets one
// final answer, and none is both refused and in the log. Sends the server
// never confirmed are answered `rejected UNAVAILABLE`, at once when they
// could not be queued, or once their deadline and its grace have passed
// when their fate was unknown; commands that reach a validator after their
// deadline are dropped, not decided.
func TestNATSRestartGivesOneAnswerPerSend(t *testing.T) {
	s := newSystem(t, withRateLimit(100000), withFrameRate(10000), withCommandLifetime(2*time.Second, 3*time.Second))
	sendThroughFault(t, s, func() { s.restartNATS(time.Second) })
}

// The gateway's link to NATS stalls for longer than a publish waits for its
// acknowledgement (a stopped server, a congested network): the commands the
// gateway sent meanwhile reach the server late, after their deadline. They
// are dropped, never decided, and each of their sends is refused once; the
// gateway never answers UNAVAILABLE for a command that is then posted.
func TestStalledNATSGivesOneAnswerPerSend(t *testing.T) {
	s := newSystem(t, withRateLimit(100000), withFrameRate(10000), withCommandLifetime(2*time.Second, 3*time.Second), withStallableGatewayNATS())
	sendThroughFault(t, s, func() {
		s.gatewayNATS.stall()
		time.Sleep(6 * time.Second)
		s.gatewayNATS.resume()
	})
}

// sendThroughFault has clients send while fault runs, from a third of
// their sends on, and checks that every send got one final answer.
func sendThroughFault(t *testing.T, s *system, fault func()) {
	const clients, each = 8, 120
	owner := s.register("owner")
	room := s.createRoom(owner, "restart")
	cs := make([]*client, clients)
	for i := range cs {
		cs[i] = s.dial(s.register(fmt.Sprint("sender", i)))
		cs[i].join(room, nil)
	}

	type answers struct {
		mu       sync.Mutex
		posted   map[string]int
		rejected map[string]int
	}
	got := make([]*answers, clients)
	var reading sync.WaitGroup
	stopReading := make(chan struct{})
	for i, c := range cs {
		a := &answers{posted: map[string]int{}, rejected: map[string]int{}}
		got[i] = a
		reading.Go(func() {
			for {
				select {
				case f, ok := <-c.frames:
					if !ok {
						return
					}
					a.mu.Lock()
					switch f.Type {
					case "event":
						var ev eventData
						var m messageData
						_ = json.Unmarshal(f.Data, &ev)
						_ = json.Unmarshal(ev.Data, &m)
						if ev.Kind == events.MessagePosted && ev.User == c.user {
							a.posted[m.ClientID]++
						}
					case "rejected":
						var r events.RejectedData
						_ = json.Unmarshal(f.Data, &r)
						a.rejected[r.ClientID]++
						if r.Code != events.CodeUnavailable {
							t.Errorf("%s: %s refused %s, want UNAVAILABLE", c.user, r.ClientID, r.Code)
						}
					}
					a.mu.Unlock()
				case <-stopReading:
					return
				}
			}
		})
	}

	var sending sync.WaitGroup
	third := make(chan struct{}, clients)
	for i, c := range cs {
		sending.Go(func() {
			for j := range each {
				if j == each/3 {
					third <- struct{}{}
				}
				if err := c.trySend(room, fmt.Sprint(i, "-", j), fmt.Sprint("m ", i, " ", j)); err != nil {
					t.Errorf("client %d write: %v", i, err)
					return
				}
				time.Sleep(40 * time.Millisecond)
			}
		})
	}
	for range clients {
		<-third
	}
	fault()
	sending.Wait()

	// The system recovers: a message sent now is posted, resent with the
	// same clientId for as long as it is refused UNAVAILABLE.
	probe := func() (posted bool, refused int) {
		got[0].mu.Lock()
		defer got[0].mu.Unlock()
		return got[0].posted["probe"] > 0, got[0].rejected["probe"]
	}
	deadline := time.Now().Add(90 * time.Second)
	for sent := 0; ; {
		if ok, _ := probe(); ok {
			break
		}
		if _, refused := probe(); refused == sent {
			cs[0].send(room, "probe", "back")
			sent++
		}
		if time.Now().After(deadline) {
			t.Fatalf("a message sent after the fault was not posted within 90 s (sent %d times)", sent)
		}
		time.Sleep(200 * time.Millisecond)
	}

	// Wait until every send is answered: posted, refused, or in the log
	// (its live frame lost with the restart).
	var logged map[string]bool
	settled := func() bool {
		logged = map[string]bool{}
		for _, m := range s.pgMessages(room) {
			logged[m.ClientID] = true
		}
		for i, a := range got {
			a.mu.Lock()
			for j := range each {
				id := fmt.Sprint(i, "-", j)
				if a.posted[id] == 0 && a.rejected[id] == 0 && !logged[id] {
					a.mu.Unlock()
					return false
				}
			}
			a.mu.Unlock()
		}
		return true
	}
	eventually(t, 60*time.Second, "every send answered", settled)
	// A late second answer would show within the grace.
	time.Sleep(4 * time.Second)
	settled()
	close(stopReading)
	reading.Wait()

	var refused, posted int
	for i, a := range got {
		for j := range each {
			id := fmt.Sprint(i, "-", j)
			switch {
			case a.rejected[id] > 1:
				t.Errorf("%s refused %d times", id, a.rejected[id])
			case a.rejected[id] == 1 && (a.posted[id] > 0 || logged[id]):
				t.Errorf("%s refused UNAVAILABLE and posted (%d frames, in the log: %v)", id, a.posted[id], logged[id])
			case a.rejected[id] == 1:
				refused++
			default:
				posted++
			}
		}
	}
	t.Logf("%d sends: %d posted, %d refused UNAVAILABLE", clients*each, posted, refused)
	if refused == 0 {
		t.Fatalf("none refused: the fault did not fall in the middle of the sends")
	}

}
