package validator

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chillin-chat/chillin/events"
	"github.com/chillin-chat/chillin/events/ratelimit"
	"github.com/nats-io/nats.go/jetstream"
)

func TestMessagesGapFreeInCommandOrder(t *testing.T) {
	h := newHarness(t)
	h.createRoom("lobby", "alice", false, "")
	h.start(h.config())
	const n = 200
	cmds := make([]events.Command, n)
	for i := range cmds {
		cmds[i] = h.message("alice", "lobby", fmt.Sprint("c", i), fmt.Sprintf("message %d", i))
		h.send(cmds[i])
	}
	facts := h.waitHead("lobby", n+1)
	h.waitSettled()
	facts = h.roomFacts("lobby")
	if len(facts) != n+1 {
		t.Fatalf("%d facts, want %d", len(facts), n+1)
	}
	for i, f := range facts[1:] {
		d := postedData(t, f)
		if f.Type != events.MessagePosted || f.Seq != uint64(i+2) || f.Cmd != cmds[i].ID || f.User != "alice" ||
			d.Text != fmt.Sprintf("message %d", i) || d.ClientID != fmt.Sprint("c", i) {
			t.Fatalf("seq %d: %s by %s cmd %s text %q, want command %d", f.Seq, f.Type, f.User, f.Cmd, d.Text, i)
		}
	}
}

func TestResendAnswersWithTheOriginal(t *testing.T) {
	h := newHarness(t)
	h.createRoom("lobby", "alice", false, "")
	h.start(h.config())
	reply, next := h.outcomes()

	first := h.message("alice", "lobby", "k1", "the original")
	h.send(first)
	facts := h.waitHead("lobby", 2)
	original := facts[1]

	again := h.message("alice", "lobby", "k1", "a different text")
	again.Reply = reply
	h.send(again)
	o := next()
	want, err := events.EventFrame(original)
	if err != nil {
		t.Fatal(err)
	}
	if o.Cmd != again.ID || o.Error != nil || o.HeadSeq != 2 || !bytes.Equal(o.Frame, want) {
		t.Fatalf("outcome %+v\nframe %s\nwant  %s", o, o.Frame, want)
	}

	// Back-to-back duplicates (a client retrying before any answer) and a
	// fresh message after them.
	for range 3 {
		h.send(h.message("alice", "lobby", "k2", "twice"))
	}
	h.send(h.message("alice", "lobby", "k3", "after"))
	facts = h.waitHead("lobby", 4)
	h.waitSettled()
	facts = h.roomFacts("lobby")
	var ids []string
	for _, f := range posted(t, facts) {
		ids = append(ids, postedData(t, f).ClientID)
	}
	if strings.Join(ids, ",") != "k1,k2,k3" {
		t.Fatalf("posted clientIds %v, want k1,k2,k3", ids)
	}
	if rs := h.rejections("alice"); len(rs) != 0 {
		t.Fatalf("resends were rejected: %+v", rs)
	}
}

