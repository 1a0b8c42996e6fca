package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/chillin-chat/chillin/ops/internal/stack"
	natsconf "github.com/chillin-chat/chillin/ops/nats"
	"github.com/chillin-chat/chillin/ops/nginx"
	"github.com/jackc/pgx/v5"
)

// Config describes a cluster on this machine.
type Config struct {
	// Bin is the folder holding the Binaries (see Build).
	Bin string
	// Dir is the cluster's working folder: each NATS node's JetStream store
	// (nats/<node>), nginx's configuration and one log file per process
	// (logs/<name>.log). It is kept, so a cluster started again on it keeps
	// its log of facts.
	Dir string
	// Nginx is the nginx program (default: nginx on PATH, else
	// /usr/sbin/nginx).
	Nginx string
	// Host is the loopback address everything listens on (default 127.0.0.1).
	Host string
	// Gateways, Validators and Projectors are how many of each to run
	// (default 2 each).
	Gateways, Validators, Projectors int
	// PostgresURL is the projection database, created if missing. It must
	// belong to this cluster's log: another log's projection would disagree.
	PostgresURL string
	RedisURL    string
	RedisPrefix string
	// UnsafeDeferredSync has JetStream acknowledge writes before they are
	// synced to disk (NATS sync_interval 2m0s): a power cut of the machine
	// can lose confirmed messages. By default every write is synced first,
	// and acknowledged once a quorum of the nodes (two of three) holds it.
	UnsafeDeferredSync bool
	// Env is given to every service besides the addresses the cluster
	// sets itself (for example CHILLIN_RATE_LIMIT, CHILLIN_WS_FRAME_RATE,
	// CHILLIN_LOG_FORMAT).
	Env map[string]string
	// StopTimeout bounds each process's graceful stop (default 20s).
	StopTimeout time.Duration
	// StartTimeout bounds the wait for each process to be ready (default 60s).
	StartTimeout time.Duration
	// Output, if set, gets a copy of every process's output, each line after
	// the process's name.
	Output io.Writer
	// Logger reports the cluster's own progress.
	Logger *slog.Logger
}

// Cluster is a running cluster.
type Cluster struct {
	// URL is nginx's address, the cluster's front door: http://host:port.
	URL string
	// NATSURL is every NATS node's client URL, comma-separated, as the
	// services get it: a client fails over to another node.
	NATSURL string

	// NATS are the nodes of the JetStream cluster, nats-1…nats-3 (also
	// their server names).
	NATS                             []*Proc
	Gateways, Validators, Projectors []*Proc
	Nginx                            *Proc

	cfg   Config
	log   *slog.Logger
	exits chan *Proc
}

// Start starts NATS, the services and nginx, each once the one before is
// ready, and returns when nginx answers. On failure it stops what it started.
func Start(ctx context.Context, cfg Config) (*Cluster, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	c := &Cluster{cfg: cfg, log: cfg.Logger, exits: make(chan *Proc, 64)}
	if err := os.MkdirAll(filepath.Join(cfg.Dir, "logs"), 0o755); err != nil {
		return nil, err
	}
	if err := stack.EnsureDatabase(ctx, cfg.PostgresURL); err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	if err := checkProjectionMatchesLog(ctx, cfg); err != nil {
		return nil, err
	}
	if err := c.define(); err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			_ = c.Stop()
		}
	}()
	for _, group := range [][]*Proc{c.NATS, c.Validators, c.Projectors, c.Gateways, {c.Nginx}} {
		for _, p := range group {
			if err := p.Start(); err != nil {
				return nil, err
			}
			c.log.Info("started", "proc", p.Name, "pid", p.PID(), "addr", p.Addr)
		}
		for _, p := range group {
			if err := c.WaitReady(ctx, p); err != nil {
				return nil, err
			}
		}
	}
	ok = true
	return c, nil
}

