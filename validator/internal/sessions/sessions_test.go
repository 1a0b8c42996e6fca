package sessions

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/chillin-chat/chillin/events"
	"github.com/chillin-chat/chillin/events/natstest"
	"github.com/nats-io/nats.go/jetstream"
)

type env struct {
	js  jetstream.JetStream
	evt jetstream.Stream
}

func newEnv(t *testing.T) env {
	t.Helper()
	ctx := context.Background()
	js := natstest.Streams(t)
	evt, err := js.Stream(ctx, events.EvtStream)
	if err != nil {
		t.Fatal(err)
	}
	return env{js, evt}
}

func (e env) append(t *testing.T, typ, user, session string, exp time.Time) {
	t.Helper()
	f, err := events.NewFact(typ, "", 0, user, "", time.Now(), events.SessionData{Session: session, ExpiresAt: exp})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := f.Encode()
	if _, err := e.js.Publish(context.Background(), events.SessionSubject(user), b); err != nil {
		t.Fatal(err)
	}
}

func start(t *testing.T, e env) *Directory {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d, err := Start(ctx, e.js, e.evt, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Stop)
	return d
}

func lookup(t *testing.T, d *Directory, user, id string) (bool, bool) {
	t.Helper()
	s, known, err := d.Lookup(context.Background(), user, id)
	if err != nil {
		t.Fatal(err)
	}
	return known && s.User == user, s.Revoked
}

func TestDirectoryCatchesUpAtStart(t *testing.T) {
	e := newEnv(t)
	exp := time.Now().Add(time.Hour)
	for i, user := range []string{"alice", "bob", "carol"} {
		e.append(t, events.SessionStarted, user, user+"-s", exp)
		if i == 1 {
			e.append(t, events.SessionRevoked, user, user+"-s", time.Time{})
		}
	}
	d := start(t, e)
	// Caught up means the directory holds them before any direct read.
	d.mu.RLock()
	n := len(d.ss)
	bob := d.ss["bob-s"]
	d.mu.RUnlock()
	if n != 3 || !bob.Revoked {
		t.Fatalf("after start: %d sessions, bob's %+v", n, bob)
	}
}

func TestDirectoryFollowsTheLog(t *testing.T) {
	e := newEnv(t)
	d := start(t, e)
	e.append(t, events.SessionStarted, "alice", "a1", time.Time{})
	e.append(t, events.SessionRevoked, "alice", "a1", time.Time{})
	deadline := time.Now().Add(30 * time.Second)
	for {
		d.mu.RLock()
		s := d.ss["a1"]
		d.mu.RUnlock()
		if s.Revoked {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the live feed never brought the revocation")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestDirectoryReadsUnknownSessionsFromTheLog(t *testing.T) {
	e := newEnv(t)
	d := start(t, e)
	d.Stop() // no live feed: what is found now was read directly
	e.append(t, events.SessionStarted, "alice", "a1", time.Now().Add(time.Hour))
	e.append(t, events.SessionStarted, "bob", "b1", time.Time{})
	e.append(t, events.SessionRevoked, "bob", "b1", time.Time{})
	for _, tc := range []struct {
		name, user, id string
		known, revoked bool
	}{
		{"logged in a moment ago", "alice", "a1", true, false},
		{"revoked", "bob", "b1", true, true},
		{"never started", "alice", "zz", false, false},
		{"user without sessions", "dora", "d1", false, false},
		{"someone else's session", "alice", "b1", false, true},
		{"not a username", "a.>", "a1", false, false},
		{"no session id", "alice", "", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			known, revoked := lookup(t, d, tc.user, tc.id)
			if known != tc.known || revoked != tc.revoked {
				t.Fatalf("known %v revoked %v, want %v %v", known, revoked, tc.known, tc.revoked)
			}
		})
	}
}
