package opshttp

import (
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

	"github.com/prometheus/client_golang/prometheus"
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
