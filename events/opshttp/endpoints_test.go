package opshttp_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/chillin-chat/chillin/events/opshttp"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// Open serves the profiles at once, and /health, /ready and /metrics from
// Serve on, with a registry holding the runtime series; Close stops both.
func TestEndpoints(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e, err := opshttp.Open(opshttp.EndpointsConfig{Listener: ln, PprofAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "test_things_total", Help: "things"})
	e.Registry.MustRegister(c)
	e.Serve([]opshttp.Probe{{Name: "thing", Check: func(context.Context) error { return errors.New("away") }}})
	base := "http://" + ln.Addr().String()
	if code, body := get(t, base+"/ready"); code != http.StatusServiceUnavailable || !strings.Contains(body, "thing") {
		t.Fatalf("/ready: %d %s", code, body)
	}
	if _, body := get(t, base+"/metrics"); !strings.Contains(body, "test_things_total") || !strings.Contains(body, "go_goroutines") {
		t.Fatalf("/metrics lacks the service's or the runtime's series:\n%.500s", body)
	}
	e.Close()
	if _, err := http.Get(base + "/health"); err == nil {
		t.Fatal("/health still served after Close")
	}
}

// A profile address that cannot be listened on fails Open, which lets go
// of the other listener.
func TestEndpointsBadProfileAddress(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	_, err = opshttp.Open(opshttp.EndpointsConfig{Addr: "127.0.0.1:0", PprofAddr: taken.Addr().String()})
	if err == nil {
		t.Fatal("Open on a taken profile address succeeded")
	}
}

// Without an address nothing is served, and Serve and Close are harmless.
func TestEndpointsNone(t *testing.T) {
	e, err := opshttp.Open(opshttp.EndpointsConfig{Registry: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	e.Serve(nil)
	e.Close()
}