func TestRejections(t *testing.T) {
	h := newHarness(t)
	h.createRoom("lobby", "alice", false, "")
	cfg := h.config()
	cfg.RateLimit = 3
	cfg.RateWindow = time.Hour
	cfg.MaxTextRunes = 50
	h.start(cfg)

	ghost := h.newSession("ghost", events.SessionStarted, time.Time{})
	h.sessionFact("ghost", events.SessionRevoked, ghost, time.Time{})
	expired := h.newSession("late", events.SessionStarted, time.Now().Add(-time.Minute))

	for _, tc := range []struct {
		name    string
		user    string
		session string
		room    string
		data    events.MessageSend
		code    string
	}{
		{"unknown session", "mallory", "0000", "lobby", events.MessageSend{Text: "hi", ClientID: "a"}, events.CodeUnauthenticated},
		{"revoked session", "ghost", ghost, "lobby", events.MessageSend{Text: "hi", ClientID: "a"}, events.CodeUnauthenticated},
		{"expired session", "late", expired, "lobby", events.MessageSend{Text: "hi", ClientID: "a"}, events.CodeUnauthenticated},
		{"no such room", "alice", "", "attic", events.MessageSend{Text: "hi", ClientID: "a"}, events.CodeNoSuchRoom},
		{"not a member", "bob", "", "lobby", events.MessageSend{Text: "hi", ClientID: "a"}, events.CodeNotMember},
		{"blank", "alice", "", "lobby", events.MessageSend{Text: " \n ", ClientID: "a"}, events.CodeEmptyMessage},
		{"too long", "alice", "", "lobby", events.MessageSend{Text: strings.Repeat("ж", 51), ClientID: "b"}, events.CodeMessageTooLong},
		{"bidi override", "alice", "", "lobby", events.MessageSend{Text: "evil\u202etxt", ClientID: "c"}, events.CodeInvalidContent},
		{"attachments", "alice", "", "lobby", events.MessageSend{Text: "pic", ClientID: "d", Attachments: []events.Attachment{{Key: "k"}}}, events.CodeBadAttachment},
		{"reply to nothing", "alice", "", "lobby", events.MessageSend{Text: "re", ClientID: "e", ReplyTo: 999}, events.CodeNoSuchMessage},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := h.command(events.CmdMessageSend, tc.user, tc.room, tc.data)
			if tc.session != "" {
				cmd.Session = tc.session
			}
			cmd.Ref, cmd.Conn = "ref-"+tc.name, "conn-1"
			before := len(h.rejections(tc.user))
			h.send(cmd)
			r := h.waitRejections(tc.user, before+1)[before]
			want := events.CommandRejectedData{Command: events.CmdMessageSend, Room: tc.room, ClientID: tc.data.ClientID,
				Ref: cmd.Ref, Conn: "conn-1", Code: tc.code, Message: r.Message}
			if r != want || r.Message == "" {
				t.Fatalf("rejection %+v, want %+v", r, want)
			}
		})
	}

	// Rate limit: 3 accepted, the 4th refused with a retry time; the refused
	// ones above did not count, and neither does a resend.
	t.Run("rate limited", func(t *testing.T) {
		for i := range 3 {
			h.send(h.message("alice", "lobby", fmt.Sprint("r", i), "ok"))
		}
		h.send(h.message("alice", "lobby", "r0", "resend"))
		before := len(h.rejections("alice"))
		h.send(h.message("alice", "lobby", "r3", "one too many"))
		r := h.waitRejections("alice", before+1)[before]
		if r.Code != events.CodeRateLimited || r.RetryAfterMs <= 0 || r.RetryAfterMs > time.Hour.Milliseconds() || r.ClientID != "r3" {
			t.Fatalf("rejection %+v", r)
		}
		if n := len(posted(t, h.waitHead("lobby", 4))); n != 3 {
			t.Fatalf("%d messages posted, want 3", n)
		}
	})
	h.waitSettled()
	if head := len(h.roomFacts("lobby")); head != 4 {
		t.Fatalf("room has %d facts, want 4 (created + 3 messages)", head)
	}
}

