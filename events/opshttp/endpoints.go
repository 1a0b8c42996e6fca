package opshttp

import (
	"log/slog"
	"net"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// NewRegistry returns a registry with the Go runtime and process series:
// what /metrics serves for a service not given a shared registry, and the
// registry the all-in-one shares between its services.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// EndpointsConfig says where a service serves its operator endpoints.
type EndpointsConfig struct {
	// Listener serves /health, /ready and /metrics; if nil, Addr is
	// listened on, and if that is empty too they are not served.
	Listener net.Listener
	Addr     string
	// PprofAddr, if set, serves the Go runtime's profiles (ServeProfiles).
	PprofAddr string
	// Registry is what /metrics serves; nil: NewRegistry.
	Registry *prometheus.Registry
	Logger   *slog.Logger
}

// Endpoints are a service's operator endpoints, the one way every service
// (and the all-in-one, through its services) starts its metrics and
// profiles. Open listens on both addresses at once, so that a bad address
// fails the start, and serves the profiles from then on; /health, /ready
// and /metrics are served once the service knows what /ready probes
// (Serve).
type Endpoints struct {
	// Registry is what /metrics serves: register the service's series
	// here (through Registrations, when it may be shared).
	Registry *prometheus.Registry
	ln       net.Listener
	log      *slog.Logger
	stops    []func()
}

// Open listens as c says and starts serving profiles.
func Open(c EndpointsConfig) (*Endpoints, error) {
	ln, err := Listen(c.Listener, c.Addr)
	if err != nil {
		return nil, err
	}
	e := &Endpoints{Registry: c.Registry, ln: ln, log: c.Logger}
	if e.Registry == nil {
		e.Registry = NewRegistry()
	}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	stopProfiles, err := ServeProfiles(c.PprofAddr, e.log)
	if err != nil {
		if ln != nil {
			ln.Close()
		}
		return nil, err
	}
	e.stops = append(e.stops, stopProfiles)
	return e, nil
}

// Serve starts serving /health, /ready (asking probes) and /metrics, if
// there is an address to serve them on.
func (e *Endpoints) Serve(probes []Probe) {
	if e.ln == nil {
		return
	}
	e.stops = append(e.stops, Serve(e.ln, Handler(e.Registry, probes), e.log))
	e.ln = nil
}

// Close stops serving, letting requests in progress finish for a second.
func (e *Endpoints) Close() {
	if e.ln != nil {
		e.ln.Close()
	}
	for i := len(e.stops) - 1; i >= 0; i-- {
		e.stops[i]()
	}
}
