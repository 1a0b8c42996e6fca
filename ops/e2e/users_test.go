package e2e

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/chillin-chat/chillin/events"
	"github.com/chillin-chat/chillin/events/redistest"
	"github.com/chillin-chat/chillin/gateway"
	natsconf "github.com/chillin-chat/chillin/ops/nats"
	"github.com/chillin-chat/chillin/projector"
	"github.com/chillin-chat/chillin/schema/schematest"
	"github.com/chillin-chat/chillin/ui"
	"github.com/chillin-chat/chillin/validator"
)

// violations collects the permission violations a NATS server logs
// ("Publish Violation", "Subscription Violation").
type violations struct {
	mu    sync.Mutex
	lines []string
}

func (v *violations) add(format string, args ...any) {
	if line := fmt.Sprintf(format, args...); strings.Contains(line, "Violation") {
		v.mu.Lock()
		v.lines = append(v.lines, line)
		v.mu.Unlock()
	}
}

func (v *violations) Noticef(format string, args ...any) { v.add(format, args...) }
func (v *violations) Warnf(format string, args ...any)   { v.add(format, args...) }
func (v *violations) Fatalf(format string, args ...any)  { v.add(format, args...) }
func (v *violations) Errorf(format string, args ...any)  { v.add(format, args...) }
func (v *violations) Debugf(format string, args ...any)  { v.add(format, args...) }
func (v *violations) Tracef(format string, args ...any)  { v.add(format, args...) }

func (v *violations) String() string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return strings.Join(v.lines, "\n")
}

// startNATSWithUsers runs a JetStream server with ops/nats/users.conf, as
// compose.yml's servers include it, and returns each user's URL (with its
// credentials, as compose gives CHILLIN_NATS_URL) and the permission
// violations it logs.
func startNATSWithUsers(t *testing.T) (map[string]string, *violations) {
	t.Helper()
	users := []string{"gateway", "validator", "projector", "admin"}
	for _, u := range users {
		t.Setenv("NATS_"+strings.ToUpper(u)+"_PASSWORD", "pw-"+u)
	}
	dir := t.TempDir()
	opts, err := natsconf.UsersOptions(dir)
	if err != nil {
		t.Fatal(err)
	}
	opts.Host, opts.Port, opts.JetStream, opts.StoreDir = "127.0.0.1", -1, true, filepath.Join(dir, "store")
	opts.NoLog, opts.NoSigs = true, true
	ns, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	refused := &violations{}
	ns.SetLogger(refused, false, false)
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready")
	}
	t.Cleanup(func() {
		ns.Shutdown()
		ns.WaitForShutdown()
	})
	urls := map[string]string{}
	for _, u := range users {
		urls[u] = strings.Replace(ns.ClientURL(), "nats://", "nats://"+u+":pw-"+u+"@", 1)
	}
	return urls, refused
}

// Every service runs with its own NATS user of users.conf, and nothing a
// conversation needs is refused: registration, login, a room, live
// messages, the projection and a late joiner's history.
func TestConversationWithServiceUsers(t *testing.T) {
	urls, refused := startNATSWithUsers(t)
	nc, err := nats.Connect(urls["admin"])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	pool, pgURL := schematest.NewDB(t)
	s := &system{
		t: t, natsURL: urls["admin"], js: js, pool: pool, pgURL: pgURL,
		prefix: redistest.Prefix(t), rateLimit: 10,
		log: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	s.servicePG, s.serviceRD = pgURL, redistest.URL()

	s.validatorStop = s.service("validator", func(ctx context.Context) error {
		return validator.Run(ctx, validator.Config{
			NATSURL: urls["validator"], RedisURL: s.serviceRD, RedisPrefix: s.prefix,
			RateLimit: 10, RateWindow: 10 * time.Second, Logger: s.log.With("service", "validator"),
		})
	})
	// The validator creates the streams; the others may only read them.
	eventually(t, 20*time.Second, "the streams", func() bool {
		_, err := js.Stream(context.Background(), events.EvtStream)
		return err == nil
	})
	s.projectorStop = s.service("projector", func(ctx context.Context) error {
		return projector.Run(ctx, projector.Config{
			NATSURL: urls["projector"], PostgresURL: s.servicePG, RedisURL: s.serviceRD, RedisPrefix: s.prefix,
			Views: []string{"pg", "live", "cache"}, Logger: s.log.With("service", "projector"),
		})
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.baseURL, s.wsURL = "http://"+ln.Addr().String(), "ws://"+ln.Addr().String()+"/ws"
	s.service("gateway", func(ctx context.Context) error {
		return gateway.Run(ctx, gateway.Config{
			Listener: ln, NATSURL: urls["gateway"], PostgresURL: s.servicePG, RedisURL: s.serviceRD, RedisPrefix: s.prefix,
			Password: fastHash, UI: ui.FS(), Logger: s.log.With("service", "gateway"),
		})
	})

	alice := s.register("alice")
	room := s.createRoom(alice, "Lobby")
	ca := s.dial(alice)
	ca.join(room, nil)
	ca.send(room, "a1", "hello")
	if m := ca.posted(); m.Text != "hello" || m.User != "alice" {
		t.Fatalf("alice saw %+v", m)
	}
	bob := s.register("bob")
	cb := s.dial(bob)
	if _, history := cb.join(room, nil); len(history) == 0 {
		t.Error("bob's join brought no history")
	}
	s.waitPG(room, 1)
	if v := refused.String(); v != "" {
		t.Errorf("the server refused something a service did:\n%s", v)
	}
}
