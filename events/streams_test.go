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
