package validator

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chillin-chat/chillin/events"
	"github.com/chillin-chat/chillin/events/natstest"
	"github.com/chillin-chat/chillin/events/password"
	"github.com/chillin-chat/chillin/events/ratelimit"
	"github.com/chillin-chat/chillin/events/redistest"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// waitFor bounds every wait of these tests. It guards against hangs; no
// test asserts how long anything takes.
const waitFor = 90 * time.Second

// harness is an embedded JetStream server, the machine's Redis under a fresh
// prefix, and helpers that play the gateway's part.
type harness struct {
	t      testing.TB
	srv    *server.Server
	nc     *nats.Conn
	js     jetstream.JetStream
	evt    jetstream.Stream
	cmds   jetstream.Stream
	rej    jetstream.Stream
	prefix string

	mu       sync.Mutex
	sessions map[string]string // user → session id
}

func newHarness(t testing.TB) *harness {
	t.Helper()
	ctx := context.Background()
	srv := natstest.Start(t)
	nc, js := natstest.Connect(t, srv)
	if err := events.EnsureStreams(ctx, js, events.StreamOptions{}); err != nil {
		t.Fatal(err)
	}
	evt, err := js.Stream(ctx, events.EvtStream)
	if err != nil {
		t.Fatal(err)
	}
	cmds, err := js.Stream(ctx, events.CmdStream)
	if err != nil {
		t.Fatal(err)
	}
	rej, err := js.Stream(ctx, events.RejStream)
	if err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, srv: srv, nc: nc, js: js, evt: evt, cmds: cmds, rej: rej, prefix: redistest.Prefix(t), sessions: map[string]string{}}
}

// config is a validator configuration for this harness; the rate limits
// are out of the way unless a test sets them.
func (h *harness) config() Config {
	return Config{
		NATSURL:     h.srv.ClientURL(),
		RedisURL:    redistest.URL(),
		RedisPrefix: h.prefix,
		RateLimit:   1 << 30,
		RateLimits:  ratelimit.Rules{},
		Logger:      testLogger(h.t),
	}
}

var testLevel = slog.LevelWarn

func testLogger(tb testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tb.Output(), &slog.HandlerOptions{Level: testLevel}))
}

// instance is one running validator.
type instance struct {
	cancel context.CancelFunc
	done   chan error
}

// start runs a validator until stop or the end of the test.
func (h *harness) start(cfg Config) *instance {
	h.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	in := &instance{cancel: cancel, done: make(chan error, 1)}
	go func() { in.done <- Run(ctx, cfg) }()
	h.t.Cleanup(func() { in.stop(h.t) })
	return in
}

// stop cancels the instance and waits for Run to return.
func (in *instance) stop(tb testing.TB) {
	tb.Helper()
	in.cancel()
	select {
	case err, ok := <-in.done:
		if ok && err != nil {
			tb.Errorf("Run: %v", err)
		}
		if ok {
			close(in.done)
		}
	case <-time.After(waitFor):
		tb.Fatal("Run did not return after its context ended")
	}
}

// appendFact appends a fact the way another writer would.
func (h *harness) appendFact(subject string, f events.Fact, opts ...jetstream.PublishOpt) *jetstream.PubAck {
	h.t.Helper()
	b, err := f.Encode()
	if err != nil {
		h.t.Fatal(err)
	}
	ack, err := h.js.Publish(context.Background(), subject, b, opts...)
	if err != nil {
		h.t.Fatalf("append %s to %s: %v", f.Type, subject, err)
	}
	return ack
}

// createRoom appends room.created as a gateway does: only if the room is new.
func (h *harness) createRoom(room, creator string, private bool, password string) {
	h.t.Helper()
	d := events.RoomCreatedData{Name: room, IsPrivate: private}
	if password != "" {
		d.PasswordHash = hashPassword(h.t, password)
	}
	f, err := events.NewFact(events.RoomCreated, room, 1, creator, "create-"+room, time.Now(), d)
	if err != nil {
		h.t.Fatal(err)
	}
	h.appendFact(events.RoomSubject(room), f, jetstream.WithExpectLastSequencePerSubject(0))
}