func TestMembershipOutcomes(t *testing.T) {
	h := newHarness(t)
	h.createRoom("vault", "alice", true, "sesame")
	h.start(h.config())
	reply, next := h.outcomes()

	for _, tc := range []struct {
		name string
		typ  string
		user string
		room string
		data any
		code string
		head uint64
	}{
		{"wrong password", events.CmdRoomJoin, "bob", "vault", events.RoomJoin{Password: "nope"}, events.CodeWrongPassword, 1},
		{"no password", events.CmdRoomJoin, "bob", "vault", events.RoomJoin{}, events.CodeWrongPassword, 1},
		{"right password", events.CmdRoomJoin, "bob", "vault", events.RoomJoin{Password: "sesame"}, "", 2},
		{"join again", events.CmdRoomJoin, "bob", "vault", events.RoomJoin{Password: "whatever"}, "", 2},
		{"no such room", events.CmdRoomJoin, "bob", "cellar", events.RoomJoin{}, events.CodeNoSuchRoom, 0},
		{"leave", events.CmdRoomLeave, "bob", "vault", events.RoomLeave{}, "", 3},
		{"leave again", events.CmdRoomLeave, "bob", "vault", events.RoomLeave{}, "", 3},
		{"send after leaving", events.CmdMessageSend, "bob", "vault", events.MessageSend{Text: "hi", ClientID: "x"}, events.CodeNotMember, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := h.command(tc.typ, tc.user, tc.room, tc.data)
			cmd.Reply = reply
			h.send(cmd)
			if !events.AnsweredByReply(tc.typ) {
				if r := h.waitRejections(tc.user, 4); r[3].Code != tc.code {
					t.Fatalf("rejection %+v", r[3])
				}
				return
			}
			o := next()
			if o.Cmd != cmd.ID || outcomeCode(o) != tc.code || o.HeadSeq != tc.head {
				t.Fatalf("outcome %+v (error %v), want code %q head %d", o, o.Error, tc.code, tc.head)
			}
		})
	}
	facts := h.roomFacts("vault")
	if got := factKinds(facts); got != "room.created:alice member.joined:bob member.left:bob" {
		t.Fatalf("room facts: %s", got)
	}
	// Refused joins are recorded too (the gateway answers them from the outcome).
	rs := h.rejections("bob")
	if len(rs) != 4 || rs[0].Code != events.CodeWrongPassword || rs[0].Command != events.CmdRoomJoin || rs[2].Code != events.CodeNoSuchRoom {
		t.Fatalf("rejections %+v", rs)
	}
}

func TestEditDeleteReact(t *testing.T) {
	h := newHarness(t)
	h.createRoom("lobby", "alice", false, "")
	h.start(h.config())
	h.send(h.command(events.CmdRoomJoin, "bob", "lobby", events.RoomJoin{}))
	h.send(h.message("alice", "lobby", "m", "hello"))
	msg := h.waitHead("lobby", 3)[2].ID

	h.send(h.command(events.CmdMessageEdit, "alice", "lobby", events.MessageEdit{ID: msg, Text: "hello, edited"}))
	h.send(h.command(events.CmdMessageEdit, "bob", "lobby", events.MessageEdit{ID: msg, Text: "hijack"}))
	h.send(h.command(events.CmdReactionAdd, "bob", "lobby", events.ReactionChange{ID: msg, Emoji: "👍"}))
	h.send(h.command(events.CmdReactionAdd, "bob", "lobby", events.ReactionChange{ID: msg, Emoji: "👍"}))
	h.send(h.command(events.CmdReactionRemove, "bob", "lobby", events.ReactionChange{ID: msg, Emoji: "👍"}))
	h.send(h.command(events.CmdReactionRemove, "bob", "lobby", events.ReactionChange{ID: msg, Emoji: "👍"}))
	h.send(h.command(events.CmdMessageDelete, "bob", "lobby", events.MessageDelete{ID: msg}))
	h.send(h.command(events.CmdMessageDelete, "alice", "lobby", events.MessageDelete{ID: msg}))
	h.send(h.command(events.CmdMessageEdit, "alice", "lobby", events.MessageEdit{ID: msg, Text: "too late"}))
	h.waitRejections("alice", 1)
	h.waitSettled()

	want := "message.edited:alice reaction.added:bob reaction.removed:bob message.deleted:alice"
	if got := factKinds(h.roomFacts("lobby")[3:]); got != want {
		t.Fatalf("facts after the message:\n got %s\nwant %s", got, want)
	}
	var codes []string
	for _, r := range h.rejections("bob") {
		codes = append(codes, r.Code)
	}
	if got := strings.Join(codes, " "); got != "NOT_OWNER NOT_OWNER" {
		t.Fatalf("bob's rejections: %s", got)
	}
	if r := h.rejections("alice"); len(r) != 1 || r[0].Code != events.CodeNoSuchMessage {
		t.Fatalf("alice's rejections: %+v", r)
	}
}

