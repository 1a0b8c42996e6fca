package projector_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"

	"github.com/chillin-chat/chillin/events"
	"github.com/chillin-chat/chillin/events/natstest"
	"github.com/chillin-chat/chillin/events/opshttp/opshttptest"
	"github.com/chillin-chat/chillin/events/redistest"
	"github.com/chillin-chat/chillin/projector"
	"github.com/chillin-chat/chillin/projector/internal/projtest"
	"github.com/chillin-chat/chillin/schema/schematest"
)

func ctxT(tb testing.TB) context.Context {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	tb.Cleanup(cancel)
	return ctx
}

// env is one embedded NATS server with the streams, and a logger.
type env struct {
	natsURL string
	js      jetstream.JetStream
	log     *slog.Logger
	logs    *projtest.Logs
}

func newEnv(tb testing.TB) *env {
	tb.Helper()
	s := natstest.Start(tb)
	_, js := natstest.Connect(tb, s)
	if err := events.EnsureStreams(ctxT(tb), js, events.StreamOptions{}); err != nil {
		tb.Fatal(err)
	}
	log, logs := projtest.Logger(tb)
	return &env{natsURL: s.ClientURL(), js: js, log: log, logs: logs}
}

// start runs projector.Run until the returned stop is called (or the test
// ends). stop fails the test if Run does not return nil within a minute.
func (e *env) start(tb testing.TB, cfg projector.Config) (stop func()) {
	tb.Helper()
	cfg.NATSURL = e.natsURL
	if cfg.Logger == nil {
		cfg.Logger = e.log
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- projector.Run(ctx, cfg) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					tb.Errorf("projector.Run returned %v", err)
				}
			case <-time.After(time.Minute):
				tb.Errorf("projector.Run did not return after cancel")
			}
		})
	}
	tb.Cleanup(stop)
	return stop
}

func (e *env) consumer(tb testing.TB, name string) *jetstream.ConsumerInfo {
	tb.Helper()
	c, err := e.js.Consumer(ctxT(tb), events.EvtStream, name)
	if err != nil {
		tb.Fatalf("consumer %s: %v", name, err)
	}
	info, err := c.Info(ctxT(tb))
	if err != nil {
		tb.Fatalf("consumer %s info: %v", name, err)
	}
	return info
}

// waitAcked waits until the consumer has acked everything through last.
func (e *env) waitAcked(tb testing.TB, name string, last uint64) {
	tb.Helper()
	projtest.Eventually(tb, fmt.Sprintf("%s acked through %d", name, last), func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := e.js.Consumer(ctx, events.EvtStream, name)
		if err != nil {
			return false
		}
		info, err := c.Info(ctx)
		return err == nil && info.AckFloor.Stream >= last && info.NumAckPending == 0
	})
}

// waitCheckpoint waits until the pg view has committed through last; the
// database may not even be migrated yet when it starts waiting.
func waitCheckpoint(tb testing.TB, pool *pgxpool.Pool, last uint64) {
	tb.Helper()
	projtest.Eventually(tb, fmt.Sprintf("checkpoint %d", last), func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var seq int64
		err := pool.QueryRow(ctx, "SELECT seq FROM projection_checkpoints WHERE view = 'pg'").Scan(&seq)
		return err == nil && uint64(seq) >= last
	})
}

func pgConfig(dbURL string) projector.Config {
	return projector.Config{PostgresURL: dbURL, Views: []string{projector.ViewPG}}
}

// viaProxy rewrites a URL's host:port to a proxy in front of it.
func viaProxy(tb testing.TB, raw string) (string, *projtest.Proxy) {
	tb.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		tb.Fatal(err)
	}
	p := projtest.NewProxy(tb, u.Host)
	u.Host = p.Addr()
	return u.String(), p
}

