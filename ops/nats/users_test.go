package nats_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/chillin-chat/chillin/events"
	natsconf "github.com/chillin-chat/chillin/ops/nats"
	"github.com/chillin-chat/chillin/validator"
)

var passwords = map[string]string{
	"gateway": "gateway-secret", "validator": "validator-secret", "projector": "projector-secret", "admin": "admin-secret",
}

// startWithUsers runs the pinned nats-server in process with JetStream and
// users.conf exactly as cluster.conf includes it.
func startWithUsers(t *testing.T) *server.Server {
	t.Helper()
	for user, pw := range passwords {
		t.Setenv("NATS_"+strings.ToUpper(user)+"_PASSWORD", pw)
	}
	dir := t.TempDir()
	opts, err := natsconf.UsersOptions(dir)
	if err != nil {
		t.Fatal(err)
	}
	opts.Host, opts.Port, opts.JetStream, opts.StoreDir = "127.0.0.1", -1, true, filepath.Join(dir, "store")
	opts.NoLog, opts.NoSigs = true, true
	s, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready")
	}
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	return s
}

// client connects as user, with the credentials in the URL as the services
// are given them (CHILLIN_NATS_URL), and collects permission violations.
type client struct {
	nc *nats.Conn
	js jetstream.JetStream

	mu         sync.Mutex
	violations []string
}

func connect(t *testing.T, s *server.Server, user string) *client {
	t.Helper()
	c := &client{}
	url := strings.Replace(s.ClientURL(), "nats://", "nats://"+user+":"+passwords[user]+"@", 1)
	nc, err := nats.Connect(url, nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		if errors.Is(err, nats.ErrPermissionViolation) {
			c.mu.Lock()
			c.violations = append(c.violations, err.Error())
			c.mu.Unlock()
		}
	}))
	if err != nil {
		t.Fatalf("connect as %s: %v", user, err)
	}
	t.Cleanup(nc.Close)
	c.nc = nc
	if c.js, err = jetstream.New(nc); err != nil {
		t.Fatal(err)
	}
	return c
}

// refused reports whether the server refused something on subject. The
// refusal comes before the answer to a flush, but reaches the error handler
// asynchronously: it is waited for a while.
func (c *client) refused(t *testing.T, subject string) bool {
	t.Helper()
	if err := c.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		c.mu.Lock()
		found := slices.ContainsFunc(c.violations, func(v string) bool { return strings.Contains(v, `"`+subject+`"`) })
		c.mu.Unlock()
		if found {
			return true
		}
	}
	return false
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// Nobody connects without a user of users.conf.
func TestUsersRefuseStrangers(t *testing.T) {
	s := startWithUsers(t)
	if nc, err := nats.Connect(s.ClientURL()); err == nil {
		nc.Close()
		t.Fatal("a connection without credentials was accepted")
	}
	// As compose.yml gives the URL: every server of the list with the
	// service's credentials.
	good := strings.Replace(s.ClientURL(), "nats://", "nats://gateway:"+passwords["gateway"]+"@", 1)
	nc, err := nats.Connect(good + "," + good)
	if err != nil {
		t.Fatalf("a list of URLs with credentials: %v", err)
	}
	nc.Close()
	bad := strings.Replace(s.ClientURL(), "nats://", "nats://gateway:wrong@", 1)
	if nc, err := nats.Connect(bad); err == nil {
		nc.Close()
		t.Fatal("a wrong password was accepted")
	}
}

