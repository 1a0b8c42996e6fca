// Package opshttp serves what operators and load balancers ask every Chillin
// service: /health (the process answers), /ready (each dependency answers,
// else 503 naming what is down) and /metrics (Prometheus text), and the Go
// runtime's profiles on an address of their own. Open is how a service
// starts them all; the gateway, which serves the first three on its own
// port, uses ServeProfiles and Handler directly.
package opshttp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// readyTimeout bounds the dependency checks of one /ready request.
const readyTimeout = 2 * time.Second

// Probe is one dependency /ready checks.
type Probe struct {
	Name  string
	Check func(ctx context.Context) error
}

// NATS checks that a NATS connection is up.
func NATS(nc *nats.Conn) Probe {
	return Probe{Name: "nats", Check: func(context.Context) error {
		if !nc.IsConnected() {
			return errors.New("not connected")
		}
		return nil
	}}
}

// Handler serves GET /health, /ready and /metrics.
func Handler(g prometheus.Gatherer, probes []Probe) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"status": "ok", "timestamp": time.Now().UTC()})
	})
	mux.HandleFunc("GET /ready", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
		defer cancel()
		down := []string{}
		for _, p := range probes {
			if err := p.Check(ctx); err != nil {
				down = append(down, p.Name)
			}
		}
		if len(down) > 0 {
			writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "unavailable", "down": down})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"status": "ready"})
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// Serve serves h on ln until stop is called; stop waits for requests in
// progress for at most a second.
func Serve(ln net.Listener, h http.Handler, log *slog.Logger) (stop func()) {
	return serve(ln, h, log, "/health, /ready and /metrics", OpsTimeouts)
}

// Timeouts bound how long one client may hold a connection of an HTTP
// server, so that clients that send or read slowly (slowloris) or keep idle
// connections cannot exhaust its connections. A connection hijacked by a
// handler (a WebSocket) is no longer subject to any of them: the server
// clears its deadlines when it hands it over.
type Timeouts struct {
	// ReadHeader is how long a client has to send a request's headers.
	ReadHeader time.Duration
	// Read is how long it has to send the whole request, body included.
	Read time.Duration
	// Write is how long, from the end of the request's headers, the
	// response may take to be written.
	Write time.Duration
	// Idle is how long a kept-alive connection may wait for its next request.
	Idle time.Duration
}

// OpsTimeouts are the operations endpoints' timeouts (/health, /ready,
// /metrics): small requests, answered at once.
var OpsTimeouts = Timeouts{ReadHeader: 5 * time.Second, Read: 10 * time.Second, Write: 30 * time.Second, Idle: time.Minute}

// ProfileTimeouts are OpsTimeouts with room to write a profile: a CPU
// profile or trace is written after the seconds it was asked for, and
// net/http/pprof refuses one longer than the write timeout.
var ProfileTimeouts = Timeouts{ReadHeader: 5 * time.Second, Read: 10 * time.Second, Write: 5 * time.Minute, Idle: time.Minute}

// NewServer returns a server of h with timeouts t.
func NewServer(h http.Handler, t Timeouts) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: t.ReadHeader,
		ReadTimeout:       t.Read,
		WriteTimeout:      t.Write,
		IdleTimeout:       t.Idle,
	}
}

func serve(ln net.Listener, h http.Handler, log *slog.Logger, what string, t Timeouts) (stop func()) {
	srv := NewServer(h, t)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			log.Error("ops http server", "serving", what, "err", err)
		}
	}()
	log.Info("serving "+what, "addr", ln.Addr().String())
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-done
	}
}

// Profiles serves the Go runtime's profiles (net/http/pprof) under
// /debug/pprof/.
func Profiles() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// ServeProfiles serves Profiles on addr, if set, until stop is called. It
// is kept off the service's other endpoints: profiles show what a process
// holds, so they belong on an address only operators reach.
func ServeProfiles(addr string, log *slog.Logger) (stop func(), err error) {
	if addr == "" {
		return func() {}, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("profiles listen: %w", err)
	}
	return serve(ln, Profiles(), log, "/debug/pprof/", ProfileTimeouts), nil
}

// Listen returns ln if set, else a listener on addr, else nil (no endpoint).
func Listen(ln net.Listener, addr string) (net.Listener, error) {
	if ln != nil || addr == "" {
		return ln, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("ops http listen: %w", err)
	}
	return ln, nil
}