func TestPGViewAppliesAndReplays(t *testing.T) {
	e := newEnv(t)
	pool, dbURL := schematest.NewDB(t)
	projtest.Publish(t, e.js, projtest.Scenario(t)...)

	stop := e.start(t, pgConfig(dbURL))
	waitCheckpoint(t, pool, 21)
	e.waitAcked(t, "projector-pg", 21)
	want := projtest.ScenarioTables()
	if got := projtest.Dump(t, pool); got != want {
		t.Fatalf("tables:\n%s\nwant:\n%s", got, want)
	}
	stop()

	// Replay: a new consumer delivers the whole log again.
	if err := e.js.DeleteConsumer(ctxT(t), events.EvtStream, "projector-pg"); err != nil {
		t.Fatal(err)
	}
	e.start(t, pgConfig(dbURL))
	e.waitAcked(t, "projector-pg", 21)
	if got := projtest.Dump(t, pool); got != want {
		t.Fatalf("after replay:\n%s\nwant:\n%s", got, want)
	}
}

func TestPGViewRebuildsAnEmptyDatabase(t *testing.T) {
	e := newEnv(t)
	first, firstURL := schematest.NewDB(t)
	projtest.Publish(t, e.js, projtest.Scenario(t)...)
	stop := e.start(t, pgConfig(firstURL))
	waitCheckpoint(t, first, 21)
	e.waitAcked(t, "projector-pg", 21)
	stop()

	// Same consumer, acked through 21, but a database that has nothing: the
	// next fact makes the view read the history it lacks from the log.
	empty, emptyURL := schematest.NewDB(t)
	cfg := pgConfig(emptyURL)
	cfg.BatchSize = 8 // several transactions of history
	e.start(t, cfg)
	projtest.Publish(t, e.js, projtest.Fact(t, 22, events.MemberJoined, "secret", 3, "alice", events.MemberJoinedData{}))
	waitCheckpoint(t, empty, 22)
	got := projtest.Dump(t, empty)
	want := strings.Replace(projtest.ScenarioTables(), "  secret | bob |", "  secret | alice | "+projtest.At(22).Format(time.RFC3339)+"\n  secret | bob |", 1)
	want = strings.Replace(want, "| bob | "+projtest.At(6).Format(time.RFC3339)+" | 2 | 20", "| bob | "+projtest.At(6).Format(time.RFC3339)+" | 3 | 22", 1)
	want = strings.Replace(want, "pg | 21", "pg | 22", 1)
	if got != want {
		t.Fatalf("rebuilt tables:\n%s\nwant:\n%s", got, want)
	}
}

func TestPGViewRestartMidBurst(t *testing.T) {
	e := newEnv(t)
	pool, dbURL := schematest.NewDB(t)
	facts, want := projtest.Burst(t, 0, 2000)
	cfg := pgConfig(dbURL)
	cfg.BatchSize = 64

	// Publish in the background; restart the projector three times while
	// the burst is still coming in.
	marks := map[int]bool{500: true, 1000: true, 1500: true}
	reached := make(chan int, len(marks))
	published := make(chan error, 1)
	go func() {
		ctx := context.Background()
		for i, f := range facts {
			b, err := f.Encode()
			if err == nil {
				_, err = e.js.Publish(ctx, projtest.Subject(f), b)
			}
			if err != nil {
				published <- err
				return
			}
			if marks[i+1] {
				reached <- i + 1
			}
		}
		published <- nil
	}()

	stop := e.start(t, cfg)
	for range marks {
		n := <-reached
		stop()
		t.Logf("restart after %d published, checkpoint %d", n, projtest.Checkpoint(t, pool))
		stop = e.start(t, cfg)
	}
	if err := <-published; err != nil {
		t.Fatal(err)
	}
	waitCheckpoint(t, pool, want.Last)
	e.waitAcked(t, "projector-pg", want.Last)
	checkBurst(t, pool, want)
	stop()

	// The same log projected in one go into a fresh database gives the same tables.
	ref, refURL := schematest.NewDB(t)
	if err := e.js.DeleteConsumer(ctxT(t), events.EvtStream, "projector-pg"); err != nil {
		t.Fatal(err)
	}
	e.start(t, pgConfig(refURL))
	waitCheckpoint(t, ref, want.Last)
	if got, ref := projtest.Dump(t, pool), projtest.Dump(t, ref); got != ref {
		t.Fatalf("restarted projection differs from one applied in one go:\n%s", diff(got, ref))
	}
}

