// Package natstest runs an in-process NATS server with JetStream for tests,
// on a random loopback port, with its store in a temporary folder. The server
// is shut down by t.Cleanup.
package natstest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/chillin-chat/chillin/events"
)

// Start runs a JetStream server and returns it. Its URL is s.ClientURL().
func Start(tb testing.TB) *server.Server {
	tb.Helper()
	return StartAt(tb, tb.TempDir(), -1)
}

// StartAt runs a JetStream server on port (-1: random) storing in dir, so a
// test can stop a server and start another on the same store and port.
func StartAt(tb testing.TB, dir string, port int) *server.Server {
	tb.Helper()
	s, err := server.NewServer(&server.Options{
		Host:      "127.0.0.1",
		Port:      port,
		JetStream: true,
		StoreDir:  dir,
		NoLog:     true,
		NoSigs:    true,
	})
	if err != nil {
		tb.Fatalf("natstest: %v", err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		tb.Fatal("natstest: server not ready")
	}
	tb.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	return s
}

// Connect opens a client connection to s, closed by t.Cleanup.
func Connect(tb testing.TB, s *server.Server) (*nats.Conn, jetstream.JetStream) {
	tb.Helper()
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		tb.Fatalf("natstest connect: %v", err)
	}
	tb.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		tb.Fatalf("natstest jetstream: %v", err)
	}
	return nc, js
}

// Streams starts a JetStream server with Chillin's streams (default
// options) and returns a client of it, all closed by tb.Cleanup.
func Streams(tb testing.TB) jetstream.JetStream {
	tb.Helper()
	_, js := Connect(tb, Start(tb))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := events.EnsureStreams(ctx, js, events.StreamOptions{}); err != nil {
		tb.Fatalf("natstest streams: %v", err)
	}
	return js
}

// Dump returns every message of a stream as "<seq> <subject> <data>", in
// order: a whole log to compare in tests.
func Dump(tb testing.TB, js jetstream.JetStream, stream string) []string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		tb.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	var out []string
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			tb.Fatalf("natstest dump %s seq %d: %v", stream, seq, err)
		}
		out = append(out, fmt.Sprintf("%d %s %s", seq, m.Subject, m.Data))
	}
	return out
}