func (cfg Config) withDefaults() (Config, error) {
	if cfg.Bin == "" || cfg.Dir == "" || cfg.PostgresURL == "" || cfg.RedisURL == "" {
		return cfg, errors.New("cluster: Bin, Dir, PostgresURL and RedisURL are required")
	}
	for name := range Binaries {
		if _, err := os.Stat(filepath.Join(cfg.Bin, name)); err != nil {
			return cfg, fmt.Errorf("cluster: %s not built: %w", name, err)
		}
	}
	if cfg.Nginx == "" {
		if p, err := exec.LookPath("nginx"); err == nil {
			cfg.Nginx = p
		} else {
			cfg.Nginx = "/usr/sbin/nginx"
		}
	}
	if _, err := os.Stat(cfg.Nginx); err != nil {
		return cfg, fmt.Errorf("cluster: nginx not found (ops/scripts/deps.sh installs it): %w", err)
	}
	if cfg.Host == "" {
		cfg.Host = "127.0.0.1"
	}
	for _, n := range []*int{&cfg.Gateways, &cfg.Validators, &cfg.Projectors} {
		if *n == 0 {
			*n = 2
		}
		if *n < 1 {
			return cfg, errors.New("cluster: at least one of each service")
		}
	}
	if cfg.StopTimeout == 0 {
		cfg.StopTimeout = 20 * time.Second
	}
	if cfg.StartTimeout == 0 {
		cfg.StartTimeout = 60 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	var err error
	if cfg.Bin, err = filepath.Abs(cfg.Bin); err != nil {
		return cfg, err
	}
	cfg.Dir, err = filepath.Abs(cfg.Dir)
	return cfg, err
}

// define lays out every process: its free port, program, arguments and
// environment.
func (c *Cluster) define() error {
	cfg := c.cfg
	addr := distinctAddrs(cfg.Host, freeAddr)
	proc := func(name, bin, readyPath string, args []string, env map[string]string) (*Proc, error) {
		a, err := addr()
		if err != nil {
			return nil, err
		}
		var pprof string
		if env != nil {
			if pprof, err = addr(); err != nil {
				return nil, err
			}
			env["CHILLIN_HTTP_ADDR"] = a
			env["CHILLIN_PPROF_ADDR"] = pprof
		}
		return &Proc{
			Name: name, Addr: a, Pprof: pprof, Log: filepath.Join(cfg.Dir, "logs", name+".log"),
			bin: bin, args: args, env: environ(env), readyPath: readyPath, output: cfg.Output, onExit: c.exited,
		}, nil
	}
	if err := c.defineNATS(addr); err != nil {
		return err
	}
	service := func(extra map[string]string) map[string]string {
		env := maps.Clone(cfg.Env)
		if env == nil {
			env = map[string]string{}
		}
		env["CHILLIN_REDIS_URL"] = cfg.RedisURL
		env["CHILLIN_REDIS_PREFIX"] = cfg.RedisPrefix
		env["CHILLIN_NATS_URL"] = c.NATSURL
		env["CHILLIN_STREAM_REPLICAS"] = strconv.Itoa(len(c.NATS))
		maps.Copy(env, extra)
		return env
	}

	for i := range cfg.Validators {
		p, err := proc(fmt.Sprint("validator-", i+1), filepath.Join(cfg.Bin, "validator"), "/ready", nil,
			service(map[string]string{"CHILLIN_UNSAFE_DEFERRED_SYNC": fmt.Sprint(cfg.UnsafeDeferredSync), "CHILLIN_POSTGRES_URL": cfg.PostgresURL}))
		if err != nil {
			return err
		}
		c.Validators = append(c.Validators, p)
	}
	for i := range cfg.Projectors {
		p, err := proc(fmt.Sprint("projector-", i+1), filepath.Join(cfg.Bin, "projector"), "/ready", nil,
			service(map[string]string{"CHILLIN_POSTGRES_URL": cfg.PostgresURL}))
		if err != nil {
			return err
		}
		c.Projectors = append(c.Projectors, p)
	}
	var upstreams []string
	for i := range cfg.Gateways {
		p, err := proc(fmt.Sprint("gateway-", i+1), filepath.Join(cfg.Bin, "gateway"), "/ready", nil,
			service(map[string]string{"CHILLIN_POSTGRES_URL": cfg.PostgresURL, "CHILLIN_TRUSTED_PROXIES": "127.0.0.1"}))
		if err != nil {
			return err
		}
		c.Gateways = append(c.Gateways, p)
		upstreams = append(upstreams, p.Addr)
	}

	front, err := addr()
	if err != nil {
		return err
	}
	dir := filepath.Join(cfg.Dir, "nginx")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	b, err := nginx.Render(nginx.Config{
		Purpose: "the local cluster, ops/cmd/chillin-cluster", Listen: front, Gateways: upstreams,
		Workers: "1", PIDFile: filepath.Join(dir, "nginx.pid"), ErrorLog: "stderr", AccessLog: "off", TempDir: dir,
	})
	if err != nil {
		return err
	}
	nconf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(nconf, b, 0o644); err != nil {
		return err
	}
	c.Nginx = &Proc{
		Name: "nginx", Addr: front, Log: filepath.Join(cfg.Dir, "logs", "nginx.log"),
		bin: cfg.Nginx, args: []string{"-p", dir, "-e", "stderr", "-c", nconf, "-g", "daemon off;"},
		env: environ(nil), readyPath: "/health", output: cfg.Output, onExit: c.exited,
	}
	c.URL = "http://" + front
	return nil
}

// natsNodes is how many NATS servers the cluster runs: the fewest that keep
// a quorum (and so accept writes) with one of them down.
const natsNodes = 3

// defineNATS lays out the NATS nodes nats-1…nats-3 (their server names too):
// each a client port, a cluster port for the routes between them, a
// monitoring port (its Addr) and a store of its own under Dir/nats.
func (c *Cluster) defineNATS(addr func() (string, error)) error {
	cfg := c.cfg
	conf := filepath.Join(cfg.Dir, "nats.conf")
	if err := os.WriteFile(conf, natsconf.Local, 0o644); err != nil {
		return err
	}
	var clients, routes, monitors [natsNodes]string
	for i := range natsNodes {
		for _, a := range []*string{&clients[i], &routes[i], &monitors[i]} {
			var err error
			if *a, err = addr(); err != nil {
				return err
			}
		}
	}
	urls := make([]string, natsNodes)
	for i := range natsNodes {
		name := fmt.Sprint("nats-", i+1)
		host, port, _ := net.SplitHostPort(clients[i])
		_, clusterPort, _ := net.SplitHostPort(routes[i])
		_, monitorPort, _ := net.SplitHostPort(monitors[i])
		c.NATS = append(c.NATS, &Proc{
			Name: name, Addr: monitors[i], URL: "nats://" + clients[i], Log: filepath.Join(cfg.Dir, "logs", name+".log"),
			bin: filepath.Join(cfg.Bin, "nats-server"), args: []string{"-c", conf},
			env: environ(map[string]string{
				"NATS_SERVER_NAME": name, "NATS_HOST": host, "NATS_PORT": port, "NATS_HTTP_PORT": monitorPort,
				"NATS_CLUSTER_PORT": clusterPort, "NATS_ROUTES": natsconf.Routes(routes[:]),
				"NATS_STORE_DIR": natsStore(cfg.Dir, name), "NATS_SYNC_INTERVAL": natsconf.SyncInterval(!cfg.UnsafeDeferredSync),
			}),
			// Ready once the node knows the meta leader and every stream
			// and consumer it holds is current.
			readyPath: "/healthz", output: cfg.Output, onExit: c.exited,
		})
		urls[i] = c.NATS[i].URL
	}
	c.NATSURL = strings.Join(urls, ",")
	return nil
}

// natsStore is the JetStream store folder of the NATS node name.
func natsStore(dir, name string) string { return filepath.Join(dir, "nats", name) }

// checkProjectionMatchesLog refuses a database that holds a projection when
// the JetStream store is new: that projection belongs to another log, and
// the pg projector would skip this log's facts up to its checkpoint.
func checkProjectionMatchesLog(ctx context.Context, cfg Config) error {
	for i := range natsNodes {
		if _, err := os.Stat(natsStore(cfg.Dir, fmt.Sprint("nats-", i+1))); err == nil {
			return nil
		}
	}
	conn, err := pgx.Connect(ctx, cfg.PostgresURL)
	if err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	defer conn.Close(ctx)
	var seq int64
	if err := conn.QueryRow(ctx, `SELECT coalesce(max(seq), 0) FROM projection_checkpoints`).Scan(&seq); err != nil {
		return fmt.Errorf("cluster: read the projection checkpoint: %w", err)
	}
	if seq > 0 {
		return fmt.Errorf("cluster: database %s holds the projection of another log (through fact %d) but the JetStream store in %s is new: drop that database, or use the store it belongs to",
			redact(cfg.PostgresURL), seq, cfg.Dir)
	}
	return nil
}

// redact drops the password from a URL, for messages.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unreadable URL)"
	}
	return u.Redacted()
}

