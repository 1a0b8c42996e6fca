package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/chillin-chat/chillin/events/envflag"
	"github.com/chillin-chat/chillin/ops/internal/legacy"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// importLegacy reads a legacy data folder completely (any malformed file
// stops it before anything is appended), then appends its facts to CHAT_EVT
// (legacy.Import), printing a progress line on stderr now and then and the
// summary on stdout. Running it again completes an interrupted import and
// otherwise changes nothing.
func importLegacy(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	env := func(key, def string) string {
		if v := getenv(key); v != "" {
			return v
		}
		return def
	}
	fs := flag.NewFlagSet("chillin-replay import-legacy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	natsURL := fs.String("nats", env("CHILLIN_NATS_URL", "nats://127.0.0.1:4222"), "NATS URL of the Chillin system (CHILLIN_NATS_URL)")
	rate := fs.Float64("rate", 0, "append at most this many facts per second, to go easy on a system in use (0: no bound)")
	asJSON := fs.Bool("json", false, "print the summary as JSON")
	logFormat := fs.String("log-format", env("CHILLIN_LOG_FORMAT", "text"), "log format: json or text (CHILLIN_LOG_FORMAT)")
	if err := parseCommand(fs, args, "import-legacy [flags] DIR", "DIR is the original app's server/data folder.", 1,
		"import-legacy takes one folder: the original app's server/data", stderr); err != nil {
		return err
	}
	if *rate < 0 {
		return fmt.Errorf("rate %v: want 0 or more facts per second", *rate)
	}
	dir := fs.Arg(0)
	log, err := envflag.NewLogger(*logFormat, "info", stderr)
	if err != nil {
		return err
	}

	data, err := legacy.Load(os.DirFS(dir))
	if err != nil {
		return fmt.Errorf("%s: nothing imported: %w", dir, err)
	}
	nc, err := nats.Connect(*natsURL, nats.Name("chillin-replay"))
	if err != nil {
		return fmt.Errorf("nats %s: %w", *natsURL, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	sum, err := legacy.Import(ctx, js, data, legacy.Options{Dir: dir, Rate: *rate, Progress: stderr, Logger: log})
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("interrupted; run the same import again to complete it: %w", err)
		}
		return fmt.Errorf("import stopped; run it again to complete it: %w", err)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(sum)
	}
	sum.WriteText(stdout)
	return nil
}
