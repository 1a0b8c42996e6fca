package main

import (
	"context"
	"testing"
	"time"
)

func TestSettle(t *testing.T) {
	const quiet = 100 * time.Millisecond
	clients := []*client{{}, {}}
	idle := func(context.Context) bool { return false }

	// No frame yet, or only old ones: nothing to wait for.
	clients[1].lastFrame.Store(time.Now().Add(-time.Hour).UnixNano())
	start := time.Now()
	if err := settle(context.Background(), clients, idle, quiet, time.Minute); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d >= quiet {
		t.Errorf("settled clients waited %s", d)
	}

	// Frames that stop: settle returns once they have been quiet for quiet.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stopFrames := time.Now().Add(3 * quiet)
	go func() {
		for time.Now().Before(stopFrames) && ctx.Err() == nil {
			clients[0].lastFrame.Store(time.Now().UnixNano())
			time.Sleep(quiet / 10)
		}
	}()
	clients[0].lastFrame.Store(time.Now().UnixNano())
	if err := settle(context.Background(), clients, idle, quiet, time.Minute); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(time.Unix(0, clients[0].lastFrame.Load())); d < quiet || time.Now().Before(stopFrames) {
		t.Errorf("settled while frames still came (the last %s ago)", d)
	}

	// Frames that never stop: settle gives up at its limit.
	clients[1].lastFrame.Store(time.Now().UnixNano())
	go func() {
		for ctx.Err() == nil {
			clients[1].lastFrame.Store(time.Now().UnixNano())
			time.Sleep(quiet / 10)
		}
	}()
	start = time.Now()
	if err := settle(context.Background(), clients, idle, quiet, 5*quiet); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 5*quiet {
		t.Errorf("busy clients settled after %s, before the limit", d)
	}

	// Quiet clients wait for the services' consumers to catch up.
	cancel()
	time.Sleep(quiet / 5) // the frames' goroutine has seen it
	clients[0].lastFrame.Store(0)
	clients[1].lastFrame.Store(0)
	caughtUp := time.Now().Add(3 * quiet)
	behind := func(context.Context) bool { return time.Now().Before(caughtUp) }
	if err := settle(context.Background(), clients, behind, quiet, time.Minute); err != nil {
		t.Fatal(err)
	}
	if time.Now().Before(caughtUp) {
		t.Error("settled while the consumers were behind")
	}

	// A cancelled context ends the wait (for consumers that stay behind)
	// with its error.
	done, stop := context.WithCancel(context.Background())
	stop()
	always := func(context.Context) bool { return true }
	if err := settle(done, clients, always, quiet, time.Minute); err == nil {
		t.Error("settle ignored its cancelled context")
	}
}
