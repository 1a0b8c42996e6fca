package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/chillin-chat/chillin/events"
	"github.com/chillin-chat/chillin/ops/internal/audit"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// logFlags are the flags of the subcommands that read the log.
type logFlags struct {
	fs      *flag.FlagSet
	natsURL *string
}

func newLogFlags(name string, getenv func(string) string, stderr io.Writer) logFlags {
	fs := flag.NewFlagSet("chillin-replay "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	def := getenv("CHILLIN_NATS_URL")
	if def == "" {
		def = "nats://127.0.0.1:4222"
	}
	return logFlags{fs: fs, natsURL: fs.String("nats", def, "NATS URL of the Chillin system (CHILLIN_NATS_URL)")}
}

// parseCommand parses a subcommand's flags and checks it was given nargs
// arguments, else shows its usage (synopsis and about) and says wantArgs.
func parseCommand(fs *flag.FlagSet, args []string, synopsis, about string, nargs int, wantArgs string, stderr io.Writer) error {
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: chillin-replay %s\n\n%s Flags:\n", synopsis, about)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != nargs {
		fs.Usage()
		return errors.New(wantArgs)
	}
	return nil
}

// connect opens JetStream on the system's NATS; close the connection after.
func (l logFlags) connect() (*nats.Conn, jetstream.JetStream, error) {
	nc, err := nats.Connect(*l.natsURL, nats.Name("chillin-replay"))
	if err != nil {
		return nil, nil, fmt.Errorf("nats %s: %w", *l.natsURL, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("jetstream: %w", err)
	}
	return nc, js, nil
}

// filterFlags adds the fact filter flags to fs and returns what builds the
// filter once fs is parsed.
func filterFlags(fs *flag.FlagSet) func() (audit.Filter, error) {
	room := fs.String("room", "", "only this room's facts")
	user := fs.String("user", "", "only facts whose actor is this user")
	kinds := fs.String("kind", "", "only these fact types, comma-separated (e.g. message.posted,command.rejected)")
	from := fs.Uint64("from", 0, "only facts with stream seq >= this")
	to := fs.Uint64("to", 0, "only facts with stream seq <= this (0: to the end)")
	since := fs.String("since", "", "only facts at or after this time (RFC 3339)")
	until := fs.String("until", "", "only facts before this time (RFC 3339)")
	rejections := fs.Bool("rejections", false, "read the refused commands kept on "+events.RejStream+" (7 days) instead of the log; -from and -to are then its seqs")
	return func() (audit.Filter, error) {
		f := audit.Filter{Room: *room, User: *user, From: *from, To: *to, Rejections: *rejections}
		if *kinds != "" {
			for k := range strings.SplitSeq(*kinds, ",") {
				k = strings.TrimSpace(k)
				if !events.Known(k, 1) {
					return f, fmt.Errorf("kind %q: not a fact type", k)
				}
				f.Kinds = append(f.Kinds, k)
			}
		}
		if f.To != 0 && f.To < f.From {
			return f, fmt.Errorf("-to %d is before -from %d", f.To, f.From)
		}
		var err error
		if f.Since, err = parseTime("since", *since); err != nil {
			return f, err
		}
		if f.Until, err = parseTime("until", *until); err != nil {
			return f, err
		}
		if !f.Since.IsZero() && !f.Until.IsZero() && !f.Since.Before(f.Until) {
			return f, errors.New("-since must be before -until")
		}
		return f, nil
	}
}

func parseTime(flagName, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return t, fmt.Errorf("-%s %q: want an RFC 3339 time such as 2026-03-01T10:00:00Z", flagName, s)
	}
	return t, nil
}

// readFiltered calls fn with every fact of the log the filter selects.
func readFiltered(ctx context.Context, js jetstream.JetStream, f audit.Filter, fn func(events.Stored) error) error {
	return audit.Read(ctx, js, f.Subject(), f.From, f.To, func(s events.Stored) error {
		if !f.Match(s) {
			return nil
		}
		return fn(s)
	})
}

// exportFacts writes the selected facts as hash-chained JSON Lines.
func exportFacts(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	lf := newLogFlags("export", getenv, stderr)
	filter := filterFlags(lf.fs)
	out := lf.fs.String("o", "", "write to this file instead of stdout")
	if err := parseCommand(lf.fs, args, "export [flags]", "Writes facts as JSON Lines, secrets removed, each line hash-chained to the one before.", 0, "export takes no arguments, only flags", stderr); err != nil {
		return err
	}
	f, err := filter()
	if err != nil {
		return err
	}
	nc, js, err := lf.connect()
	if err != nil {
		return err
	}
	defer nc.Close()

	w := stdout
	var file *os.File
	if *out != "" {
		if file, err = os.Create(*out); err != nil {
			return fmt.Errorf("export: %w", err)
		}
		w = file
	}
	sum, err := export(ctx, js, f, w)
	if file != nil {
		if cerr := file.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("export %s: %w", *out, cerr)
		}
		if err != nil {
			os.Remove(*out)
		}
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "export: %d facts", sum.Lines)
	if sum.Lines > 0 {
		fmt.Fprintf(stderr, ", stream seqs %d–%d", sum.FirstSeq, sum.LastSeq)
	}
	fmt.Fprintf(stderr, ", final hash %s\n", sum.FinalHash)
	return nil
}

