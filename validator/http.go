package validator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// readyTimeout bounds the dependency checks of one /ready request.
const readyTimeout = 2 * time.Second

// probe is what /ready checks: each named dependency answers, or it is down.
type probe struct {
	name  string
	check func(ctx context.Context) error
}

// natsProbe checks that the NATS connection is up.
func natsProbe(nc *nats.Conn) probe {
	return probe{name: "nats", check: func(context.Context) error {
		if !nc.IsConnected() {
			return errors.New("not connected")
		}
		return nil
	}}
}

// opsHandler serves /health (the process answers), /ready (every probe
// passes, else 503 naming what is down) and /metrics (gatherer).
func opsHandler(g prometheus.Gatherer, probes []probe) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"status": "ok", "timestamp": time.Now().UTC()})
	})
	mux.HandleFunc("GET /ready", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
		defer cancel()
		down := []string{}
		for _, p := range probes {
			if err := p.check(ctx); err != nil {
				down = append(down, p.name)
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
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// serveOps serves h on ln until stop is called; stop waits for requests in
// progress for at most a second.
func serveOps(ln net.Listener, h http.Handler, log *slog.Logger) (stop func()) {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			log.Error("ops http server", "err", err)
		}
	}()
	log.Info("serving /health, /ready and /metrics", "addr", ln.Addr().String())
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-done
	}
}

// listenOps opens the ops listener of a Config: its Listener, or HTTPAddr,
// or none (nil) when neither is set.
func listenOps(cfg Config) (net.Listener, error) {
	if cfg.HTTPListener != nil {
		return cfg.HTTPListener, nil
	}
	if cfg.HTTPAddr == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return nil, fmt.Errorf("validator: ops http listen: %w", err)
	}
	return ln, nil
}