// checkBurst checks what a Burst must leave in the tables.
func checkBurst(tb testing.TB, pool *pgxpool.Pool, want projtest.Want) {
	tb.Helper()
	if got := projtest.Count(tb, pool, "messages"); got != want.Messages {
		tb.Errorf("%d messages, want %d", got, want.Messages)
	}
	if got := projtest.Count(tb, pool, "messages WHERE deleted_at IS NOT NULL AND text = ''"); got != want.Deleted {
		tb.Errorf("%d tombstones, want %d", got, want.Deleted)
	}
	for room, head := range want.Heads {
		var got int64
		if err := pool.QueryRow(ctxT(tb), "SELECT head_seq FROM rooms WHERE id = $1", room).Scan(&got); err != nil {
			tb.Fatalf("room %s: %v", room, err)
		}
		if uint64(got) != head {
			tb.Errorf("room %s head %d, want %d", room, got, head)
		}
		var n, maxSeq int64
		if err := pool.QueryRow(ctxT(tb), "SELECT count(*), COALESCE(max(seq), 0) FROM messages WHERE room_id = $1", room).Scan(&n, &maxSeq); err != nil {
			tb.Fatal(err)
		}
		if n == 0 || maxSeq > got {
			tb.Errorf("room %s: %d messages up to seq %d with head %d", room, n, maxSeq, got)
		}
	}
}

func diff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	var out []string
	for i := 0; i < max(len(al), len(bl)) && len(out) < 20; i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			out = append(out, fmt.Sprintf("line %d:\n  got  %s\n  want %s", i+1, x, y))
		}
	}
	return strings.Join(out, "\n")
}

func TestPGViewPostgresDown(t *testing.T) {
	e := newEnv(t)
	pool, dbURL := schematest.NewDB(t)
	proxied, proxy := viaProxy(t, dbURL)
	e.start(t, pgConfig(proxied))

	projtest.Publish(t, e.js, projtest.Scenario(t)...)
	waitCheckpoint(t, pool, 21)
	e.waitAcked(t, "projector-pg", 21)

	proxy.Cut()
	facts, want := projtest.Burst(t, 21, 300)
	projtest.Publish(t, e.js, facts...)
	projtest.Eventually(t, "a failed apply", func() bool { return e.logs.Contains("apply batch failed, retrying") })
	if got := projtest.Checkpoint(t, pool); got != 21 {
		t.Fatalf("checkpoint moved to %d with postgres unreachable", got)
	}
	if info := e.consumer(t, "projector-pg"); info.AckFloor.Stream != 21 {
		t.Fatalf("acked through %d with postgres unreachable, want 21", info.AckFloor.Stream)
	}

	proxy.Restore()
	waitCheckpoint(t, pool, want.Last)
	e.waitAcked(t, "projector-pg", want.Last)
	if !e.logs.Contains("apply batch recovered") {
		t.Error("recovery was not logged")
	}
	want.Messages += 3 // the scenario's
	want.Deleted++
	checkBurst(t, pool, want)
}

func TestPGViewStartsWithPostgresDown(t *testing.T) {
	e := newEnv(t)
	pool, dbURL := schematest.NewEmptyDB(t) // the view migrates it once it can
	proxied, proxy := viaProxy(t, dbURL)
	proxy.Cut()
	e.start(t, pgConfig(proxied))
	projtest.Publish(t, e.js, projtest.Scenario(t)...)
	projtest.Eventually(t, "a failed migration", func() bool { return e.logs.Contains("migrate postgres failed, retrying") })
	proxy.Restore()
	waitCheckpoint(t, pool, 21)
	e.waitAcked(t, "projector-pg", 21)
	if got, want := projtest.Dump(t, pool), projtest.ScenarioTables(); got != want {
		t.Fatalf("tables:\n%s\nwant:\n%s", got, want)
	}
}

