package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/chillin-chat/chillin/events/natstest"
	"github.com/chillin-chat/chillin/events/password"
	"github.com/chillin-chat/chillin/events/redistest"
	"github.com/chillin-chat/chillin/gateway"
	"github.com/chillin-chat/chillin/ops/internal/stack"
	"github.com/chillin-chat/chillin/projector"
	"github.com/chillin-chat/chillin/schema/schematest"
	"github.com/chillin-chat/chillin/validator"
)

// startSystem runs a whole Chillin in this process (embedded NATS, a fresh
// database, Redis under a fresh prefix) with the given per-user rate limit,
// and returns its base URL.
func startSystem(t *testing.T, rateLimit int) string {
	t.Helper()
	ns := natstest.Start(t)
	_, pgURL := schematest.NewDB(t)
	redisURL := redistest.URL()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	prefix := redistest.Prefix(t) // its keys go when the test ends, after the system stopped
	log := slog.New(slog.DiscardHandler)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- stack.Run(ctx, stack.Config{
			Gateway: gateway.Config{Listener: ln, NATSURL: ns.ClientURL(), PostgresURL: pgURL, RedisURL: redisURL,
				RedisPrefix: prefix, Password: password.Params{Memory: 64, Time: 1, Threads: 1}, Logger: log},
			Validator: validator.Config{NATSURL: ns.ClientURL(), RedisURL: redisURL, RedisPrefix: prefix,
				RateLimit: rateLimit, RateWindow: 10 * time.Second, Logger: log},
			Projector: projector.Config{NATSURL: ns.ClientURL(), PostgresURL: pgURL, RedisURL: redisURL,
				RedisPrefix: prefix, Views: []string{projector.ViewPG, projector.ViewLive}, Logger: log},
		}, log)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("system: %v", err)
		}
	})
	base := "http://" + ln.Addr().String()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get(base + "/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return base
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the system was not ready within 30s: %v", err)
		}
	}
}

// A run against a real system counts what it sent, what the pipeline
// accepted and refused, and every delivery to every member of each room.
func TestRunAgainstASystem(t *testing.T) {
	base := startSystem(t, 10)
	// 12 clients of 6 users in 3 rooms of 4; each client sends 4 msg/s for
	// 3 s, so each user offers about 24 messages: 10 are accepted within the
	// 10 s window, the rest refused with RATE_LIMITED.
	o := options{URL: base, Clients: 12, Users: 6, Rooms: 3, Rate: 4, Duration: 3 * time.Second,
		Drain: 8 * time.Second, Heartbeat: 100 * time.Millisecond, SourceIPs: 2, Size: 64, Concurrency: 4}
	if err := o.validate(); err != nil {
		t.Fatal(err)
	}
	res, err := runLoad(context.Background(), o, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	limited := int64(res.Rejected["RATE_LIMITED"])
	switch {
	case res.Errors != 0:
		t.Fatalf("%d errors", res.Errors)
	case res.Sent < 60:
		t.Fatalf("sent %d, want about 144", res.Sent)
	case res.Accepted != 6*10:
		t.Fatalf("accepted %d, want 60: 10 per user", res.Accepted)
	case res.Accepted+limited != res.Sent || len(res.Rejected) != 1:
		t.Fatalf("accepted %d + rejected %v, want every one of %d sent answered, refusals all RATE_LIMITED", res.Accepted, res.Rejected, res.Sent)
	case res.Delivered != 4*res.Accepted:
		t.Fatalf("delivered %d, want 4 per accepted message (rooms of 4)", res.Delivered)
	}
	l := res.LatencyMs
	if !(l["p50"] > 0 && l["p50"] <= l["p99"] && l["p99"] <= l["max"]) {
		t.Fatalf("latency quantiles %v", l)
	}
	if res.LoadCPUPerFrameUs <= 0 {
		t.Fatalf("load tool CPU per frame %v", res.LoadCPUPerFrameUs)
	}
	// A p99 per progress line: the 3 s of sending deliver in each of the
	// first seconds, and no second's p99 exceeds the run's largest latency.
	ps := res.P99PerSecondMs
	if len(ps) < 3 || ps[0] <= 0 || ps[1] <= 0 || slices.Max(ps) > l["max"] {
		t.Fatalf("p99 per second %v, run's max %v", ps, l["max"])
	}
}

func TestFresh(t *testing.T) {
	a, b := &client{latencies: []int64{1, 2}}, &client{}
	clients, marks := []*client{a, b}, make([]int, 2)
	if got := fresh(clients, marks, nil); !slices.Equal(got, []int64{1, 2}) {
		t.Fatalf("first call %v", got)
	}
	if got := fresh(clients, marks, nil); len(got) != 0 {
		t.Fatalf("nothing new, got %v", got)
	}
	a.latencies = append(a.latencies, 3)
	b.latencies = append(b.latencies, 4, 5)
	buf := make([]int64, 0, 8)
	if got := fresh(clients, marks, buf); !slices.Equal(got, []int64{3, 4, 5}) {
		t.Fatalf("after new latencies %v", got)
	}
	if !slices.Equal(marks, []int{3, 2}) {
		t.Fatalf("marks %v", marks)
	}
}