// Each service may do what its code does, and the server refuses the rest:
// the gateway publishes commands but no fact and no rejection, never reads
// commands nor deletes a stream; the projector appends nothing.
func TestUsersPermissions(t *testing.T) {
	s := startWithUsers(t)
	val := connect(t, s, "validator")
	if err := events.EnsureStreams(ctxT(t), val.js, events.StreamOptions{}); err != nil {
		t.Fatalf("the validator creates the streams: %v", err)
	}

	gw := connect(t, s, "gateway")
	if err := events.EnsureStreams(ctxT(t), gw.js, events.StreamOptions{}); err != nil {
		t.Fatalf("the gateway finds the streams as configured: %v", err)
	}
	if _, err := gw.js.Publish(ctxT(t), events.RoomCmdSubject("x"), []byte("{}")); err != nil {
		t.Errorf("the gateway publishes a command: %v", err)
	}
	if _, err := gw.js.Publish(ctxT(t), events.UserCmdSubject("alice"), []byte("{}")); err != nil {
		t.Errorf("the gateway publishes a user command: %v", err)
	}
	// A gateway taken over cannot forge a fact: not a room's (a message in
	// any room), not a user's or a session's, not a rejection.
	for _, subj := range []string{
		events.RoomSubject("x"), events.UserSubject("alice"), events.SessionSubject("alice"),
		events.RejectedSubject("alice"), events.RejSubject("alice"),
	} {
		short, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		if _, err := gw.js.Publish(short, subj, []byte("{}")); err == nil {
			t.Errorf("the gateway appended to %s", subj)
		}
		cancel()
		if !gw.refused(t, subj) {
			t.Errorf("the server did not refuse the gateway's %s", subj)
		}
	}
	if _, err := gw.nc.SubscribeSync("chat.cmd.>"); err != nil {
		t.Fatal(err)
	}
	if !gw.refused(t, "chat.cmd.>") {
		t.Error("the gateway may read every command")
	}
	short2, cancel2 := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel2()
	if err := gw.js.DeleteStream(short2, events.EvtStream); err == nil {
		t.Error("the gateway deleted the log")
	}
	if _, err := gw.js.Stream(ctxT(t), events.EvtStream); err != nil {
		t.Errorf("the log after the gateway's attempt: %v", err)
	}

	// The validator consumes its command partitions and appends facts.
	cons, err := val.js.CreateOrUpdateConsumer(ctxT(t), events.CmdStream, events.ValidatorConsumerConfig(events.Partition("x")))
	if err != nil {
		t.Fatalf("the validator's consumer: %v", err)
	}
	batch, err := cons.Fetch(1, jetstream.FetchMaxWait(2*time.Second), jetstream.FetchPriorityGroup(events.ValidatorGroup))
	if err != nil {
		t.Fatal(err)
	}
	got := 0
	for m := range batch.Messages() {
		got++
		if err := m.Ack(); err != nil {
			t.Errorf("ack: %v", err)
		}
	}
	if got != 1 || batch.Error() != nil {
		t.Errorf("the validator fetched %d commands (%v), want the gateway's one", got, batch.Error())
	}
	for _, subj := range []string{events.RoomSubject("x"), events.UserSubject("alice"), events.SessionSubject("alice"), events.RejSubject("alice")} {
		if _, err := val.js.Publish(ctxT(t), subj, []byte("{}")); err != nil {
			t.Errorf("the validator appends to %s: %v", subj, err)
		}
	}

	// The validator keeps snapshots of evicted room states; a gateway may
	// not plant one.
	states, err := val.js.CreateOrUpdateStream(ctxT(t), jetstream.StreamConfig{
		Name: validator.StateStream, Subjects: []string{"chat.state.room.*"}, Storage: jetstream.MemoryStorage, AllowDirect: true,
	})
	if err != nil {
		t.Fatalf("the validator creates %s: %v", validator.StateStream, err)
	}
	if err := val.nc.Publish("chat.state.room.x", []byte("state")); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		m, err := states.GetLastMsgForSubject(ctxT(t), "chat.state.room.x")
		if err == nil && string(m.Data) == "state" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the validator's room state is not read back: %v", err)
		}
	}
	if err := gw.nc.Publish("chat.state.room.x", []byte("planted")); err != nil {
		t.Fatal(err)
	}
	if !gw.refused(t, "chat.state.room.x") {
		t.Error("the server did not refuse the gateway's room state")
	}

	// The projector reads the log through its consumers and appends nothing.
	proj := connect(t, s, "projector")
	if err := events.EnsureStreams(ctxT(t), proj.js, events.StreamOptions{}); err != nil {
		t.Fatalf("the projector finds the streams: %v", err)
	}
	pc, err := proj.js.CreateOrUpdateConsumer(ctxT(t), events.EvtStream, events.ProjectionConsumerConfig("pg", true, "chat.evt.>"))
	if err != nil {
		t.Fatalf("the projector's consumer: %v", err)
	}
	pb, err := pc.Fetch(10, jetstream.FetchMaxWait(2*time.Second), jetstream.FetchPriorityGroup(events.ProjectorGroup))
	if err != nil {
		t.Fatal(err)
	}
	facts := 0
	for m := range pb.Messages() {
		facts++
		_ = m.Ack()
	}
	// The validator's room, user and session facts; the refusal is on
	// CHAT_REJ, and the gateway appended none.
	if facts != 3 {
		t.Errorf("the projector read %d facts, want 3", facts)
	}
	evt, err := proj.js.Stream(ctxT(t), events.EvtStream)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := evt.GetMsg(ctxT(t), 1); err != nil {
		t.Errorf("the projector reads a fact by seq: %v", err)
	}
	short3, cancel3 := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel3()
	if _, err := proj.js.Publish(short3, events.RoomSubject("x"), []byte("{}")); err == nil {
		t.Error("the projector appended a fact")
	}
	if !proj.refused(t, events.RoomSubject("x")) {
		t.Error("the server did not refuse the projector's append")
	}
}
