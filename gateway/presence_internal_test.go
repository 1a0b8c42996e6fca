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
)

// roomsOfHook answers RoomsOf with rooms, running hook (once) first.
type roomsOfHook struct {
	reads // not called
	rooms []string
	hook  func()
}

func (r *roomsOfHook) RoomsOf(context.Context, string) ([]string, error) {
	if h := r.hook; h != nil {
		r.hook = nil
		h()
	}
	return r.rooms, nil
}

// TestOfflineNeverOutlastsANewSocket: a user's last socket closes while
// their next one opens (a reload). The closing one finds the user gone and
// tells the rooms "offline"; the new one, registered just after, finds them
// gone too and tells "online", and its word reaches the rooms first. The
// rooms must still end up seeing the user online.
func TestOfflineNeverOutlastsANewSocket(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rdb := redistest.Client(t)
	reads := &roomsOfHook{rooms: []string{"r"}}
	s := &Server{
		cfg: Config{RedisPrefix: redistest.Prefix(t), PresenceBeat: time.Minute},
		log: slog.New(slog.DiscardHandler), rdb: rdb, reads: reads,
	}
	s.hub = hub.New(ctx, rdb, nil, s.log, hub.Options{Prefix: s.cfg.RedisPrefix})
	defer s.hub.Close()
	sub := rdb.Subscribe(ctx, events.RoomEphemeralChannel(s.cfg.RedisPrefix, "r"))
	defer sub.Close()
	if _, err := sub.Receive(ctx); err != nil { // the subscription is in place
		t.Fatal(err)
	}

	old := &conn{id: "g.1", sess: session{User: "u"}}
	if came := s.presenceUp(ctx, old); len(came) != 1 {
		t.Fatalf("first socket: came %v", came)
	}
	reads.hook = func() {
		// The new socket registers after the old one left, before the
		// old one's "offline" is out, and says "online" first.
		next := &conn{id: "g.2", sess: session{User: "u"}}
		came := s.presenceUp(ctx, next)
		if len(came) != 1 {
			t.Errorf("new socket: came %v", came)
		}
		s.announcePresence(ctx, "u", "online")
	}
	s.presenceGone(old)

	var last string
	seen := 0
	for {
		rctx, rcancel := context.WithTimeout(ctx, time.Second)
		m, err := sub.ReceiveMessage(rctx)
		rcancel()
		if err != nil {
			break // quiet for a second: all was told
		}
		var e ephemeral
		if err := json.Unmarshal([]byte(m.Payload), &e); err != nil {
			t.Fatal(err)
		}
		seen++
		last = e.Status
	}
	if seen < 2 || last != "online" {
		t.Fatalf("the room was told %d presence updates, the last %q; want the last online", seen, last)
	}
}