// A user who logged in a moment ago: the session fact is in the log but the
// validator has not seen it on its live feed.
func TestFreshSessionIsReadFromTheLog(t *testing.T) {
	h := newHarness(t)
	h.createRoom("lobby", "alice", false, "")
	h.start(h.config())
	h.send(h.message("alice", "lobby", "warm-up", "x"))
	h.waitHead("lobby", 2)
	for i := range 20 {
		user := fmt.Sprint("newbie", i)
		h.send(h.command(events.CmdRoomJoin, user, "lobby", events.RoomJoin{}))
	}
	facts := h.waitHead("lobby", 22)
	if rs := h.rejections("newbie0"); len(rs) != 0 {
		t.Fatalf("fresh sessions refused: %+v", rs)
	}
	if facts[21].Type != events.MemberJoined {
		t.Fatalf("last fact %s", facts[21].Type)
	}
}

// Another writer appended to the room while this instance's cache was stale:
// a "not a member" from the cache must be checked against the log, and an
// append on the stale state must reload and decide again.
func TestStaleCacheIsConfirmed(t *testing.T) {
	h := newHarness(t)
	h.createRoom("lobby", "alice", false, "")
	h.start(h.config())
	h.send(h.message("alice", "lobby", "a1", "cached now"))
	h.waitHead("lobby", 2)

	f, err := events.NewFact(events.MemberJoined, "lobby", 3, "bob", "elsewhere-1", time.Now(), events.MemberJoinedData{})
	if err != nil {
		t.Fatal(err)
	}
	h.appendFact(events.RoomSubject("lobby"), f, jetstream.WithExpectLastSequencePerSubject(h.roomFacts("lobby")[1].ID))

	h.send(h.message("bob", "lobby", "b1", "I joined elsewhere"))
	h.send(h.message("alice", "lobby", "a2", "after the outside append"))
	facts := h.waitHead("lobby", 5)
	h.waitSettled()
	if rs := h.rejections("bob"); len(rs) != 0 {
		t.Fatalf("bob refused on a stale cache: %+v", rs)
	}
	if len(h.roomFacts("lobby")) != 5 || postedData(t, facts[3]).ClientID != "b1" || postedData(t, facts[4]).ClientID != "a2" {
		t.Fatalf("facts %+v", facts)
	}
}

