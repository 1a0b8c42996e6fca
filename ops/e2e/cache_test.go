package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chillin-chat/chillin/events"
	"github.com/chillin-chat/chillin/events/cachelayout"
	"github.com/chillin-chat/chillin/events/opshttp/opshttptest"
	"github.com/chillin-chat/chillin/events/redistest"
	"github.com/chillin-chat/chillin/gateway"
	"github.com/chillin-chat/chillin/projector/cachewriter"
	"github.com/chillin-chat/chillin/ui"
	"github.com/redis/go-redis/v9"
)

// cacheStore opens the system's Redis cache directly (not through a proxy).
func (s *system) cacheStore() *cachewriter.Store {
	s.t.Helper()
	opts, err := redis.ParseURL(redistest.URL())
	if err != nil {
		s.t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	s.t.Cleanup(func() { _ = rdb.Close() })
	return cachewriter.NewStore(rdb, s.prefix, 0)
}

// logHead is the stream seq of the log's last fact.
func (s *system) logHead() uint64 {
	s.t.Helper()
	head, err := cachewriter.Source{JS: s.js}.Head(context.Background())
	if err != nil {
		s.t.Fatal(err)
	}
	return head
}

// pgCheckpoint is the last fact the pg view applied.
func (s *system) pgCheckpoint() uint64 {
	s.t.Helper()
	var seq int64
	if err := s.pool.QueryRow(context.Background(), `SELECT COALESCE((SELECT seq FROM projection_checkpoints WHERE view = 'pg'), 0)`).Scan(&seq); err != nil {
		s.t.Fatal(err)
	}
	return uint64(seq)
}

// waitCache waits until the cache's current generation has applied every
// fact up to seq.
func (s *system) waitCache(seq uint64) {
	s.t.Helper()
	st := s.cacheStore()
	eventually(s.t, 20*time.Second, fmt.Sprintf("the cache at seq %d", seq), func() bool {
		_, cp, ok, err := st.Current(context.Background())
		return err == nil && ok && cp >= seq
	})
}

// waitProjections waits until Postgres and the cache both hold every fact
// appended so far.
func (s *system) waitProjections() {
	s.t.Helper()
	head := s.logHead()
	eventually(s.t, 20*time.Second, fmt.Sprintf("postgres at seq %d", head), func() bool { return s.pgCheckpoint() >= head })
	s.waitCache(head)
}

// pgGateway starts a gateway whose cache prefix holds nothing, so that it
// answers from Postgres: the reference for what the cache answers. It
// returns its base URL.
func (s *system) pgGateway() string {
	s.t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		s.t.Fatal(err)
	}
	prefix := redistest.Prefix(s.t)
	s.service("postgres-only gateway", func(ctx context.Context) error {
		return gateway.Run(ctx, gateway.Config{
			Listener: ln, NATSURL: s.natsURL, PostgresURL: s.servicePG, RedisURL: s.serviceRD, RedisPrefix: prefix,
			Password: fastHash, UI: ui.FS(), Logger: s.log.With("service", "gateway-pg"),
		})
	})
	return "http://" + ln.Addr().String()
}

