// Command gateway runs one Chillin gateway: the HTTP and WebSocket edge.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

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
	fs := flag.NewFlagSet("gateway", flag.ContinueOnError)
	fs.SetOutput(stderr)
	config := gateway.Flags(fs, getenv)
	logFormat := fs.String("log-format", envOr(getenv, "CHILLIN_LOG_FORMAT", "json"), "log format: json or text (CHILLIN_LOG_FORMAT)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := config()
	if err != nil {
		return err
	}
	if cfg.Logger, err = gateway.NewLogger(*logFormat, stderr); err != nil {
		return err
	}
	cfg.UI = ui.FS()
	return gateway.Run(ctx, cfg)
}

func envOr(getenv func(string) string, key, def string) string {
	if v := getenv(key); v != "" {
		return v
	}
	return def
}