// A fact the pg view cannot apply is not skipped: the view applies what
// comes before it, stops there, logs an error, and reports itself stopped
// on /ready and in chillin_projector_view_stopped.
func TestPGViewStopsAtPoison(t *testing.T) {
	e := newEnv(t)
	pool, dbURL := schematest.NewDB(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	cfg := pgConfig(dbURL)
	cfg.HTTPListener = ln
	e.start(t, cfg)
	created := projtest.Publish(t, e.js, projtest.Fact(t, 1, events.RoomCreated, "lobby", 1, "ann", events.RoomCreatedData{Name: "Lobby"}))
	poison := projtest.PublishRaw(t, e.js, events.RoomSubject("lobby"), []byte("not a fact"))
	projtest.Publish(t, e.js, projtest.Fact(t, 3, events.MessagePosted, "lobby", 2, "ann", events.MessagePostedData{Text: "after", ClientID: "a1"}))
	waitCheckpoint(t, pool, created[0].ID)
	projtest.Eventually(t, "the stop logged", func() bool {
		return e.logs.HasLine("level=ERROR", `msg="fact cannot be projected: the view stops before it"`, fmt.Sprintf("seq=%d ", poison))
	})
	projtest.Eventually(t, "the view reported stopped", func() bool {
		m := series(opshttptest.Scrape(t, base), "chillin_projector_view_stopped", "view", projector.ViewPG)
		return m.GetGauge().GetValue() == 1
	})
	code, b := opshttptest.Get(t, base+"/ready")
	if code != http.StatusServiceUnavailable || !strings.Contains(string(b), `"pg view"`) {
		t.Fatalf("/ready of a stopped view: %d %s", code, b)
	}
	time.Sleep(300 * time.Millisecond) // retries come and go; none moves on
	var cp int64
	if err := pool.QueryRow(ctxT(t), "SELECT seq FROM projection_checkpoints WHERE view = 'pg'").Scan(&cp); err != nil {
		t.Fatal(err)
	}
	if uint64(cp) != created[0].ID {
		t.Errorf("checkpoint %d, want %d: the view moved past the poison fact %d", cp, created[0].ID, poison)
	}
	if got := projtest.Count(t, pool, "messages"); got != 0 {
		t.Errorf("%d messages, want 0: a fact after the poison one was applied", got)
	}
	if e.logs.Contains("poison fact skipped") {
		t.Errorf("the poison fact was skipped")
	}
}

func TestPGViewTwoInstances(t *testing.T) {
	e := newEnv(t)
	pool, dbURL := schematest.NewDB(t)
	facts, want := projtest.Burst(t, 0, 900)
	type instance struct {
		stop func()
		logs *projtest.Logs
	}
	startOne := func() instance {
		log, logs := projtest.Logger(t)
		cfg := pgConfig(dbURL)
		cfg.Logger = log
		return instance{e.start(t, cfg), logs}
	}
	pinned := func(ins ...instance) (instance, instance) {
		t.Helper()
		var on []int
		for i, in := range ins {
			if in.logs.Contains("pinned: this instance applies the view") {
				on = append(on, i)
			}
		}
		if len(on) != 1 {
			t.Fatalf("%d instances were pinned, want exactly 1", len(on))
		}
		return ins[on[0]], ins[1-on[0]]
	}
	pinID := func() string {
		info := e.consumer(t, "projector-pg")
		if len(info.PriorityGroups) != 1 {
			t.Fatalf("priority groups %+v", info.PriorityGroups)
		}
		return info.PriorityGroups[0].PinnedClientID
	}

	a, b := startOne(), startOne()
	projtest.Publish(t, e.js, facts[:300]...)
	waitCheckpoint(t, pool, 300)
	active, standby := pinned(a, b)
	pin := pinID()
	if pin == "" {
		t.Fatal("no pinned client on the consumer")
	}

	// Stopping the active instance hands the view over at once (unpin), not
	// after the pinned TTL.
	active.stop()
	if got := pinID(); got == pin {
		t.Fatalf("still pinned to the stopped instance (%s)", pin)
	}
	projtest.Publish(t, e.js, facts[300:600]...)
	waitCheckpoint(t, pool, 600)

	c := startOne()
	standby.stop()
	projtest.Publish(t, e.js, facts[600:]...)
	waitCheckpoint(t, pool, want.Last)
	e.waitAcked(t, "projector-pg", want.Last)
	checkBurst(t, pool, want)
	if !c.logs.Contains("pinned: this instance applies the view") {
		t.Error("the last instance standing never took over")
	}
}

// Live view.

// subscribe receives everything published under prefix.
func subscribe(tb testing.TB, prefix string) <-chan *redis.Message {
	tb.Helper()
	rdb := redistest.Client(tb)
	ps := rdb.PSubscribe(ctxT(tb), prefix+"*")
	tb.Cleanup(func() { ps.Close() })
	if _, err := ps.Receive(ctxT(tb)); err != nil { // the subscription confirmation
		tb.Fatalf("psubscribe: %v", err)
	}
	return ps.Channel(redis.WithChannelSize(10000))
}

type pub struct{ channel, payload string }

func receive(tb testing.TB, ch <-chan *redis.Message, n int) []pub {
	tb.Helper()
	var out []pub
	for len(out) < n {
		select {
		case m := <-ch:
			out = append(out, pub{m.Channel, m.Payload})
		case <-time.After(time.Minute):
			tb.Fatalf("received %d of %d live messages", len(out), n)
		}
	}
	return out
}

func liveConfig(prefix, redis string) projector.Config {
	return projector.Config{RedisURL: redis, RedisPrefix: prefix, Views: []string{projector.ViewLive}}
}

// waitConsumer waits until a view's consumer exists: the live view starts at
// new facts, so facts published before it exists are not its business.
func (e *env) waitConsumer(tb testing.TB, name string) {
	tb.Helper()
	projtest.Eventually(tb, "consumer "+name, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := e.js.Consumer(ctx, events.EvtStream, name)
		return err == nil
	})
}