// environ is a child's whole environment: the runner's PATH and HOME and env.
func environ(env map[string]string) []string {
	out := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for _, k := range slices.Sorted(maps.Keys(env)) {
		out = append(out, k+"="+env[k])
	}
	return out
}

// distinctAddrs returns a picker of free addresses on host (from free) that
// never returns one twice. Every port is picked before any process starts,
// and a probed port is free again once its probe closes, so two picks can
// get the same one; the picker tries again instead.
func distinctAddrs(host string, free func(host string) (string, error)) func() (string, error) {
	given := map[string]bool{}
	return func() (string, error) {
		for range 100 {
			a, err := free(host)
			if err != nil {
				return "", err
			}
			if !given[a] {
				given[a] = true
				return a, nil
			}
		}
		return "", errors.New("cluster: no free port that was not given out already")
	}
}

// freeAddr returns host:port with a port nothing listens on now. It draws
// ports below Linux's ephemeral range (32768 and up): a port there, free
// now, can be taken by any outgoing connection before the process that is
// to listen on it starts, and a whole cluster starting opens many.
func freeAddr(host string) (string, error) {
	for range 200 {
		port := lowPortMin + rand.IntN(lowPortMax-lowPortMin)
		ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
		if err != nil {
			continue
		}
		a := ln.Addr().String()
		ln.Close()
		return a, nil
	}
	return "", errors.New("cluster: no free port below the ephemeral range")
}

