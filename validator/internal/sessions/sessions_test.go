package sessions

import (
	"context"
	"fmt"
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
	return startSized(t, e, 0)
}

func startSized(t *testing.T, e env, size int) *Directory {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d, err := Start(ctx, e.js, e.evt, size, slog.New(slog.DiscardHandler))
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
	d.mu.Lock()
	n := len(d.ss)
	bob := d.ss["bob-s"]
	d.mu.Unlock()
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
		d.mu.Lock()
		s := d.ss["a1"]
		d.mu.Unlock()
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

func TestDirectoryIsBounded(t *testing.T) {
	e := newEnv(t)
	exp := time.Now().Add(time.Hour)
	for i := range 10 {
		e.append(t, events.SessionStarted, "alice", fmt.Sprintf("a%d", i), exp)
	}
	e.append(t, events.SessionRevoked, "alice", "a0", time.Time{})
	d := startSized(t, e, 3)
	if n := d.Len(); n != 3 {
		t.Fatalf("the directory holds %d sessions, want 3", n)
	}
	d.mu.Lock()
	_, held := d.ss["a1"]
	d.mu.Unlock()
	if held {
		t.Fatal("an old session was not evicted")
	}
	// Evicted sessions are found again in the log, as they are there.
	for _, tc := range []struct {
		id             string
		known, revoked bool
	}{{"a1", true, false}, {"a0", true, true}, {"a2", true, false}} {
		known, revoked := lookup(t, d, "alice", tc.id)
		if known != tc.known || revoked != tc.revoked {
			t.Fatalf("%s: known %v revoked %v, want %v %v", tc.id, known, revoked, tc.known, tc.revoked)
		}
	}
	if n := d.Len(); n != 3 {
		t.Fatalf("after lookups the directory holds %d sessions, want 3", n)
	}
	// The most recently used stay: a2, a0 and a1 were looked up last.
	d.mu.Lock()
	_, held = d.ss["a9"]
	d.mu.Unlock()
	if held {
		t.Fatal("the least recently used session was not evicted")
	}
}

func TestDirectoryEvictsExpiredSessions(t *testing.T) {
	e := newEnv(t)
	e.append(t, events.SessionStarted, "alice", "a1", time.Now().Add(time.Hour))
	d := start(t, e)
	d.now = func() time.Time { return time.Now().Add(2 * time.Hour) }
	s, known, err := d.Lookup(context.Background(), "alice", "a1")
	if err != nil || !known || s.User != "alice" {
		t.Fatalf("expired session: %+v known %v err %v; want it answered as the log has it", s, known, err)
	}
	if n := d.Len(); n != 0 {
		t.Fatalf("the directory still holds %d sessions after the expired one was seen", n)
	}
}

// A fact this instance appended holds at once, before the live feed brings
// it: the feed of a directory that never saw the log cannot have.
func TestDirectoryRecordsOwnFacts(t *testing.T) {
	e := newEnv(t)
	d := start(t, e)
	d.Stop() // nothing comes from the feed from here on
	for i, typ := range []string{events.SessionStarted, events.SessionRevoked} {
		f, err := events.NewFact(typ, "", 0, "alice", "", time.Now(), events.SessionData{Session: "a1", ExpiresAt: time.Now().Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Record(events.Stored{ID: uint64(i + 1), Fact: f}); err != nil {
			t.Fatal(err)
		}
	}
	d.mu.Lock()
	s, ok := d.ss["a1"]
	d.mu.Unlock()
	if !ok || s.User != "alice" || !s.Revoked {
		t.Fatalf("after recording a start and a revocation: %+v (held %v)", s, ok)
	}
}

// A directory started while the log does not answer yet (a stream just
// made on a cluster has no leader) waits for it instead of failing.
func TestDirectoryWaitsForTheLog(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	cfg := e.evt.CachedInfo().Config
	if err := e.js.DeleteStream(ctx, events.EvtStream); err != nil {
		t.Fatal(err)
	}
	// The handle still asks for direct gets, which nothing answers now.
	go func() {
		time.Sleep(500 * time.Millisecond)
		if _, err := e.js.CreateStream(ctx, cfg); err != nil {
			t.Error(err)
		}
	}()
	d := start(t, e)
	e.append(t, events.SessionStarted, "alice", "s1", time.Now().Add(time.Hour))
	deadline := time.Now().Add(10 * time.Second)
	for {
		if ok, _ := lookup(t, d, "alice", "s1"); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the directory does not follow the log made again")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
