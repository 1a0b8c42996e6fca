package events_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/chillin-chat/chillin/events"
	"github.com/chillin-chat/chillin/events/natstest"
)

// A service that starts before JetStream answers waits for it instead of
// failing its start.
func TestEnsureStreamsWaitsForJetStream(t *testing.T) {
	plain, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go plain.Start()
	defer plain.Shutdown()
	if !plain.ReadyForConnections(10 * time.Second) {
		t.Fatal("server not ready")
	}
	port := plain.Addr().(*net.TCPAddr).Port
	nc, err := nats.Connect(plain.ClientURL(), nats.MaxReconnects(-1), nats.ReconnectWait(20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}

	// Without JetStream, until the caller gives up: an error, after waiting.
	ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
	start := time.Now()
	err = events.EnsureStreams(ctx, js, events.StreamOptions{})
	cancel()
	if err == nil || time.Since(start) < 500*time.Millisecond {
		t.Fatalf("no JetStream: %v after %v, want an error after waiting", err, time.Since(start))
	}

	// The server is replaced by one with JetStream while a service waits:
	// the streams are made once it answers.
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		done <- events.EnsureStreams(ctx, js, events.StreamOptions{})
	}()
	time.Sleep(300 * time.Millisecond)
	plain.Shutdown()
	plain.WaitForShutdown()
	natstest.StartAt(t, t.TempDir(), port)
	if err := <-done; err != nil {
		t.Fatalf("once JetStream is up: %v", err)
	}
	for _, name := range []string{events.CmdStream, events.EvtStream} {
		if _, err := js.Stream(context.Background(), name); err != nil {
			t.Errorf("stream %s: %v", name, err)
		}
	}
}

// CHAT_REJ is made with its retention limits, and every stream reads back
// as configured (nothing to update on the next start).
func TestEnsureStreamsRejections(t *testing.T) {
	s := natstest.Start(t)
	_, js := natstest.Connect(t, s)
	ctx := context.Background()
	if err := events.EnsureStreams(ctx, js, events.StreamOptions{}); err != nil {
		t.Fatal(err)
	}
	st, err := js.Stream(ctx, events.RejStream)
	if err != nil {
		t.Fatalf("stream %s: %v", events.RejStream, err)
	}
	cfg := st.CachedInfo().Config
	if cfg.MaxAge != events.RejMaxAge || cfg.MaxMsgsPerSubject != events.RejMaxMsgsPerSubject ||
		cfg.MaxBytes != events.RejMaxBytes || cfg.Discard != jetstream.DiscardOld || cfg.Retention != jetstream.LimitsPolicy {
		t.Fatalf("%s config %+v", events.RejStream, cfg)
	}
	// A refusal lands on CHAT_REJ, not on the log.
	if _, err := js.Publish(ctx, events.RejSubject("bob"), []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	if info, err := st.Info(ctx); err != nil || info.State.Msgs != 1 {
		t.Fatalf("%s holds %v messages (%v), want 1", events.RejStream, info.State.Msgs, err)
	}
	evt, _ := js.Stream(ctx, events.EvtStream)
	if info, err := evt.Info(ctx); err != nil || info.State.Msgs != 0 {
		t.Fatalf("%s holds %d messages (%v), want 0", events.EvtStream, info.State.Msgs, err)
	}
	// Streams made by EnsureStreams read back as configured, so that a
	// later start leaves them alone instead of updating them.
	for _, want := range []jetstream.StreamConfig{
		events.CmdStreamConfig(events.StreamOptions{}), events.EvtStreamConfig(events.StreamOptions{}), events.RejStreamConfig(events.StreamOptions{}),
	} {
		st, err := js.Stream(ctx, want.Name)
		if err != nil {
			t.Fatal(err)
		}
		if !events.SameStream(st.CachedInfo().Config, want) {
			t.Errorf("stream %s reads back unlike its config: %+v", want.Name, st.CachedInfo().Config)
		}
	}
}

// Commands are kept in memory, bounded in bytes, refusing the newest past
// the bound; a command stream made on disk by an older release keeps its
// storage (it cannot change), and EnsureStreams still succeeds.
func TestEnsureStreamsCommandStorage(t *testing.T) {
	s := natstest.Start(t)
	_, js := natstest.Connect(t, s)
	ctx := context.Background()
	if err := events.EnsureStreams(ctx, js, events.StreamOptions{}); err != nil {
		t.Fatal(err)
	}
	st, err := js.Stream(ctx, events.CmdStream)
	if err != nil {
		t.Fatal(err)
	}
	if cfg := st.CachedInfo().Config; cfg.Storage != jetstream.MemoryStorage || cfg.MaxBytes != events.CmdMaxBytes || cfg.Discard != jetstream.DiscardNew {
		t.Fatalf("%s: storage %v, max bytes %d, discard %v", events.CmdStream, cfg.Storage, cfg.MaxBytes, cfg.Discard)
	}

	_, old := natstest.Connect(t, natstest.Start(t))
	onDisk := events.CmdStreamConfig(events.StreamOptions{})
	onDisk.Storage, onDisk.MaxBytes, onDisk.Discard = jetstream.FileStorage, 0, jetstream.DiscardOld
	if _, err := old.CreateStream(ctx, onDisk); err != nil {
		t.Fatal(err)
	}
	if err := events.EnsureStreams(ctx, old, events.StreamOptions{}); err != nil {
		t.Fatalf("with a command stream on disk: %v", err)
	}
	st, err = old.Stream(ctx, events.CmdStream)
	if err != nil {
		t.Fatal(err)
	}
	if cfg := st.CachedInfo().Config; cfg.Storage != jetstream.FileStorage || cfg.MaxBytes != events.CmdMaxBytes {
		t.Fatalf("older %s: storage %v, max bytes %d; want kept on disk, updated otherwise", events.CmdStream, cfg.Storage, cfg.MaxBytes)
	}
}
