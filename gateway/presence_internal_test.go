package gateway

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/chillin-chat/chillin/events"
	"github.com/chillin-chat/chillin/events/redistest"
	"github.com/chillin-chat/chillin/gateway/internal/hub"
	"github.com/redis/go-redis/v9"
)

// roomsOfHook answers RoomsOf with rooms, running hooks[n] (if any) first
// on its nth call.
type roomsOfHook struct {
	reads // not called
	rooms []string
	calls int
	hooks map[int]func()
}

func (r *roomsOfHook) RoomsOf(context.Context, string) ([]string, error) {
	r.calls++
	if h := r.hooks[r.calls]; h != nil {
		h()
	}
	return r.rooms, nil
}

// presenceServer is a gateway with Redis, a hub and reads, enough for
// presence; sub hears room r's ephemeral channel.
func presenceServer(t *testing.T, reads *roomsOfHook) (*Server, *redis.PubSub) {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	rdb := redistest.Client(t)
	s := &Server{
		cfg: Config{RedisPrefix: redistest.Prefix(t), PresenceBeat: time.Minute},
		log: slog.New(slog.DiscardHandler), rdb: rdb, reads: reads,
	}
	s.hub = hub.New(ctx, rdb, nil, s.log, hub.Options{Prefix: s.cfg.RedisPrefix})
	t.Cleanup(func() { s.hub.Close() })
	sub := rdb.Subscribe(ctx, events.RoomEphemeralChannel(s.cfg.RedisPrefix, "r"))
	t.Cleanup(func() { sub.Close() })
	if _, err := sub.Receive(ctx); err != nil { // the subscription is in place
		t.Fatal(err)
	}
	return s, sub
}

// told returns the statuses told to the room until it is quiet for a second.
func told(t *testing.T, sub *redis.PubSub) []string {
	var out []string
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		m, err := sub.ReceiveMessage(ctx)
		cancel()
		if err != nil {
			return out
		}
		var e ephemeral
		if err := json.Unmarshal([]byte(m.Payload), &e); err != nil {
			t.Fatal(err)
		}
		out = append(out, e.Status)
	}
}

// TestPresenceEndsWithTheTruth: a user's last socket closes while the
// state changes under its "offline" word. Whatever order the words reach
// the room in, the last one is the user's state.
func TestPresenceEndsWithTheTruth(t *testing.T) {
	ctx := context.Background()
	user := func(id string) *conn { return &conn{id: id, sess: session{User: "u"}} }
	for _, tc := range []struct {
		name  string
		hooks func(s *Server) map[int]func()
		want  string
	}{{
		// A reload: the new socket registers after the old one left,
		// before the old one's "offline" is out, and says "online" first.
		name: "a new socket opens",
		hooks: func(s *Server) map[int]func() {
			return map[int]func(){1: func() {
				if came := s.presenceUp(ctx, user("g.2")); len(came) != 1 {
					t.Errorf("new socket: came %v", came)
				}
				s.announcePresence(ctx, "u", "online")
			}}
		},
		want: "online",
	}, {
		// The same, and the new socket closes too while the old one's
		// correction ("online") is on its way.
		name: "a new socket opens and closes",
		hooks: func(s *Server) map[int]func() {
			next := user("g.2")
			return map[int]func(){
				1: func() {
					s.presenceUp(ctx, next)
					s.announcePresence(ctx, "u", "online")
				},
				3: func() { s.presenceGone(next) },
			}
		},
		want: "offline",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			reads := &roomsOfHook{rooms: []string{"r"}}
			s, sub := presenceServer(t, reads)
			old := user("g.1")
			if came := s.presenceUp(ctx, old); len(came) != 1 {
				t.Fatalf("first socket: came %v", came)
			}
			reads.hooks = tc.hooks(s)
			s.presenceGone(old)
			got := told(t, sub)
			if len(got) < 2 || got[len(got)-1] != tc.want {
				t.Fatalf("the room was told %v; want the last %q", got, tc.want)
			}
		})
	}
}