// joinDirect appends member.joined facts for users, as another writer would.
func (h *harness) joinDirect(room string, users ...string) {
	h.t.Helper()
	last, _, err := events.LastOnSubject(context.Background(), h.evt, events.RoomSubject(room))
	if err != nil {
		h.t.Fatal(err)
	}
	for _, u := range users {
		f, err := events.NewFact(events.MemberJoined, room, last.Seq+1, u, "join-"+randomID(h.t), time.Now(), events.MemberJoinedData{})
		if err != nil {
			h.t.Fatal(err)
		}
		ack := h.appendFact(events.RoomSubject(room), f, jetstream.WithExpectLastSequencePerSubject(last.ID))
		last.Seq, last.ID = f.Seq, ack.Sequence
	}
}

// session starts a session for user (once) and returns its id.
func (h *harness) session(user string) string {
	h.t.Helper()
	h.mu.Lock()
	id, ok := h.sessions[user]
	h.mu.Unlock()
	if ok {
		return id
	}
	id = h.newSession(user, events.SessionStarted, time.Now().Add(time.Hour))
	h.mu.Lock()
	h.sessions[user] = id
	h.mu.Unlock()
	return id
}

// newSession appends a session fact for a fresh session id of user.
func (h *harness) newSession(user, typ string, exp time.Time) string {
	h.t.Helper()
	sum := sha256.Sum256([]byte(randomID(h.t)))
	id := hex.EncodeToString(sum[:])
	h.sessionFact(user, typ, id, exp)
	return id
}

func (h *harness) sessionFact(user, typ, id string, exp time.Time) {
	h.t.Helper()
	f, err := events.NewFact(typ, "", 0, user, "", time.Now(), events.SessionData{Session: id, ExpiresAt: exp})
	if err != nil {
		h.t.Fatal(err)
	}
	h.appendFact(events.SessionSubject(user), f)
}

// command builds a command of user's session with a fresh id.
func (h *harness) command(typ, user, room string, data any) events.Command {
	h.t.Helper()
	cmd, err := events.NewCommand(typ, randomID(h.t), user, h.session(user), room, time.Now(), data)
	if err != nil {
		h.t.Fatal(err)
	}
	return cmd
}

// send appends a command to CHAT_CMD as a gateway does.
func (h *harness) send(cmd events.Command) {
	h.t.Helper()
	b, err := json.Marshal(cmd)
	if err != nil {
		h.t.Fatal(err)
	}
	subject := events.RoomCmdSubject(cmd.Room)
	if cmd.Room == "" {
		subject = events.UserCmdSubject(cmd.User)
	}
	if _, err := h.js.Publish(context.Background(), subject, b, jetstream.WithMsgID(cmd.ID)); err != nil {
		h.t.Fatalf("send %s: %v", cmd.Type, err)
	}
}

func (h *harness) message(user, room, clientID, text string) events.Command {
	h.t.Helper()
	return h.command(events.CmdMessageSend, user, room, events.MessageSend{Text: text, ClientID: clientID})
}

// roomFacts reads the room's facts from the log (ReadRoom checks that the
// seqs run 1, 2, 3… with no gap).
func (h *harness) roomFacts(room string) []events.Stored {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	facts, head, err := events.ReadRoom(ctx, h.js, h.evt, room, 0, 0)
	if err != nil {
		h.t.Fatalf("read room %s: %v", room, err)
	}
	if uint64(len(facts)) != head {
		h.t.Fatalf("room %s: %d facts, head %d", room, len(facts), head)
	}
	return facts
}

// factKinds lists facts as "type:user", space-separated, in order.
func factKinds(facts []events.Stored) string {
	kinds := make([]string, len(facts))
	for i, f := range facts {
		kinds[i] = f.Type + ":" + f.User
	}
	return strings.Join(kinds, " ")
}

// outcomeCode is an outcome's error code, "" when it succeeded.
func outcomeCode(o events.Outcome) string {
	if o.Error == nil {
		return ""
	}
	return o.Error.Code
}

