// Command chillin-cluster runs a whole Chillin deployment on this machine as
// separate processes: a cluster of three NATS JetStream servers (streams
// replicated on all three), two gateways, two validators and two projectors
// (their real binaries, built first), and nginx in front of the gateways,
// all on free loopback ports. It prints the addresses,
// reports any process that exits (and restarts none), and on Ctrl-C or
// SIGTERM stops everything in order. `make cluster` runs it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"

	"github.com/chillin-chat/chillin/ops/cluster"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "chillin-cluster:", err)
		os.Exit(1)
	}
}

// forwarded are the service settings passed on from this command's
// environment to every service (each reads those it knows).
var forwarded = []string{
	"CHILLIN_RATE_LIMIT", "CHILLIN_RATE_WINDOW", "CHILLIN_RATE_LIMITS", "CHILLIN_REGISTER_LIMIT",
	"CHILLIN_MAX_MESSAGE_RUNES", "CHILLIN_VALIDATOR_WORKERS",
	"CHILLIN_WS_FRAME_RATE", "CHILLIN_WS_FRAME_BURST", "CHILLIN_SESSION_TTL", "CHILLIN_ALLOWED_ORIGINS",
	"CHILLIN_SECURE_COOKIES", "CHILLIN_PROJECTOR_BATCH_SIZE", "CHILLIN_PROJECTOR_FLUSH_INTERVAL",
	"CHILLIN_PROJECTOR_VIEWS", "CHILLIN_CACHE_WINDOW",
	"CHILLIN_LOG_FORMAT", "CHILLIN_LOG_LEVEL",
	// Media storage, for the gateways and the validators.
	"CHILLIN_S3_ENDPOINT", "CHILLIN_S3_ACCESS_KEY", "CHILLIN_S3_SECRET_KEY", "CHILLIN_S3_BUCKET",
	"CHILLIN_S3_SECURE", "CHILLIN_S3_REGION", "CHILLIN_S3_PUBLIC_URL", "CHILLIN_UPLOAD_EXPIRY",
	// The Go runtime's own: memory against CPU (GOGC, GOMEMLIMIT), cores.
	"GOGC", "GOMEMLIMIT", "GOMAXPROCS",
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	env := func(key, def string) string {
		if v := getenv(key); v != "" {
			return v
		}
		return def
	}
	fs := flag.NewFlagSet("chillin-cluster", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg cluster.Config
	build := fs.Bool("build", true, "build the binaries into -bin first (needs the go command and this repository)")
	fs.StringVar(&cfg.Bin, "bin", env("CHILLIN_CLUSTER_BIN", "var/cluster/bin"), "folder of the gateway, validator, projector and nats-server binaries (CHILLIN_CLUSTER_BIN)")
	fs.StringVar(&cfg.Dir, "dir", env("CHILLIN_CLUSTER_DIR", "var/cluster"), "working folder: the NATS nodes' JetStream stores, nginx config, logs (CHILLIN_CLUSTER_DIR)")
	fs.StringVar(&cfg.Nginx, "nginx", env("CHILLIN_NGINX", ""), "nginx program (default: nginx on PATH) (CHILLIN_NGINX)")
	fs.StringVar(&cfg.Host, "host", "127.0.0.1", "loopback address every process listens on")
	pg := fs.String("postgres", env("CHILLIN_CLUSTER_POSTGRES_URL", ""), "projection database (default: CHILLIN_POSTGRES_URL's server, database chillin_cluster) (CHILLIN_CLUSTER_POSTGRES_URL)")
	fs.StringVar(&cfg.RedisURL, "redis", env("CHILLIN_REDIS_URL", "redis://127.0.0.1:6379/0"), "Redis URL (CHILLIN_REDIS_URL)")
	fs.StringVar(&cfg.RedisPrefix, "redis-prefix", "chillin-cluster:", "prefix of the cluster's Redis keys and channels")
	fs.IntVar(&cfg.Gateways, "gateways", 2, "gateways behind nginx")
	fs.IntVar(&cfg.Validators, "validators", 2, "validator instances")
	fs.IntVar(&cfg.Projectors, "projectors", 2, "projector processes")
	deferredSync := fs.String("unsafe-deferred-sync", env("CHILLIN_UNSAFE_DEFERRED_SYNC", "false"), "true: JetStream acknowledges writes before they are synced to disk; a power cut can lose confirmed messages (CHILLIN_UNSAFE_DEFERRED_SYNC)")
	verbose := fs.Bool("v", false, "copy every process's output here, each line after its name")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	switch *deferredSync {
	case "true":
		cfg.UnsafeDeferredSync = true
	case "false":
	default:
		return fmt.Errorf("unsafe-deferred-sync %q: want true or false", *deferredSync)
	}
	var err error
	if cfg.PostgresURL, err = clusterDatabase(*pg, env("CHILLIN_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/chillin?sslmode=disable")); err != nil {
		return err
	}
	cfg.Env = map[string]string{"CHILLIN_LOG_FORMAT": "text"}
	for _, k := range forwarded {
		if v := getenv(k); v != "" {
			cfg.Env[k] = v
		}
	}
	if *verbose {
		cfg.Output = stderr
	}
	cfg.Logger = slog.New(slog.NewTextHandler(stderr, nil)).With("service", "chillin-cluster")

	if *build {
		root, err := cluster.Root(".")
		if err != nil {
			return fmt.Errorf("build: %w (run from the repository, or build the binaries and pass -build=false)", err)
		}
		cfg.Logger.Info("building", "bin", cfg.Bin)
		if err := cluster.Build(ctx, env("GO", "go"), root, cfg.Bin); err != nil {
			return err
		}
	}
	c, err := cluster.Start(ctx, cfg)
	if err != nil {
		return err
	}
	printAddresses(stdout, c, filepath.Join(cfg.Dir, "logs"))

	for {
		select {
		case p := <-c.Exits():
			fmt.Fprintf(stderr, "chillin-cluster: %s exited (pid %d); it is not restarted. Its log: %s\n%s\n", p.Name, p.PID(), p.Log, p.LogTail(5))
		case <-ctx.Done():
			fmt.Fprintln(stdout, "stopping…")
			if err := c.Stop(); err != nil {
				return err
			}
			fmt.Fprintln(stdout, "stopped")
			return nil
		}
	}
}

// clusterDatabase is the cluster's projection database: explicit, or the
// server of def with database chillin_cluster, so that the all-in-one's
// database (another log's projection) is never mixed with the cluster's.
func clusterDatabase(explicit, def string) (string, error) {
	if explicit != "" {
		return explicit, nil
	}
	u, err := url.Parse(def)
	if err != nil {
		return "", fmt.Errorf("postgres url: %w", err)
	}
	u.Path = "/chillin_cluster"
	return u.String(), nil
}

func printAddresses(w io.Writer, c *cluster.Cluster, logs string) {
	names := make([]string, len(c.Gateways))
	for i, g := range c.Gateways {
		names[i] = g.Name
	}
	fmt.Fprintf(w, "Chillin cluster is running at %s (nginx → %s). Ctrl-C stops it.\n", c.URL, strings.Join(names, ", "))
	fmt.Fprintf(w, "NATS: %d JetStream nodes, streams replicated on each: %s\n\n", len(c.NATS), c.NATSURL)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "process\tpid\tendpoints")
	for _, p := range c.Procs() {
		var what string
		switch {
		case slices.Contains(c.NATS, p):
			what = p.URL + " (monitoring http://" + p.Addr + "/varz)"
		case p == c.Nginx:
			what = "http://" + p.Addr + "/"
		case strings.HasPrefix(p.Name, "gateway"):
			what = "http://" + p.Addr + "/ (/health /ready /metrics)"
		default:
			what = "http://" + p.Addr + "/metrics (/health /ready)"
		}
		if p.Pprof != "" {
			what += " profiles http://" + p.Pprof + "/debug/pprof/"
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\n", p.Name, p.PID(), what)
	}
	tw.Flush()
	fmt.Fprintf(w, "\nLogs: %s/<process>.log\n", logs)
}