// The range freeAddr draws from.
const lowPortMin, lowPortMax = 10000, 20000

func (c *Cluster) exited(p *Proc, state *os.ProcessState) {
	c.log.Warn("exited unexpectedly; not restarted", "proc", p.Name, "status", state.String(), "log", p.Log)
	select {
	case c.exits <- p:
	default:
	}
}

// Exits delivers each process that ended without being asked to (crashed,
// or killed from outside). The cluster restarts nothing by itself.
func (c *Cluster) Exits() <-chan *Proc { return c.exits }

// Procs are every process, in start order.
func (c *Cluster) Procs() []*Proc {
	out := slices.Clone(c.NATS)
	out = append(out, c.Validators...)
	out = append(out, c.Projectors...)
	out = append(out, c.Gateways...)
	return append(out, c.Nginx)
}

// WaitReady waits until p's readiness endpoint answers 200 (a NATS node:
// /healthz, which needs the cluster's meta leader and every stream and
// consumer on the node current; services: /ready; nginx: a gateway's
// /health through it).
// It fails at once if p exits meanwhile.
func (c *Cluster) WaitReady(ctx context.Context, p *Proc) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.StartTimeout)
	defer cancel()
	client := http.Client{Timeout: 2 * time.Second}
	url := "http://" + p.Addr + p.readyPath
	var last string
	for {
		if !p.Running() {
			return fmt.Errorf("%s exited while starting:\n%s", p.Name, p.LogTail(20))
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err == nil {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = strconv.Itoa(resp.StatusCode) + " " + string(b)
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready within %s (last answer: %s):\n%s", p.Name, c.cfg.StartTimeout, last, p.LogTail(20))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Stop stops every process gracefully (SIGTERM), in the order that loses
// nothing: nginx, the gateways (their sockets close with 1001), the
// validators and projectors (they settle what they hold), NATS last. Each
// group is stopped at once and given StopTimeout; a process still running
// then is killed. The error names every process that did not stop cleanly.
func (c *Cluster) Stop() error {
	var errs []error
	for _, group := range [][]*Proc{{c.Nginx}, c.Gateways, append(slices.Clone(c.Validators), c.Projectors...), c.NATS} {
		var (
			wg sync.WaitGroup
			mu sync.Mutex
		)
		for _, p := range group {
			if p == nil {
				continue
			}
			wg.Go(func() {
				if err := p.Stop(c.cfg.StopTimeout); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
	}
	return errors.Join(errs...)
}