// waitHead waits until the room's head seq reaches head and returns its facts.
func (h *harness) waitHead(room string, head uint64) []events.Stored {
	h.t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		last, ok, err := events.LastOnSubject(context.Background(), h.evt, events.RoomSubject(room))
		if err != nil {
			h.t.Fatal(err)
		}
		if ok && last.Seq >= head {
			return h.roomFacts(room)
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("room %s: head %d, still waiting for %d", room, last.Seq, head)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// rejections returns the rejections recorded for user.
func (h *harness) rejections(user string) []events.CommandRejectedData {
	h.t.Helper()
	subject := events.RejSubject(user)
	last, ok, err := events.LastOnSubject(context.Background(), h.rej, subject)
	if err != nil {
		h.t.Fatal(err)
	}
	if !ok {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	facts, err := events.ReadSubject(ctx, h.js, subject, 1, last.ID, 0)
	if err != nil {
		h.t.Fatal(err)
	}
	var out []events.CommandRejectedData
	for _, f := range facts {
		d, err := events.DecodeData[events.CommandRejectedData](f.Fact)
		if err != nil {
			h.t.Fatal(err)
		}
		out = append(out, d)
	}
	return out
}

// waitRejections waits until user has n rejections recorded.
func (h *harness) waitRejections(user string, n int) []events.CommandRejectedData {
	h.t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		rs := h.rejections(user)
		if len(rs) >= n {
			return rs
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("%s: %d rejections, waiting for %d", user, len(rs), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitSettled waits until every command has been acked (CHAT_CMD is a work
// queue: an acked command leaves it).
func (h *harness) waitSettled() {
	h.t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		info, err := h.cmds.Info(context.Background())
		if err != nil {
			h.t.Fatal(err)
		}
		if info.State.Msgs == 0 {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("%d commands never acked", info.State.Msgs)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitPulling waits until a validator asks every partition for commands.
func (h *harness) waitPulling() {
	h.t.Helper()
	deadline := time.Now().Add(waitFor)
	for p := range events.CommandPartitions {
		for {
			info, err := h.js.Consumer(context.Background(), events.CmdStream, events.ValidatorConsumerName(p))
			if err == nil && info.CachedInfo().NumWaiting > 0 {
				break
			}
			if time.Now().After(deadline) {
				h.t.Fatalf("partition %d: nobody pulling (%v)", p, err)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// outcomes subscribes to a reply subject and returns it with a receiver.
func (h *harness) outcomes() (string, func() events.Outcome) {
	h.t.Helper()
	subject := events.ReplySubject("gw-" + randomID(h.t))
	sub, err := h.nc.SubscribeSync(subject)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { sub.Unsubscribe() })
	if err := h.nc.Flush(); err != nil {
		h.t.Fatal(err)
	}
	return subject, func() events.Outcome {
		h.t.Helper()
		m, err := sub.NextMsg(waitFor)
		if err != nil {
			h.t.Fatalf("no outcome: %v", err)
		}
		var o events.Outcome
		if err := json.Unmarshal(m.Data, &o); err != nil {
			h.t.Fatal(err)
		}
		return o
	}
}

func randomID(tb testing.TB) string {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		tb.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// hashPassword builds an argon2id PHC string with cheap parameters, as the
// gateway stores it.
func hashPassword(tb testing.TB, pw string) string {
	tb.Helper()
	h, err := password.Hash(pw, password.Params{Memory: 64, Time: 1, Threads: 1})
	if err != nil {
		tb.Fatal(err)
	}
	return h
}

// posted decodes the message.posted facts of a room, in seq order.
func posted(tb testing.TB, facts []events.Stored) []events.Stored {
	tb.Helper()
	var out []events.Stored
	for _, f := range facts {
		if f.Type == events.MessagePosted {
			out = append(out, f)
		}
	}
	return out
}

func postedData(tb testing.TB, f events.Stored) events.MessagePostedData {
	tb.Helper()
	d, err := events.DecodeData[events.MessagePostedData](f.Fact)
	if err != nil {
		tb.Fatal(err)
	}
	return d
}