func roomPub(tb testing.TB, prefix string, s events.Stored) pub {
	tb.Helper()
	frame, err := events.EventFrame(s)
	if err != nil {
		tb.Fatal(err)
	}
	return pub{events.RoomChannel(prefix, s.Room), string(events.EncodeLiveRoom(s.Seq, frame))}
}

func userPub(tb testing.TB, prefix, user string, m events.UserLive) pub {
	tb.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		tb.Fatal(err)
	}
	return pub{events.UserChannel(prefix, user), string(b)}
}

func TestLiveView(t *testing.T) {
	e := newEnv(t)
	prefix := redistest.Prefix(t)
	ch := subscribe(t, prefix)
	e.start(t, liveConfig(prefix, redistest.URL()))
	e.waitConsumer(t, "projector-live")

	stored := projtest.Publish(t, e.js, projtest.Scenario(t)...)
	var want []pub
	// The member's own joins and leaves also go to every socket of the member.
	selfPub := func(s events.Stored) pub {
		typ := "room:joined"
		if s.Type == events.MemberLeft {
			typ = "room:left"
		}
		return userPub(t, prefix, s.User, events.UserLive{All: true, Frame: json.RawMessage(fmt.Sprintf(`{"type":%q,"data":{"room":%q,"seq":%d}}`, typ, s.Room, s.Seq))})
	}
	for _, s := range stored {
		switch {
		case events.IsRoomFact(s.Type):
			want = append(want, roomPub(t, prefix, s))
			if s.Type == events.RoomCreated || s.Type == events.MemberJoined || s.Type == events.MemberLeft {
				want = append(want, selfPub(s))
			}
		case s.Type == events.CommandRejected:
			d, err := events.DecodeData[events.CommandRejectedData](s.Fact)
			if err != nil {
				t.Fatal(err)
			}
			if d.Command == events.CmdRoomJoin {
				continue // answered by a reply, never published
			}
			frame, err := events.RejectedFrame(d)
			if err != nil {
				t.Fatal(err)
			}
			want = append(want, userPub(t, prefix, s.User, events.UserLive{Conn: d.Conn, Frame: frame}))
		case s.Type == events.SessionRevoked:
			want = append(want, userPub(t, prefix, s.User, events.UserLive{Revoke: projtest.SessionID("token-bob")}))
		}
	}
	// A last fact after everything: anything published that should not have
	// been (registrations, session starts, the room.join rejection) would
	// arrive before it.
	sentinel := projtest.Publish(t, e.js, projtest.Fact(t, 22, events.MemberJoined, "general", 12, "carol", events.MemberJoinedData{}))
	want = append(want, roomPub(t, prefix, sentinel[0]), selfPub(sentinel[0]))

	got := receive(t, ch, len(want))
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("live message %d:\n got %s %s\nwant %s %s", i, got[i].channel, got[i].payload, want[i].channel, want[i].payload)
		}
	}
	// Spot-check the wire form a gateway reads.
	posted := ""
	for _, g := range got {
		if strings.Contains(g.payload, `"kind":"message.posted"`) {
			posted = g.payload
			break
		}
	}
	seq, frame, err := events.DecodeLiveRoom([]byte(posted))
	if err != nil || seq != 3 || !strings.Contains(string(frame), `"kind":"message.posted"`) || !strings.Contains(string(frame), `"clientId":"c-a1"`) {
		t.Errorf("message.posted live payload: seq %d err %v frame %s", seq, err, frame)
	}
	for _, g := range got {
		if strings.Contains(g.payload, "argon2id") {
			t.Errorf("a room password hash reached a live frame: %s", g.payload)
		}
	}
}

