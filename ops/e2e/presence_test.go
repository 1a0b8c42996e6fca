package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/chillin-chat/chillin/events/redistest"
)

// memberStatus returns a member's status from the REST member list.
func (s *system) memberStatus(token, room, user string) string {
	s.t.Helper()
	var members struct {
		Members []struct{ User, Status string }
	}
	s.api("GET", "/api/rooms/"+room+"/members", token, nil, &members)
	for _, m := range members.Members {
		if m.User == user {
			return m.Status
		}
	}
	return ""
}

type presenceUpdate struct {
	User, Status string
	LastSeen     time.Time
}

func (c *client) presence() presenceUpdate {
	c.t.Helper()
	var p presenceUpdate
	_ = json.Unmarshal(c.nextOf("presence:update", 10*time.Second).Data, &p)
	return p
}

// Presence across two gateways: a user is online while any of their sockets
// is, on any gateway; goes offline when the last closes or when its gateway
// dies; and comes back after Redis loses its data.
func TestPresenceAcrossGateways(t *testing.T) {
	const beat = 300 * time.Millisecond
	s := newSystem(t, withPresenceBeat(beat))
	ws2, _ := s.startGateway()
	alice, bob, carol := s.register("alice"), s.register("bob"), s.register("carol")
	room := s.createRoom(bob, "presence")
	cb := s.dial(bob)
	cb.join(room, nil)
	// carol and alice become members, then their sockets go.
	for _, tok := range []string{alice, carol} {
		c := s.dial(tok)
		c.join(room, nil)
		c.ws.Close(1000, "")
	}
	s.waitStatus(bob, room, "alice", "offline")
	s.waitStatus(bob, room, "carol", "offline")
	drain(cb)

	a1, a2 := s.dial(alice), s.dialAt(ws2, alice)
	if p := cb.presence(); p.User != "alice" || p.Status != "online" {
		t.Fatalf("bob saw %+v when alice came online", p)
	}
	s.waitStatus(bob, room, "alice", "online")

	// One of two sockets closes: still online, nobody is told otherwise.
	a1.ws.Close(1000, "tab closed")
	time.Sleep(3 * beat)
	if st := s.memberStatus(bob, room, "alice"); st != "online" {
		t.Fatalf("alice is %s with a socket left on the other gateway", st)
	}
	drainExcept(t, cb, "presence:update")

	// The last one closes: offline at once, and the room is told.
	a2.ws.Close(1000, "tab closed")
	if p := cb.presence(); p.User != "alice" || p.Status != "offline" || p.LastSeen.IsZero() {
		t.Fatalf("bob saw %+v when alice left", p)
	}
	if st := s.memberStatus(bob, room, "alice"); st != "offline" {
		t.Fatalf("alice is %s after her last socket closed", st)
	}

	// A gateway that dies without a word (SIGKILL) leaves its sockets in
	// Redis unrefreshed: here, one of carol's, registered as a gateway would
	// and never refreshed. Within two beats she is offline and the room told.
	s.redisDo(func(ctx context.Context, rdb *redis.Client) {
		exp := float64(time.Now().Add(2 * beat).UnixMilli())
		rdb.ZAdd(ctx, s.prefix+"presence:carol", redis.Z{Score: exp, Member: "dead-gateway.1"})
		rdb.ZAdd(ctx, s.prefix+"online", redis.Z{Score: exp, Member: "carol"})
	})
	if st := s.memberStatus(bob, room, "carol"); st != "online" {
		t.Fatalf("carol is %s while her socket is registered", st)
	}
	if p := cb.presence(); p.User != "carol" || p.Status != "offline" {
		t.Fatalf("bob saw %+v, want carol offline", p)
	}

	// Redis loses everything of this system: the next beat writes it again.
	s.flushRedis("*")
	s.waitStatus(alice, room, "bob", "online")
}

func (s *system) waitStatus(token, room, user, want string) {
	s.t.Helper()
	eventually(s.t, 10*time.Second, fmt.Sprintf("%s %s", user, want), func() bool { return s.memberStatus(token, room, user) == want })
}

func (s *system) redisDo(fn func(ctx context.Context, rdb *redis.Client)) {
	opts, err := redis.ParseURL(redistest.URL())
	if err != nil {
		s.t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	fn(context.Background(), rdb)
}

// drain discards the ephemeral updates already queued.
func drain(c *client) {
	for {
		select {
		case <-c.eph:
		case <-time.After(200 * time.Millisecond):
			return
		}
	}
}

// drainExcept discards queued ephemeral updates, failing on one of type typ.
func drainExcept(t *testing.T, c *client, typ string) {
	t.Helper()
	for {
		select {
		case f := <-c.eph:
			if f.Type == typ {
				t.Fatalf("unexpected %s %s", f.Type, f.Data)
			}
		case <-time.After(200 * time.Millisecond):
			return
		}
	}
}