func export(ctx context.Context, js jetstream.JetStream, f audit.Filter, w io.Writer) (audit.VerifySummary, error) {
	bw := bufio.NewWriter(w)
	chain := audit.NewChain()
	sum := audit.VerifySummary{FinalHash: audit.Genesis}
	err := readFiltered(ctx, js, f, func(s events.Stored) error {
		rec, err := audit.NewRecord(s)
		if err != nil {
			return err
		}
		line, err := chain.Seal(rec)
		if err != nil {
			return err
		}
		bw.Write(line)
		if err := bw.WriteByte('\n'); err != nil {
			return fmt.Errorf("export: %w", err)
		}
		sum.Lines++
		if sum.FirstSeq == 0 {
			sum.FirstSeq = s.ID
		}
		sum.LastSeq = s.ID
		sum.FinalHash = chain.Last()
		return nil
	})
	if err != nil {
		return sum, err
	}
	if err := bw.Flush(); err != nil {
		return sum, fmt.Errorf("export: %w", err)
	}
	return sum, nil
}

// verifyExport recomputes an export's hash chain.
func verifyExport(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("chillin-replay verify-export", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print the summary as JSON")
	if err := parseCommand(fs, args, "verify-export [flags] FILE", "Checks the hash chain of an export (- reads stdin).", 1, "verify-export takes one file", stderr); err != nil {
		return err
	}
	name := fs.Arg(0)
	var r io.Reader = os.Stdin
	if name != "-" {
		file, err := os.Open(name)
		if err != nil {
			return fmt.Errorf("verify-export: %w", err)
		}
		defer file.Close()
		r = file
	}
	sum, err := audit.Verify(r)
	if err != nil {
		return fmt.Errorf("%s: chain broken at %w", name, err)
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(sum)
	}
	fmt.Fprintf(stdout, "%s: intact, %d lines", name, sum.Lines)
	if sum.Lines > 0 {
		fmt.Fprintf(stdout, ", stream seqs %d–%d", sum.FirstSeq, sum.LastSeq)
	}
	fmt.Fprintf(stdout, ", final hash %s\n", sum.FinalHash)
	return nil
}

// roomAt prints a room as it was at a room seq or a time.
func roomAt(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	lf := newLogFlags("room", getenv, stderr)
	at := lf.fs.String("at", "", "the point: a room seq (the room after that fact) or an RFC 3339 time (the room after every fact at or before it)")
	asJSON := lf.fs.Bool("json", false, "print the room as JSON")
	lf.fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: chillin-replay room ROOM -at SEQ|TIME [flags]")
		fmt.Fprintln(stderr, "\nPrints a room as it was then: members, messages with their text at the time, reactions. Flags:")
		lf.fs.PrintDefaults()
	}
	// Flags may come before or after ROOM.
	if err := lf.fs.Parse(args); err != nil {
		return err
	}
	rest := lf.fs.Args()
	if len(rest) > 0 {
		if err := lf.fs.Parse(rest[1:]); err != nil {
			return err
		}
		rest = append(rest[:1:1], lf.fs.Args()...)
	}
	if len(rest) != 1 {
		lf.fs.Usage()
		return errors.New("room takes one room id")
	}
	if *at == "" {
		lf.fs.Usage()
		return errors.New("room needs -at SEQ|TIME")
	}
	room := rest[0]
	point, err := audit.ParsePoint(*at)
	if err != nil {
		return err
	}
	nc, js, err := lf.connect()
	if err != nil {
		return err
	}
	defer nc.Close()
	evt, err := js.Stream(ctx, events.EvtStream)
	if err != nil {
		return fmt.Errorf("stream %s: %w", events.EvtStream, err)
	}
	limit := 0
	if point.Seq != 0 {
		limit = int(min(point.Seq, 1<<30))
	}
	facts, head, err := events.ReadRoom(ctx, js, evt, room, 0, limit)
	if err != nil {
		return err
	}
	if head == 0 {
		return fmt.Errorf("room %s: the log holds no fact of it", room)
	}
	if point.Seq > head {
		// The room never was at that seq: showing its head would pass the
		// head off as the room at a point it has not reached.
		return fmt.Errorf("room %s: seq %d is past the room's head, seq %d", room, point.Seq, head)
	}
	st, err := audit.FoldRoom(room, facts, point)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(st)
	}
	return st.WriteText(stdout)
}

// stats counts the selected facts.
func stats(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	lf := newLogFlags("stats", getenv, stderr)
	filter := filterFlags(lf.fs)
	asJSON := lf.fs.Bool("json", false, "print the stats as JSON")
	if err := parseCommand(lf.fs, args, "stats [flags]", "Counts facts per kind, room and day, rejections per code, and the busiest posters.", 0, "stats takes no arguments, only flags", stderr); err != nil {
		return err
	}
	f, err := filter()
	if err != nil {
		return err
	}
	nc, js, err := lf.connect()
	if err != nil {
		return err
	}
	defer nc.Close()
	tally := audit.NewTally()
	if err := readFiltered(ctx, js, f, tally.Add); err != nil {
		return err
	}
	st := tally.Stats()
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(st)
	}
	return st.WriteText(stdout)
}
