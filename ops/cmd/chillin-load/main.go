// Command chillin-load drives a running Chillin with WebSocket clients and
// prints what they saw: accepted messages per second, deliveries per second,
// send→deliver latency, rejections by code, errors, and the gateway's memory
// per connection.
//
// Every client joins one room and sends messages at a steady rate; each
// message's text carries its send time, so every receiver measures the
// latency of each delivery on the same clock. Clients spread their source
// addresses over 127.0.N.1 so more than one port range's worth of connections
// fits on one machine.
//
// It also measures failover. A client whose socket is lost comes back as the
// web app does (backoff with jitter, a new login if its session was refused,
// room:join with after = the last room seq it saw, then the backfill), and
// the result says how many sockets were lost and came back, how long that
// took (p50, p99), how many clients each gateway held, and how many
// messages a client missed or received twice (result.go defines both).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "chillin-load:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("chillin-load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.StringVar(&o.URL, "url", "http://127.0.0.1:8080", "gateway base URL")
	fs.StringVar(&o.MetricsURL, "metrics", "", "gateway /metrics URLs, comma-separated, for memory per connection (default: url + /metrics; \"-\" to skip)")
	fs.StringVar(&o.LagURL, "lag-metrics", "", "projector /metrics URLs, comma-separated, for projection lag (default: the -metrics URLs, as the all-in-one serves every service's; \"-\" to skip)")
	fs.StringVar(&o.LagView, "lag-view", "pg", "the projector view whose lag is reported")
	fs.StringVar(&o.AuthURL, "auth-url", "", "base URL for registering and logging in (default: -url); another gateway keeps the measured one's memory clean of password hashing")
	fs.StringVar(&o.PprofURL, "pprof", "", "net/http/pprof base URLs of the -metrics processes, comma-separated: each collects its garbage before memory is read")
	fs.IntVar(&o.Clients, "clients", 100, "WebSocket clients")
	fs.IntVar(&o.Users, "users", 0, "distinct users the clients log in as (default: one per client)")
	fs.IntVar(&o.Rooms, "rooms", 10, "rooms the clients are spread over")
	fs.Float64Var(&o.Rate, "rate", 1, "messages per second each sending client sends")
	fs.IntVar(&o.Senders, "senders", 0, "how many clients send (default: all)")
	fs.DurationVar(&o.Duration, "duration", 30*time.Second, "how long to send")
	fs.DurationVar(&o.Drain, "drain", 3*time.Second, "how long to wait for deliveries after sending stops")
	fs.DurationVar(&o.Heartbeat, "heartbeat", 25*time.Second, "each client sends a heartbeat frame this often, as the web app does (0: never)")
	fs.IntVar(&o.SourceIPs, "source-ips", 1, "spread client source addresses over 127.0.0.1 .. 127.0.N-1.1 (different /24s: nginx's ip_hash spreads them over gateways)")
	fs.IntVar(&o.Size, "size", 64, "message text length in bytes")
	fs.IntVar(&o.Concurrency, "setup-concurrency", 16, "parallel registrations and connections during setup")
	fs.StringVar(&o.Prefix, "prefix", "", "name prefix of the users and rooms this run creates (default: a fresh one)")
	var cpuProfile string
	fs.StringVar(&cpuProfile, "cpuprofile", "", "write the load tool's own CPU profile to this file")
	fs.BoolVar(&o.JSON, "json", false, "print the result as JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := o.validate(); err != nil {
		return err
	}
	if cpuProfile != "" {
		f, err := os.Create(cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	res, err := runLoad(ctx, o, stderr)
	if err != nil {
		return err
	}
	if o.JSON {
		return res.writeJSON(stdout)
	}
	res.writeTable(stdout)
	return nil
}