// roomBurst is n posts in one room, starting at room seq from.
func roomBurst(tb testing.TB, room string, from uint64, n int) []events.Fact {
	tb.Helper()
	out := make([]events.Fact, n)
	for i := range out {
		seq := from + uint64(i)
		out[i] = projtest.Fact(tb, seq, events.MessagePosted, room, seq, "ann", events.MessagePostedData{Text: fmt.Sprintf("m%d", seq), ClientID: fmt.Sprintf("c%d", seq)})
	}
	return out
}

// checkSeqs checks that live room payloads carry exactly seqs from..from+n-1 in order.
func checkSeqs(tb testing.TB, got []pub, from uint64) {
	tb.Helper()
	for i, p := range got {
		seq, _, err := events.DecodeLiveRoom([]byte(p.payload))
		if err != nil {
			tb.Fatal(err)
		}
		if seq != from+uint64(i) {
			tb.Fatalf("live message %d has seq %d, want %d", i, seq, from+uint64(i))
		}
	}
}

func TestLiveViewRedisDown(t *testing.T) {
	e := newEnv(t)
	prefix := redistest.Prefix(t)
	ch := subscribe(t, prefix)
	proxied, proxy := viaProxy(t, redistest.URL())
	e.start(t, liveConfig(prefix, proxied))
	e.waitConsumer(t, "projector-live")

	first := projtest.Publish(t, e.js, roomBurst(t, "lobby", 1, 5)...)
	checkSeqs(t, receive(t, ch, 5), 1)
	// Cut only once the batch is acked: cutting while the pipeline's replies
	// are on their way makes the outcome unknown to the view, which then
	// publishes the batch again (gateways drop seqs they have).
	e.waitAcked(t, "projector-live", first[len(first)-1].ID)

	proxy.Cut()
	projtest.Publish(t, e.js, roomBurst(t, "lobby", 6, 50)...)
	projtest.Eventually(t, "a failed publish", func() bool { return e.logs.Contains("apply batch failed, retrying") })
	proxy.Restore()
	checkSeqs(t, receive(t, ch, 50), 6)
	select {
	case m := <-ch:
		t.Fatalf("unexpected extra live message %s %s", m.Channel, m.Payload)
	case <-time.After(200 * time.Millisecond):
	}
}

