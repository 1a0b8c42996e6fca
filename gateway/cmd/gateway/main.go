// Command gateway runs one Chillin gateway: the HTTP and WebSocket edge.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/chillin-chat/chillin/events/envflag"
	"github.com/chillin-chat/chillin/events/natsconn"
	"github.com/chillin-chat/chillin/gateway"
	"github.com/chillin-chat/chillin/ui"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "gateway:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := parseConfig(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	return natsconn.Serve(ctx, cfg.Logger, "gateway", func(ctx context.Context) error { return gateway.Run(ctx, cfg) })
}

// parseConfig reads the settings (envflag: CHILLIN_* variables, flags
// overriding them) and checks them.
func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (gateway.Config, error) {
	fs := envflag.NewFlagSet("gateway", stderr)
	config := gateway.Flags(fs, getenv)
	s := envflag.New(fs, getenv)
	logger := s.Logger("json", stderr)
	if err := s.Parse(args); err != nil {
		return gateway.Config{}, err
	}
	cfg, err := config()
	if err != nil {
		return cfg, err
	}
	cfg.Logger, cfg.UI = logger(), ui.FS()
	return cfg, nil
}
