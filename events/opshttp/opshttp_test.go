package opshttp

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/chillin-chat/chillin/events/opshttp/opshttptest"
)

func TestHandler(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "chillin_test_total", Help: "x"})
	reg.MustRegister(c)
	c.Add(3)
	redisUp := true
	h := Handler(reg, []Probe{
		{Name: "postgres", Check: func(context.Context) error { return nil }},
		{Name: "redis", Check: func(context.Context) error {
			if !redisUp {
				return errors.New("refused")
			}
			return nil
		}},
	})
	get := func(path string) (*httptest.ResponseRecorder, map[string]any) {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
		var body map[string]any
		_ = json.Unmarshal(w.Body.Bytes(), &body)
		return w, body
	}
	if w, b := get("/health"); w.Code != 200 || b["status"] != "ok" {
		t.Fatalf("health: %d %v", w.Code, b)
	}
	if w, b := get("/ready"); w.Code != 200 || b["status"] != "ready" {
		t.Fatalf("ready: %d %v", w.Code, b)
	}
	redisUp = false
	if w, b := get("/ready"); w.Code != http.StatusServiceUnavailable || len(b["down"].([]any)) != 1 || b["down"].([]any)[0] != "redis" {
		t.Fatalf("ready with redis down: %d %v", w.Code, b)
	}
	if w, _ := get("/metrics"); w.Code != 200 || !strings.Contains(w.Body.String(), "chillin_test_total 3") {
		t.Fatalf("metrics: %d %s", w.Code, w.Body.String())
	}
}

func TestServeProfiles(t *testing.T) {
	stop, err := ServeProfiles("", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("no address: %v", err)
	}
	stop()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	stop, err = ServeProfiles(addr, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	for path, want := range map[string]string{
		"/debug/pprof/heap?debug=1":      "heap profile",
		"/debug/pprof/goroutine?debug=1": "goroutine profile",
		"/debug/pprof/cmdline":           "opshttp.test",
	} {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), want) {
			t.Errorf("%s: %d, want 200 with %q in %.200q", path, resp.StatusCode, want, b)
		}
	}
	if _, err := ServeProfiles(addr, slog.New(slog.DiscardHandler)); err == nil {
		t.Error("a second server on a taken address: no error")
	}
}

// A client that sends its headers slowly, or keeps a connection idle, is
// closed; one that behaves is served.
func TestNewServerTimeouts(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(Handler(prometheus.NewRegistry(), nil), Timeouts{
		ReadHeader: 300 * time.Millisecond, Read: time.Second, Write: time.Second, Idle: 500 * time.Millisecond,
	})
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	addr := ln.Addr().String()

	if took := opshttptest.Slowloris(t, addr, 50*time.Millisecond, 10*time.Second); took > 5*time.Second {
		t.Errorf("a slow client held the connection %v", took)
	}

	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("a prompt request: %v %v", resp, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
		t.Errorf("an idle kept-alive connection was not closed: %v", err)
	}
}

// Every server this package starts has every timeout; a profile can be
// written for longer than an ops answer.
func TestTimeoutsAreSet(t *testing.T) {
	for name, tt := range map[string]Timeouts{"ops": OpsTimeouts, "profiles": ProfileTimeouts} {
		s := NewServer(http.NotFoundHandler(), tt)
		if s.ReadHeaderTimeout <= 0 || s.ReadTimeout <= 0 || s.WriteTimeout <= 0 || s.IdleTimeout <= 0 {
			t.Errorf("%s: a timeout is missing: %+v", name, tt)
		}
	}
	if ProfileTimeouts.Write <= 30*time.Second {
		t.Errorf("profiles write timeout %v leaves no room for a 30 s profile", ProfileTimeouts.Write)
	}
}