func TestLiveViewTwoInstances(t *testing.T) {
	e := newEnv(t)
	prefix := redistest.Prefix(t)
	ch := subscribe(t, prefix)
	e.start(t, liveConfig(prefix, redistest.URL()))
	e.start(t, liveConfig(prefix, redistest.URL()))
	e.waitConsumer(t, "projector-live")
	projtest.Publish(t, e.js, roomBurst(t, "lobby", 1, 300)...)
	checkSeqs(t, receive(t, ch, 300), 1)
}

func TestRunBothViews(t *testing.T) {
	e := newEnv(t)
	pool, dbURL := schematest.NewDB(t)
	prefix := redistest.Prefix(t)
	ch := subscribe(t, prefix)
	e.start(t, projector.Config{PostgresURL: dbURL, RedisURL: redistest.URL(), RedisPrefix: prefix, Views: []string{"pg", "live"}})
	e.waitConsumer(t, "projector-live")
	e.waitConsumer(t, "projector-pg")
	stored := projtest.Publish(t, e.js, roomBurst(t, "lobby", 1, 20)...)
	checkSeqs(t, receive(t, ch, 20), 1)
	waitCheckpoint(t, pool, stored[len(stored)-1].ID)
	if got := projtest.Count(t, pool, "messages"); got != 20 {
		t.Errorf("%d messages, want 20", got)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  projector.Config
		want string // substring of the error, "" for valid
	}{
		{name: "pg and live", cfg: projector.Config{NATSURL: "nats://x", PostgresURL: "postgres://x", RedisURL: "redis://x", Views: []string{"pg", "live"}}},
		{name: "live only needs no postgres", cfg: projector.Config{NATSURL: "nats://x", RedisURL: "redis://x", Views: []string{"live"}}},
		{name: "no nats", cfg: projector.Config{PostgresURL: "postgres://x", Views: []string{"pg"}}, want: "NATS URL"},
		{name: "no views", cfg: projector.Config{NATSURL: "nats://x"}, want: "no views"},
		{name: "unknown view", cfg: projector.Config{NATSURL: "nats://x", Views: []string{"redis"}}, want: `unknown view "redis"`},
		{name: "twice", cfg: projector.Config{NATSURL: "nats://x", RedisURL: "redis://x", Views: []string{"live", "live"}}, want: "twice"},
		{name: "pg without url", cfg: projector.Config{NATSURL: "nats://x", Views: []string{"pg"}}, want: "Postgres URL"},
		{name: "live without url", cfg: projector.Config{NATSURL: "nats://x", Views: []string{"live"}}, want: "Redis URL"},
		{name: "all three", cfg: projector.Config{NATSURL: "nats://x", PostgresURL: "postgres://x", RedisURL: "redis://x", Views: []string{"pg", "live", "cache"}}},
		{name: "cache without url", cfg: projector.Config{NATSURL: "nats://x", Views: []string{"cache"}}, want: "cache view needs a Redis URL"},
		{name: "negative cache window", cfg: projector.Config{NATSURL: "nats://x", RedisURL: "redis://x", Views: []string{"cache"}, CacheWindow: -1}, want: "cache window"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("err = %v, want one containing %q", err, tt.want)
			}
		})
	}
	err := projector.Run(context.Background(), projector.Config{NATSURL: "nats://x", Views: []string{"pg"}})
	if err == nil || errors.Is(err, context.Canceled) {
		t.Fatalf("Run with a bad config: err = %v", err)
	}
}

