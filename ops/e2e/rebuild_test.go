package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/chillin-chat/chillin/projector/pgrebuild"
)

// The pg view is rebuilt from the log (chillin-replay rebuild -view pg)
// while 20 clients keep sending and readers keep reading: the readers never
// see an error or an empty room, every message sent before, during and
// after the switch is in the new tables, they equal a fresh replay, and the
// system goes on working on them.
func TestRebuildPGWhileLive(t *testing.T) {
	s := newSystem(t, withRateLimit(1_000_000), withFrameRate(1000))
	const clients = 20
	room, tokens, conns := s.busyRoom("Busy Room", clients)
	// More history than the cache view keeps, so that older pages and the
	// member list are read from Postgres.
	const early = 300
	for i := range early {
		conns[0].send(room, fmt.Sprint("early-", i), fmt.Sprint("early message ", i))
	}
	old := s.waitPG(room, early)
	before := old[60].ID

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errs := make(chan error, 1000)
	rd := keepReading(ctx, tokens[:3], errs, func(ctx context.Context, tok string) error {
		var rooms struct{ Rooms []struct{ ID string } }
		var page, older struct{ Messages []messageData }
		var members struct{ Members []any }
		err := s.getJSON(ctx, "/api/rooms", tok, &rooms)
		if err == nil {
			err = s.getJSON(ctx, "/api/rooms/"+room+"/messages", tok, &page)
		}
		if err == nil {
			err = s.getJSON(ctx, fmt.Sprintf("/api/rooms/%s/messages?before=%d&limit=50", room, before), tok, &older)
		}
		if err == nil {
			err = s.getJSON(ctx, "/api/rooms/"+room+"/members", tok, &members)
		}
		if err == nil && (len(rooms.Rooms) == 0 || len(page.Messages) == 0 || len(older.Messages) != 50 || len(members.Members) != clients) {
			err = fmt.Errorf("%d rooms, %d messages, %d older, %d members", len(rooms.Rooms), len(page.Messages), len(older.Messages), len(members.Members))
		}
		return err
	})
	tr := keepSending(ctx, conns, room, errs)

	time.Sleep(time.Second) // traffic before the rebuild starts
	readsBefore := rd.reads.Load()
	res, err := pgrebuild.Rebuild(ctx, pgrebuild.Options{Live: s.pool, JS: s.js, Logger: s.log, BatchSize: 25})
	if err != nil {
		t.Fatal(err)
	}
	readsDuring := rd.reads.Load() - readsBefore
	time.Sleep(time.Second) // traffic after the switch
	total := early + tr.Stop()
	var msgs []messageData
	deadline := time.Now().Add(time.Minute)
	for msgs = s.pgMessages(room); len(msgs) < total && time.Now().Before(deadline); msgs = s.pgMessages(room) {
		time.Sleep(50 * time.Millisecond)
	}
	reads := rd.Stop()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	t.Logf("rebuilt through seq %d in %s (%d rounds), projector held %s; %d messages, %d reads (%d during the rebuild)",
		res.Seq, res.Took, res.Rounds, res.Pause, total, reads, readsDuring)
	if readsDuring == 0 {
		t.Error("no read completed during the rebuild")
	}
	tr.checkAllIn(t, msgs)
	if len(msgs) != total {
		t.Fatalf("%d messages in postgres, %d sent", len(msgs), total)
	}

	// The system works on the new tables: a message posted now lands.
	conns[1].send(room, "after-switch", "after the switch")
	eventually(t, 20*time.Second, "the message posted after the switch in postgres", func() bool {
		ms := s.pgMessages(room)
		return len(ms) == total+1 && ms[len(ms)-1].ClientID == "after-switch"
	})

	// And the new tables equal a fresh replay of the log.
	vres, err := pgrebuild.Verify(context.Background(), pgrebuild.Options{Live: s.pool, JS: s.js, Logger: s.log})
	if err != nil {
		t.Fatal(err)
	}
	if !vres.Equal() {
		for _, tr := range vres.Tables {
			if !tr.Equal() {
				t.Errorf("%s differs from a replay: %+v %+v", tr.Name, tr, tr.Diff)
			}
		}
	}
}
