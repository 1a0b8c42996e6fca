// Package nginx renders the nginx configuration that puts Chillin's gateways
// behind one address: ip_hash stickiness, WebSocket upgrade headers, long read
// timeouts and passive health checks (max_fails, fail_timeout). It never
// routes the gateways' /metrics or anything under /debug (404). The template
// is nginx.conf.tmpl beside this file; the local cluster (ops/cluster)
// renders it into a temporary folder, and compose.conf is its rendering for
// compose.yml, kept current by this package's tests.
//
// It only renders text; it never starts nginx.
package nginx

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"strings"
	"text/template"
	"time"
)

//go:embed nginx.conf.tmpl
var text string

var tmpl = template.Must(template.New("nginx.conf").Option("missingkey=error").Parse(text))

// Config is what varies between renderings.
type Config struct {
	// Purpose says in the rendered file what it is for.
	Purpose string
	// Listen is nginx's listen address (host:port, or a port).
	Listen string
	// Gateways are the gateways' host:port addresses.
	Gateways []string
	// MaxFails failures within FailTimeout mark a gateway down for
	// FailTimeout (defaults 1 and 5s).
	MaxFails    int
	FailTimeout time.Duration
	// Workers is worker_processes (default "auto").
	Workers string
	// WorkerConnections per worker (default 16384: a worker may hold every
	// client of a load test, each twice, on its own).
	WorkerConnections int
	// PIDFile, ErrorLog and AccessLog are paths (ErrorLog may be "stderr",
	// AccessLog "off" or "/dev/stdout").
	PIDFile, ErrorLog, AccessLog string
	// TempDir, if set, holds nginx's temporary files (for running outside
	// the system's folders).
	TempDir string
}

// Render returns the nginx.conf for cfg.
func Render(cfg Config) ([]byte, error) {
	if cfg.Listen == "" || len(cfg.Gateways) == 0 || cfg.PIDFile == "" || cfg.ErrorLog == "" || cfg.AccessLog == "" {
		return nil, errors.New("nginx: listen address, gateways, pid file and logs are required")
	}
	for _, g := range cfg.Gateways {
		if g == "" || strings.ContainsAny(g, " ;{}") {
			return nil, fmt.Errorf("nginx: gateway address %q", g)
		}
	}
	if cfg.MaxFails == 0 {
		cfg.MaxFails = 1
	}
	if cfg.FailTimeout == 0 {
		cfg.FailTimeout = 5 * time.Second
	}
	if cfg.FailTimeout%time.Second != 0 || cfg.FailTimeout < 0 {
		return nil, fmt.Errorf("nginx: fail timeout %v: want whole seconds", cfg.FailTimeout)
	}
	if cfg.Workers == "" {
		cfg.Workers = "auto"
	}
	if cfg.WorkerConnections == 0 {
		cfg.WorkerConnections = 16384
	}
	data := struct {
		Config
		FailTimeout  string
		RlimitNofile int
	}{cfg, fmt.Sprintf("%ds", int(cfg.FailTimeout/time.Second)), 2*cfg.WorkerConnections + 64}
	var b bytes.Buffer
	if err := tmpl.Execute(&b, data); err != nil {
		return nil, fmt.Errorf("nginx: %w", err)
	}
	return b.Bytes(), nil
}

// Compose is the rendering used by compose.yml (compose.conf): two gateways
// on the compose network, nginx's own log and pid locations in the container.
func Compose() Config {
	return Config{
		Purpose:  "compose.yml; regenerate with: go test ./nginx -run TestComposeConf -update",
		Listen:   "8080",
		Gateways: []string{"gateway-1:8080", "gateway-2:8080"},
		PIDFile:  "/tmp/nginx.pid", ErrorLog: "stderr", AccessLog: "/dev/stdout",
		TempDir: "/tmp",
	}
}