// BenchmarkPGView measures the pg view end to end: from facts waiting in
// CHAT_EVT to rows committed in Postgres and facts acked, in facts/s.
func BenchmarkPGView(b *testing.B) {
	const n = 20000
	e := newEnv(b)
	e.log = slog.New(slog.DiscardHandler)
	facts, want := projtest.Burst(b, 0, n)
	ctx := ctxT(b)
	for _, f := range facts {
		data, err := f.Encode()
		if err != nil {
			b.Fatal(err)
		}
		if _, err := e.js.PublishAsync(projtest.Subject(f), data); err != nil {
			b.Fatal(err)
		}
	}
	select {
	case <-e.js.PublishAsyncComplete():
	case <-ctx.Done():
		b.Fatal("publish did not complete")
	}
	var elapsed time.Duration
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		pool, dbURL := schematest.NewDB(b)
		_ = e.js.DeleteConsumer(ctx, events.EvtStream, "projector-pg")
		b.StartTimer()
		start := time.Now()
		stop := e.start(b, projector.Config{PostgresURL: dbURL, Views: []string{projector.ViewPG}, Logger: e.log})
		waitCheckpoint(b, pool, want.Last)
		e.waitAcked(b, "projector-pg", want.Last)
		elapsed += time.Since(start)
		b.StopTimer()
		stop()
		b.StartTimer()
	}
	b.ReportMetric(float64(n*b.N)/elapsed.Seconds(), "facts/s")
}

// A refusal recorded on CHAT_REJ reaches the user's channel as a
// `rejected` frame, as one on CHAT_EVT (an older log) still does.
func TestLiveViewRejectionsStream(t *testing.T) {
	e := newEnv(t)
	prefix := redistest.Prefix(t)
	ch := subscribe(t, prefix)
	e.start(t, liveConfig(prefix, redistest.URL()))
	e.waitConsumer(t, "projector-live")
	projtest.Eventually(t, "consumer projector-live-rejections", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := e.js.Consumer(ctx, events.RejStream, "projector-live-rejections")
		return err == nil
	})

	refusal := func(ref string) (events.Fact, []byte) {
		d := events.CommandRejectedData{Command: events.CmdReactionAdd, Room: "general", Ref: ref, Conn: "gw1.7",
			Code: events.CodeRateLimited, Message: "too many reactions; retry in 900 ms", RetryAfterMs: 900}
		f, err := events.NewFact(events.CommandRejected, "", 0, "bob", "cmd-"+ref, time.Now().UTC(), d)
		if err != nil {
			t.Fatal(err)
		}
		b, err := f.Encode()
		if err != nil {
			t.Fatal(err)
		}
		return f, b
	}
	var want []pub
	for _, tc := range []struct{ ref, subject string }{
		{"r1", events.RejSubject("bob")},
		{"r2", events.RejectedSubject("bob")}, // as a validator from before CHAT_REJ records it
		{"r3", events.RejSubject("bob")},
	} {
		f, b := refusal(tc.ref)
		projtest.PublishRaw(t, e.js, tc.subject, b)
		d, err := events.DecodeData[events.CommandRejectedData](f)
		if err != nil {
			t.Fatal(err)
		}
		frame, err := events.RejectedFrame(d)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, userPub(t, prefix, "bob", events.UserLive{Conn: d.Conn, Frame: frame}))
		// One at a time: the two feeds keep no order between them.
		if got := receive(t, ch, 1); got[0] != want[len(want)-1] {
			t.Fatalf("live message for %s:\n got %s %s\nwant %s %s", tc.ref, got[0].channel, got[0].payload, want[len(want)-1].channel, want[len(want)-1].payload)
		}
	}
}