// raw GETs base+path and returns the status and body.
func (s *system) raw(base, path, token string) (int, []byte) {
	s.t.Helper()
	req, _ := http.NewRequest("GET", base+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// cacheReads is the gateway's count of cache reads of a kind with a result.
func (s *system) cacheReads(read, result string) float64 {
	s.t.Helper()
	fam := opshttptest.Scrape(s.t, s.baseURL)["chillin_gateway_cache_reads_total"]
	if fam == nil {
		return 0
	}
next:
	for _, m := range fam.GetMetric() {
		for _, l := range m.GetLabel() {
			if (l.GetName() == "read" && l.GetValue() != read) || (l.GetName() == "result" && l.GetValue() != result) {
				continue next
			}
		}
		return m.GetCounter().GetValue()
	}
	return 0
}

// sameAnswer asserts that the cache answers path exactly as Postgres does,
// and that the answer came from the cache.
func (s *system) sameAnswer(pgBase, path, token, read string) []byte {
	s.t.Helper()
	hits := s.cacheReads(read, "hit")
	code, fromCache := s.raw(s.baseURL, path, token)
	if code != http.StatusOK {
		s.t.Fatalf("GET %s: %d %s", path, code, fromCache)
	}
	if got := s.cacheReads(read, "hit"); got != hits+1 {
		s.t.Fatalf("GET %s was not answered by the cache (%v hits, then %v)", path, hits, got)
	}
	code, fromPG := s.raw(pgBase, path, token)
	if code != http.StatusOK {
		s.t.Fatalf("GET %s from postgres: %d %s", path, code, fromPG)
	}
	if !bytes.Equal(fromCache, fromPG) {
		s.t.Fatalf("GET %s:\ncache:    %s\npostgres: %s", path, fromCache, fromPG)
	}
	return fromCache
}

// pgAnswer asserts that the cache does not answer path (it does not hold
// all of it) and that the gateway answers what Postgres does.
func (s *system) pgAnswer(pgBase, path, token string) []byte {
	s.t.Helper()
	misses := s.cacheReads("history", "miss")
	code, got := s.raw(s.baseURL, path, token)
	if code != http.StatusOK {
		s.t.Fatalf("GET %s: %d %s", path, code, got)
	}
	if n := s.cacheReads("history", "miss"); n != misses+1 {
		s.t.Fatalf("GET %s was not a cache miss (%v misses, then %v)", path, misses, n)
	}
	if _, want := s.raw(pgBase, path, token); !bytes.Equal(got, want) {
		s.t.Fatalf("GET %s:\ngateway:  %s\npostgres: %s", path, got, want)
	}
	return got
}

// withoutOnline blanks the online counts of a room list or room answer:
// each gateway counts the users online under its own prefix.
func withoutOnline(t *testing.T, b []byte) string {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	var rooms []any
	if list, ok := v["rooms"].([]any); ok {
		rooms = list
	} else {
		rooms = []any{v["room"]}
	}
	for _, r := range rooms {
		delete(r.(map[string]any), "onlineCount")
	}
	out, _ := json.Marshal(v)
	return string(out)
}

// What the cache answers (history pages, the room list, a room) is exactly
// what Postgres answers, after posts, replies, edits, deletes and
// reactions; a deleted message's text is gone from the answer, from the
// cache's keys and from what a reconnecting client ends up showing.
func TestCacheAnswersAsPostgres(t *testing.T) {
	s := newSystem(t)
	pg := s.pgGateway()
	alice, bob := s.register("alice"), s.register("bob")
	room := s.createRoom(alice, "Cached Room")
	s.createRoom(bob, "Other Room")
	ca, cb := s.dial(alice), s.dial(bob)
	ca.join(room, nil)
	_, evs := cb.join(room, nil)
	joined := evs[len(evs)-1].Seq
	ca.event() // bob's join

	var ids []uint64
	for i := range 6 {
		ca.send(room, fmt.Sprint("a", i), fmt.Sprint("message ", i))
		ids = append(ids, ca.posted().ID)
		cb.posted()
	}
	const secret = "the text that must disappear"
	ca.send(room, "secret", secret)
	gone := ca.posted().ID
	cb.posted()
	cb.write(map[string]any{"type": "message:send", "data": map[string]any{"room": room, "clientId": "b-reply", "text": "a reply", "replyTo": ids[0]}})
	cb.posted()
	ca.posted()

	both := func(kind string) {
		t.Helper()
		ca.kindEvent(kind)
		cb.kindEvent(kind)
	}
	ca.write(map[string]any{"type": "message:edit", "data": map[string]any{"room": room, "id": ids[1], "text": "edited text"}})
	both(events.MessageEdited)
	cb.write(map[string]any{"type": "reaction:add", "data": map[string]any{"room": room, "id": gone, "emoji": "👀"}})
	both(events.ReactionAdded)
	for range 2 { // the resend changes nothing
		cb.write(map[string]any{"type": "reaction:add", "data": map[string]any{"room": room, "id": ids[1], "emoji": "👍"}})
	}
	both(events.ReactionAdded)
	ca.write(map[string]any{"type": "reaction:add", "data": map[string]any{"room": room, "id": ids[1], "emoji": "👍"}})
	both(events.ReactionAdded)
	ca.write(map[string]any{"type": "reaction:add", "data": map[string]any{"room": room, "id": ids[1], "emoji": "🎉"}})
	both(events.ReactionAdded)
	ca.write(map[string]any{"type": "reaction:remove", "data": map[string]any{"room": room, "id": ids[1], "emoji": "🎉"}})
	both(events.ReactionRemoved)
	ca.write(map[string]any{"type": "message:delete", "data": map[string]any{"room": room, "id": gone}})
	both(events.MessageDeleted)
	cb.quiet(300 * time.Millisecond) // bob's second 👍 said nothing
	s.waitProjections()

	page := s.sameAnswer(pg, "/api/rooms/"+room+"/messages", alice, "history")
	var h struct {
		Messages []struct {
			ID        uint64
			Text      string
			Deleted   bool
			Reactions map[string][]string
			ReplyTo   *uint64
		}
		HasMore bool
	}
	if err := json.Unmarshal(page, &h); err != nil {
		t.Fatal(err)
	}
	if len(h.Messages) != 8 || h.HasMore {
		t.Fatalf("history: %s", page)
	}
	if m := h.Messages[1]; m.Text != "edited text" || fmt.Sprint(m.Reactions) != "map[👍:[bob alice]]" {
		t.Fatalf("edited message with reactions: %+v", m)
	}
	if m := h.Messages[6]; m.ID != gone || !m.Deleted || m.Text != "" || len(m.Reactions) != 0 {
		t.Fatalf("deleted message: %+v", m)
	}
	if m := h.Messages[7]; m.ReplyTo == nil || *m.ReplyTo != ids[0] {
		t.Fatalf("reply: %+v", m)
	}
	if bytes.Contains(page, []byte(secret)) {
		t.Fatal("the deleted text is in the history")
	}
	s.sameAnswer(pg, "/api/rooms/"+room+"/messages?limit=3", alice, "history")
	s.sameAnswer(pg, fmt.Sprintf("/api/rooms/%s/messages?before=%d&limit=2", room, ids[4]), bob, "history")
	s.sameAnswer(pg, fmt.Sprintf("/api/rooms/%s/messages?before=%d", room, ids[0]), bob, "history")

	for _, path := range []string{"/api/rooms", "/api/rooms/" + room} {
		read := "rooms"
		if path != "/api/rooms" {
			read = "room"
		}
		hits := s.cacheReads(read, "hit")
		_, fromCache := s.raw(s.baseURL, path, alice)
		_, fromPG := s.raw(pg, path, alice)
		if s.cacheReads(read, "hit") != hits+1 {
			t.Fatalf("GET %s was not answered by the cache", path)
		}
		if got, want := withoutOnline(t, fromCache), withoutOnline(t, fromPG); got != want {
			t.Fatalf("GET %s:\ncache:    %s\npostgres: %s", path, got, want)
		}
		if !bytes.Contains(fromCache, []byte(`"onlineCount":2`)) {
			t.Fatalf("GET %s: alice and bob are online: %s", path, fromCache)
		}
	}

	st := s.cacheStore()
	gen, _, _, err := st.Current(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	keys, err := st.Dump(context.Background(), gen)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(keys, secret) || !strings.Contains(keys, "edited text") {
		t.Fatalf("the cache holds the deleted text, or not the edited one:\n%s", keys)
	}

	// A client that reconnects gets the delete after the post, so what it
	// shows has no deleted text either.
	again := s.dial(bob)
	_, missed := again.join(room, &joined)
	shown := map[uint64]string{}
	for _, ev := range missed {
		switch ev.Kind {
		case events.MessagePosted:
			var m messageData
			_ = json.Unmarshal(ev.Data, &m)
			shown[m.ID] = m.Text
		case events.MessageEdited, events.MessageDeleted:
			var d struct {
				ID   uint64
				Text string
			}
			_ = json.Unmarshal(ev.Data, &d)
			shown[d.ID] = d.Text
		}
	}
	if len(shown) != 8 || shown[gone] != "" || shown[ids[1]] != "edited text" {
		t.Fatalf("a reconnecting client shows %v", shown)
	}
}

// A room with more messages than the window: the cache answers the pages
// it holds completely, Postgres the ones reaching past it, alike.
func TestCacheWindowPages(t *testing.T) {
	s := newSystem(t, withRateLimit(1_000_000), withFrameRate(1000))
	pg := s.pgGateway()
	alice := s.register("alice")
	room := s.createRoom(alice, "long room")
	ca := s.dial(alice)
	ca.join(room, nil)
	const n = cachelayout.DefaultWindow + 20
	for i := range n {
		ca.send(room, fmt.Sprint("w", i), fmt.Sprint("message ", i))
	}
	msgs := s.waitPG(room, n)
	id := func(i int) uint64 { return msgs[i].ID }
	page := func(b []byte) (count int, more bool) {
		var p struct {
			Messages []messageData
			HasMore  bool
		}
		if err := json.Unmarshal(b, &p); err != nil {
			t.Fatal(err)
		}
		return len(p.Messages), p.HasMore
	}
	// The window holds messages 20..119.
	for _, tc := range []struct {
		path   string
		cached bool
		count  int
		more   bool
	}{
		{"/api/rooms/%s/messages", true, 50, true},
		{"/api/rooms/%s/messages?limit=100", true, 100, true},
		{fmt.Sprintf("/api/rooms/%%s/messages?before=%d&limit=50", id(90)), true, 50, true},  // 70 held below
		{fmt.Sprintf("/api/rooms/%%s/messages?before=%d&limit=70", id(90)), true, 70, true},  // exactly the 70
		{fmt.Sprintf("/api/rooms/%%s/messages?before=%d&limit=71", id(90)), false, 71, true}, // one beyond the window
		{fmt.Sprintf("/api/rooms/%%s/messages?before=%d&limit=50", id(30)), false, 30, false},
		{fmt.Sprintf("/api/rooms/%%s/messages?before=%d", id(0)), false, 0, false},
	} {
		path := fmt.Sprintf(tc.path, room)
		var b []byte
		if tc.cached {
			b = s.sameAnswer(pg, path, alice, "history")
		} else {
			b = s.pgAnswer(pg, path, alice)
		}
		if count, more := page(b); count != tc.count || more != tc.more {
			t.Fatalf("GET %s: %d messages, more %v", path, count, more)
		}
	}
}

// Reactions resent change nothing, and the counts are right after the
// projector restarts, in the cache as in Postgres.
func TestCacheReactionsAcrossProjectorRestart(t *testing.T) {
	s := newSystem(t)
	pg := s.pgGateway()
	tokens := map[string]string{}
	var clients []*client
	for _, u := range []string{"ann", "ben", "cid"} {
		tokens[u] = s.register(u)
		clients = append(clients, s.dial(tokens[u]))
	}
	room := s.createRoom(tokens["ann"], "reactions")
	for _, c := range clients {
		c.join(room, nil)
	}
	clients[0].send(room, "m", "react to me")
	id := clients[0].posted().ID
	react := func(c *client, typ, emoji string) {
		c.write(map[string]any{"type": typ, "data": map[string]any{"room": room, "id": id, "emoji": emoji}})
	}
	for range 3 {
		react(clients[1], "reaction:add", "👍")
	}
	react(clients[2], "reaction:add", "👍")
	s.waitProjections()

	s.projectorStop()
	for range 3 {
		react(clients[0], "reaction:add", "👍")
		react(clients[2], "reaction:add", "❤️")
	}
	react(clients[1], "reaction:remove", "👍")
	react(clients[1], "reaction:remove", "👍")
	// Wait until the log holds the three facts those commands make.
	evt, err := s.js.Stream(context.Background(), events.EvtStream)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "the reactions in the log", func() bool {
		facts, _, err := events.ReadRoom(context.Background(), s.js, evt, room, 0, 0)
		n := 0
		for _, f := range facts {
			if f.Type == events.ReactionAdded || f.Type == events.ReactionRemoved {
				n++
			}
		}
		return err == nil && n == 5
	})
	s.startProjector()
	s.waitProjections()

	page := s.sameAnswer(pg, "/api/rooms/"+room+"/messages", tokens["ben"], "history")
	var h struct {
		Messages []struct{ Reactions map[string][]string }
	}
	if err := json.Unmarshal(page, &h); err != nil {
		t.Fatal(err)
	}
	if len(h.Messages) != 1 || fmt.Sprint(h.Messages[0].Reactions) != "map[❤️:[cid] 👍:[cid ann]]" {
		t.Fatalf("reactions after the restart: %s", page)
	}
}

// Redis loses everything: reads stay right (Postgres answers), then the
// cache comes back by itself and answers again.
func TestCacheFlushFallsBack(t *testing.T) {
	s := newSystem(t)
	pg := s.pgGateway()
	alice := s.register("alice")
	room := s.createRoom(alice, "flushed")
	ca := s.dial(alice)
	ca.join(room, nil)
	for i := range 5 {
		ca.send(room, fmt.Sprint("f", i), fmt.Sprint("before the flush ", i))
		ca.posted()
	}
	s.waitProjections()
	want := s.sameAnswer(pg, "/api/rooms/"+room+"/messages", alice, "history")

	s.flushRedis("*") // what FLUSHALL does to this system
	misses := s.cacheReads("history", "miss")
	code, got := s.raw(s.baseURL, "/api/rooms/"+room+"/messages", alice)
	if code != http.StatusOK || !bytes.Equal(got, want) {
		t.Fatalf("history after the flush: %d %s\nwant %s", code, got, want)
	}
	if s.cacheReads("history", "miss") < misses+1 {
		// The view may have rebuilt it already; then it must answer alike.
		t.Logf("the cache was back before the first read")
	}
	// Back without any new fact (the view checks every few seconds).
	s.waitCache(s.logHead())
	s.sameAnswer(pg, "/api/rooms/"+room+"/messages", alice, "history")
	ca.send(room, "after", "after the flush")
	ca.posted()
	s.waitProjections()
	s.sameAnswer(pg, "/api/rooms/"+room+"/messages", alice, "history")
}

// The cache is rebuilt from the log (cachewriter.Rebuild, what chillin-replay
// rebuild -view redis runs) while 20 clients keep sending and readers keep
// reading: the readers never see an error or an empty room, every message
// sent is in the new generation's window or older than it, and the new
// generation equals the whole log applied once.
func TestCacheRebuildWhileLive(t *testing.T) {
	s := newSystem(t, withRateLimit(1_000_000), withFrameRate(1000))
	const clients = 20
	room, tokens, conns := s.busyRoom("Busy Cache", clients)
	for i := range 150 { // more than the window
		conns[0].send(room, fmt.Sprint("early-", i), fmt.Sprint("early message ", i))
	}
	s.waitPG(room, 150)
	st := s.cacheStore()
	genBefore, _, _, err := st.Current(context.Background())
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errs := make(chan error, 1000)
	rd := keepReading(ctx, tokens[:3], errs, func(ctx context.Context, tok string) error {
		var rooms struct{ Rooms []struct{ ID string } }
		var page struct {
			Messages []messageData
			HasMore  bool
		}
		err := s.getJSON(ctx, "/api/rooms", tok, &rooms)
		if err == nil {
			err = s.getJSON(ctx, "/api/rooms/"+room+"/messages", tok, &page)
		}
		if err == nil && (len(rooms.Rooms) != 1 || len(page.Messages) != 50 || !page.HasMore) {
			err = fmt.Errorf("%d rooms, %d messages (more: %v)", len(rooms.Rooms), len(page.Messages), page.HasMore)
		}
		return err
	})
	tr := keepSending(ctx, conns, room, errs)

	time.Sleep(time.Second) // traffic before the rebuild
	readsBefore := rd.reads.Load()
	var last, head uint64
	rep, err := cachewriter.Rebuild{Store: st, Source: cachewriter.Source{JS: s.js, Log: s.log}, Chunk: 50, Log: s.log,
		Progress: func(done, h uint64) { last, head = done, h }}.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	readsDuring := rd.reads.Load() - readsBefore
	time.Sleep(time.Second) // traffic after the switch
	total := 150 + tr.Stop()
	s.waitPG(room, total) // and the cache, up to the same fact
	reads := rd.Stop()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	t.Logf("rebuilt generation %d (replacing %d) through seq %d of %d in %s; %d messages, %d reads (%d during the rebuild)",
		rep.Gen, rep.Old, last, head, rep.Took, total, reads, readsDuring)
	if rep.Old != genBefore || rep.Dropped == 0 {
		t.Errorf("rebuild replaced generation %d, dropping %d keys; generation %d was current", rep.Old, rep.Dropped, genBefore)
	}
	if readsDuring == 0 {
		t.Error("no read completed during the rebuild")
	}

	// Every message sent, before, during and after the rebuild, is in the
	// room: the newest 100 in the cache's window, all of them in history.
	gen, cp, _, err := st.Current(context.Background())
	if err != nil || gen != rep.Gen {
		t.Fatalf("current generation %d (%v), the rebuild made %d", gen, err, rep.Gen)
	}
	entry, window, _, err := st.ReadRoom(context.Background(), gen, room)
	if err != nil {
		t.Fatal(err)
	}
	pgMsgs := s.pgMessages(room)
	if int(entry.Posted) != total || len(window) != cachelayout.DefaultWindow || len(pgMsgs) != total {
		t.Fatalf("cache: %d posted, window of %d; postgres %d; sent %d", entry.Posted, len(window), len(pgMsgs), total)
	}
	for i, m := range window {
		if want := pgMsgs[total-cachelayout.DefaultWindow+i]; m.ID != want.ID || m.ClientID != want.ClientID || m.Text != want.Text {
			t.Fatalf("window message %d: %+v, postgres has %+v", i, m, want)
		}
	}
	tr.checkAllIn(t, pgMsgs)

	// The new generation equals the whole log applied once; applying it all
	// again changes nothing.
	got, err := st.Dump(context.Background(), gen)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := st.NewGen(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	facts, _, err := cachewriter.Source{JS: s.js}.Read(context.Background(), 1, cp, int(cp))
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if res, _, err := st.Apply(context.Background(), ref, 1, cp, facts); err != nil || res.Status != cachewriter.Applied {
			t.Fatalf("full replay: %+v %v", res, err)
		}
		want, err := st.Dump(context.Background(), ref)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Fatal("the rebuilt generation differs from a full replay of the log")
		}
	}
	if _, err := st.Drop(context.Background(), ref); err != nil {
		t.Fatal(err)
	}
}