// An instance that appended a fact and stopped before acking its command:
// the redelivered command must not append a second fact, whether the next
// instance has the room cached (stale) or loads it fresh.
func TestCrashAfterAppendBeforeAck(t *testing.T) {
	h := newHarness(t)
	h.createRoom("lobby", "alice", false, "")
	in := h.start(h.config())
	h.send(h.message("alice", "lobby", "m1", "original"))
	facts := h.waitHead("lobby", 2)
	msg := facts[1].ID

	crashed := func(cmd events.Command, typ string, data any) {
		t.Helper()
		last := h.roomFacts("lobby")
		head := last[len(last)-1]
		f, err := events.NewFact(typ, "lobby", head.Seq+1, cmd.User, cmd.ID, time.Now(), data)
		if err != nil {
			t.Fatal(err)
		}
		h.appendFact(events.RoomSubject("lobby"), f, jetstream.WithMsgID(cmd.ID), jetstream.WithExpectLastSequencePerSubject(head.ID))
		h.send(cmd)
	}
	// Edits are not idempotent by content: only the command id tells.
	edit := h.command(events.CmdMessageEdit, "alice", "lobby", events.MessageEdit{ID: msg, Text: "edited once"})
	crashed(edit, events.MessageEdited, events.MessageEditedData{ID: msg, Text: "edited once"})
	send := h.message("alice", "lobby", "m2", "sent once")
	crashed(send, events.MessagePosted, events.MessagePostedData{Text: "sent once", ClientID: "m2"})
	h.send(h.message("alice", "lobby", "m3", "sentinel"))
	h.waitHead("lobby", 5)
	h.waitSettled()

	// Now with a new instance that has nothing cached.
	in.stop(t)
	edit2 := h.command(events.CmdMessageEdit, "alice", "lobby", events.MessageEdit{ID: msg, Text: "edited twice"})
	crashed(edit2, events.MessageEdited, events.MessageEditedData{ID: msg, Text: "edited twice"})
	h.start(h.config())
	h.send(h.message("alice", "lobby", "m4", "sentinel 2"))
	h.waitHead("lobby", 7)
	h.waitSettled()

	facts = h.roomFacts("lobby")
	var kinds []string
	for _, f := range facts {
		kinds = append(kinds, f.Type)
	}
	want := "room.created message.posted message.edited message.posted message.posted message.edited message.posted"
	if got := strings.Join(kinds, " "); got != want {
		t.Fatalf("facts:\n got %s\nwant %s", got, want)
	}
	for _, c := range []events.Command{edit, send, edit2} {
		n := 0
		for _, f := range facts {
			if f.Cmd == c.ID {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("command %s (%s) has %d facts", c.ID, c.Type, n)
		}
	}
}

// burst sends n messages round-robin from users into room, calling between
// after every message, and returns the commands in send order.
func burst(h *harness, room string, users []string, n int, between func(i int)) []events.Command {
	h.t.Helper()
	cmds := make([]events.Command, n)
	for i := range cmds {
		u := users[i%len(users)]
		cmds[i] = h.message(u, room, fmt.Sprintf("%s-%d", u, i), fmt.Sprintf("%s says %d", u, i))
		h.send(cmds[i])
		between(i)
	}
	return cmds
}

// checkBurst asserts that the room holds each command's message exactly
// once, seqs without gaps, and each user's messages in the order sent.
func checkBurst(t *testing.T, h *harness, room string, cmds []events.Command, extra int) {
	t.Helper()
	h.waitHead(room, uint64(len(cmds)+extra))
	h.waitSettled()
	facts := h.roomFacts(room)
	if len(facts) != len(cmds)+extra {
		t.Fatalf("%d facts, want %d", len(facts), len(cmds)+extra)
	}
	want := map[string]int{}
	for i, c := range cmds {
		want[c.ID] = i
	}
	seen := map[string]bool{}
	lastOf := map[string]int{}
	for _, f := range posted(t, facts) {
		i, ok := want[f.Cmd]
		if !ok {
			t.Fatalf("seq %d: fact of unknown command %s", f.Seq, f.Cmd)
		}
		if seen[f.Cmd] {
			t.Fatalf("seq %d: second fact of command %d", f.Seq, i)
		}
		seen[f.Cmd] = true
		if prev, ok := lastOf[f.User]; ok && prev > i {
			t.Fatalf("seq %d: %s's message %d after their message %d", f.Seq, f.User, i, prev)
		}
		lastOf[f.User] = i
	}
	if len(seen) != len(cmds) {
		t.Fatalf("%d of %d messages in the room", len(seen), len(cmds))
	}
}

func joinAll(h *harness, room string, users []string) {
	h.t.Helper()
	for _, u := range users {
		h.send(h.command(events.CmdRoomJoin, u, room, events.RoomJoin{}))
	}
	h.waitHead(room, uint64(1+len(users)))
}

func TestTwoInstancesOneRoom(t *testing.T) {
	h := newHarness(t)
	h.createRoom("lobby", "alice", false, "")
	a := h.start(h.config())
	b := h.start(h.config())
	users := []string{"u1", "u2", "u3", "u4", "u5"}
	joinAll(h, "lobby", users)

	// Both run throughout most of the burst; then whichever was pinned may
	// be stopped and replaced, so the room changes hands with a stale cache.
	cmds := burst(h, "lobby", users, 500, func(i int) {
		switch i {
		case 150:
			a.stop(t)
		case 250:
			a = h.start(h.config())
		case 350:
			b.stop(t)
		}
	})
	checkBurst(t, h, "lobby", cmds, 1+len(users))
}

func TestRestartMidBurst(t *testing.T) {
	h := newHarness(t)
	h.createRoom("lobby", "alice", false, "")
	h.createRoom("den", "alice", false, "")
	in := h.start(h.config())
	users := []string{"u1", "u2", "u3"}
	joinAll(h, "lobby", users)
	joinAll(h, "den", users)

	restart := func() {
		in.stop(t)
		in = h.start(h.config())
	}
	var lobby []events.Command
	den := burst(h, "den", users, 250, func(i int) {
		c := h.message(users[i%3], "lobby", fmt.Sprint("l", i), fmt.Sprint("lobby ", i))
		h.send(c)
		lobby = append(lobby, c)
		if i%60 == 30 {
			restart()
		}
	})
	checkBurst(t, h, "lobby", lobby, 1+len(users))
	checkBurst(t, h, "den", den, 1+len(users))
}

func TestRunReturnsOnCancelWhileIdle(t *testing.T) {
	h := newHarness(t)
	for range 3 {
		in := h.start(h.config())
		h.waitPulling()
		in.stop(t)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Run(ctx, h.config()); err != nil {
		t.Fatalf("Run with an ended context: %v", err)
	}
}

func TestRunRejectsBadConfig(t *testing.T) {
	for _, cfg := range []Config{
		{},
		{NATSURL: "nats://127.0.0.1:1", RateLimit: -1},
		{NATSURL: "nats://127.0.0.1:1", Workers: -2},
		{NATSURL: "nats://127.0.0.1:1", RoomCacheBytes: -1},
		{NATSURL: "nats://127.0.0.1:1", RoomMessages: -1},
		{NATSURL: "nats://127.0.0.1:1", RoomDigests: -1},
		{NATSURL: "nats://127.0.0.1:1", Sessions: -1},
	} {
		if err := Run(context.Background(), cfg); err == nil {
			t.Errorf("Run(%+v) started", cfg)
		}
	}
}

// Without a NATS server Run waits for one (natsconn retries the first
// connect) rather than failing, and a stop while it waits is a clean one.
func TestRunWaitsForNATS(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if err := Run(ctx, Config{NATSURL: "nats://127.0.0.1:1"}); err != nil {
		t.Errorf("Run without a NATS server, stopped while waiting: %v", err)
	}
	if ctx.Err() == nil {
		t.Error("Run returned before it was stopped")
	}
}

// BenchmarkThroughput measures commands decided and appended per second,
// end to end: appended to CHAT_CMD, decided, appended to CHAT_EVT, acked;
// eight users spread over the rooms; the rate limit counted in Redis and,
// for comparison, in process.
func BenchmarkThroughput(b *testing.B) {
	for _, limiter := range []string{"redis", "local"} {
		for _, rooms := range []int{1, 16, 256} {
			b.Run(fmt.Sprintf("limiter=%s/rooms=%d", limiter, rooms), func(b *testing.B) {
				benchmarkThroughput(b, limiter == "redis", rooms)
			})
		}
	}
}

func benchmarkThroughput(b *testing.B, redis bool, rooms int) {
	h := newHarness(b)
	users := []string{"alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"}
	names := make([]string, rooms)
	for i := range names {
		names[i] = fmt.Sprint("room-", i)
		h.createRoom(names[i], "alice", false, "")
		h.joinDirect(names[i], users[1:]...)
	}
	cfg := h.config()
	if !redis {
		cfg.RedisURL = ""
	}
	h.start(cfg)
	payloads := make([][]byte, b.N)
	ids := make([]string, b.N)
	subjects := make([]string, b.N)
	for i := range payloads {
		room := names[i%rooms]
		cmd := h.message(users[i%len(users)], room, fmt.Sprint("b", i), "a message of an ordinary length, nothing special")
		payloads[i], _ = json.Marshal(cmd)
		ids[i], subjects[i] = cmd.ID, events.RoomCmdSubject(room)
	}
	b.ResetTimer()
	start := time.Now()
	for i := range payloads {
		if _, err := h.js.PublishAsync(subjects[i], payloads[i], jetstream.WithMsgID(ids[i])); err != nil {
			b.Fatal(err)
		}
	}
	select {
	case <-h.js.PublishAsyncComplete():
	case <-time.After(waitFor):
		b.Fatal("commands not appended")
	}
	h.waitSettled()
	elapsed := time.Since(start)
	b.StopTimer()
	for _, u := range users {
		if rs := h.rejections(u); len(rs) != 0 {
			b.Fatalf("%d commands of %s rejected, first: %+v", len(rs), u, rs[0])
		}
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "cmds/s")
}

func TestUnreadableCommandIsDropped(t *testing.T) {
	h := newHarness(t)
	h.createRoom("lobby", "alice", false, "")
	h.start(h.config())
	for i, b := range [][]byte{
		[]byte("not json"),
		[]byte(`{"type":"message.send","v":7,"id":"x1","user":"alice"}`),
		[]byte(`{"type":"message.send","v":1,"id":"x2","user":"Not A User!","room":"lobby","data":{}}`),
	} {
		if _, err := h.js.Publish(context.Background(), events.RoomCmdSubject("lobby"), b, jetstream.WithMsgID(fmt.Sprint("junk-", i))); err != nil {
			t.Fatal(err)
		}
	}
	h.send(h.message("alice", "lobby", "after", "still working"))
	facts := h.waitHead("lobby", 2)
	h.waitSettled()
	if d := postedData(t, facts[1]); d.ClientID != "after" {
		t.Fatalf("fact %+v", facts[1])
	}
}

// syncBuffer is a log destination read after the writers stopped.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestLogsCarryNoTextOrPassword(t *testing.T) {
	h := newHarness(t)
	h.createRoom("vault", "alice", true, "hunter2-secret")
	var buf syncBuffer
	cfg := h.config()
	cfg.Logger = slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg.RateLimit = 1
	in := h.start(cfg)
	h.send(h.message("alice", "vault", "t1", "confidential-text-one"))
	h.send(h.message("alice", "vault", "t2", "confidential-text-two")) // rate limited
	h.send(h.command(events.CmdRoomJoin, "bob", "vault", events.RoomJoin{Password: "wrong-secret-guess"}))
	h.send(h.command(events.CmdRoomJoin, "carol", "vault", events.RoomJoin{Password: "hunter2-secret"}))
	h.waitHead("vault", 3)
	h.waitSettled()
	in.stop(t)
	logs := buf.String()
	if !strings.Contains(logs, `"msg":"appended"`) || !strings.Contains(logs, `"service":"validator"`) {
		t.Fatalf("debug logs missing:\n%s", logs)
	}
	for _, secret := range []string{"confidential-text", "hunter2-secret", "wrong-secret-guess", h.session("alice")} {
		if strings.Contains(logs, secret) {
			t.Fatalf("logs contain %q:\n%s", secret, logs)
		}
	}
}

// A flood of edits or of reactions is refused past its kind's limit with
// RATE_LIMITED, each kind counted apart from messages; the refusals are
// recorded on CHAT_REJ and none on the log.
func TestFloodsRefused(t *testing.T) {
	h := newHarness(t)
	h.createRoom("lobby", "alice", false, "")
	cfg := h.config()
	cfg.RateLimit = 2
	cfg.RateWindow = time.Hour
	cfg.RateLimits = ratelimit.Rules{ratelimit.Edit: {Limit: 3, Window: time.Hour}, ratelimit.Reaction: {Limit: 4, Window: time.Hour}}
	h.start(cfg)

	h.send(h.message("alice", "lobby", "m", "first"))
	m := posted(t, h.waitHead("lobby", 2))[0].ID
	const flood = 12
	for i := range flood {
		h.send(h.command(events.CmdMessageEdit, "alice", "lobby", events.MessageEdit{ID: m, Text: fmt.Sprint("edit ", i)}))
	}
	emoji := []string{"😀", "😁", "😂", "😃", "😄", "😅", "😆", "😇", "😈", "😉", "😊", "😋"}
	for i := range flood {
		h.send(h.command(events.CmdReactionAdd, "alice", "lobby", events.ReactionChange{ID: m, Emoji: emoji[i]}))
	}
	rs := h.waitRejections("alice", 2*flood-3-4)
	h.waitSettled()
	byCommand := map[string]int{}
	for _, r := range h.rejections("alice") {
		if r.Code != events.CodeRateLimited || r.RetryAfterMs <= 0 {
			t.Fatalf("rejection %+v, want RATE_LIMITED with a retry time", r)
		}
		byCommand[r.Command]++
	}
	if byCommand[events.CmdMessageEdit] != flood-3 || byCommand[events.CmdReactionAdd] != flood-4 || len(rs) != 2*flood-7 {
		t.Fatalf("refused %v, want %d edits and %d reactions", byCommand, flood-3, flood-4)
	}
	kinds := map[string]int{}
	for _, f := range h.roomFacts("lobby") {
		kinds[f.Type]++
	}
	if kinds[events.MessageEdited] != 3 || kinds[events.ReactionAdded] != 4 {
		t.Fatalf("room facts %v, want 3 edits and 4 reactions", kinds)
	}
	// The message window is its own: alice may still post one more.
	h.send(h.message("alice", "lobby", "m2", "second"))
	h.waitHead("lobby", uint64(2+3+4+1))
	// Nothing refused reached the log.
	if _, ok, err := events.LastOnSubject(context.Background(), h.evt, events.RejectedSubject("alice")); err != nil || ok {
		t.Fatalf("a refusal on %s (%v)", events.EvtStream, err)
	}
}

// Joining and leaving over and over is refused past the membership limit;
// the gateway waiting on the reply is told RATE_LIMITED. A join of a member
// changes nothing and is not counted.
func TestMembershipFloodRefused(t *testing.T) {
	h := newHarness(t)
	h.createRoom("lobby", "alice", false, "")
	cfg := h.config()
	cfg.RateLimits = ratelimit.Rules{ratelimit.Membership: {Limit: 3, Window: time.Hour}}
	h.start(cfg)
	reply, next := h.outcomes()
	for i := range 5 {
		typ, data := events.CmdRoomJoin, any(events.RoomJoin{})
		if i%2 == 1 || i > 3 { // join, leave, join, then leaves: each would change something
			typ, data = events.CmdRoomLeave, events.RoomLeave{}
		}
		cmd := h.command(typ, "bob", "lobby", data)
		cmd.Reply = reply
		h.send(cmd)
		o := next()
		want := ""
		if i >= 3 {
			want = events.CodeRateLimited
		}
		if o.Cmd != cmd.ID || outcomeCode(o) != want {
			t.Fatalf("%s %d: outcome %+v (error %v), want code %q", typ, i, o, o.Error, want)
		}
	}
	if got := factKinds(h.roomFacts("lobby")); got != "room.created:alice member.joined:bob member.left:bob member.joined:bob" {
		t.Fatalf("room facts: %s", got)
	}
}

// A resend of a message its author has since deleted is answered with the
// tombstone: deleted is gone for every reader, its author included. So it
// is once the message is older than the room's window, where its deletion
// is looked up.
func TestResendOfADeletedMessageGetsTheTombstone(t *testing.T) {
	for _, window := range []int{0, 1} {
		t.Run(fmt.Sprint("window ", window), func(t *testing.T) {
			h := newHarness(t)
			h.createRoom("lobby", "alice", false, "")
			cfg := h.config()
			cfg.RoomMessages = window
			h.start(cfg)
			reply, next := h.outcomes()

			h.send(h.message("alice", "lobby", "k1", "regretted words"))
			posted := h.waitHead("lobby", 2)[1]
			h.send(h.command(events.CmdMessageDelete, "alice", "lobby", events.MessageDelete{ID: posted.ID}))
			h.send(h.message("alice", "lobby", "k2", "pushes k1 out of a window of one"))
			h.waitHead("lobby", 4)

			again := h.message("alice", "lobby", "k1", "regretted words")
			again.Reply = reply
			h.send(again)
			o := next()
			for o.Cmd != again.ID {
				o = next()
			}
			if bytes.Contains(o.Frame, []byte("regretted")) {
				t.Fatalf("the resend got the deleted text back: %s", o.Frame)
			}
			var f struct {
				Data struct {
					ID   uint64          `json:"id"`
					Data json.RawMessage `json:"data"`
				} `json:"data"`
			}
			if err := json.Unmarshal(o.Frame, &f); err != nil || f.Data.ID != posted.ID || !bytes.Contains(f.Data.Data, []byte(`"deleted":true`)) {
				t.Fatalf("resend frame %s (%v), want the tombstone of message %d", o.Frame, err, posted.ID)
			}
		})
	}
}
