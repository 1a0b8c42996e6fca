// Command chillin-replay works on Chillin's log (CHAT_EVT) directly, as an
// operator's tool: it appends through the same contracts as live traffic and
// never deletes or rewrites a fact. It also rebuilds the views projected
// from the log, and checks them against it, while the system runs.
//
//	chillin-replay import-legacy [flags] DIR
//	chillin-replay rebuild -view pg [flags]
//	chillin-replay rebuild -view redis [flags]
//	chillin-replay verify -view pg [flags]
//
// Subcommands are listed by `chillin-replay help`; each has its own flags
// (`chillin-replay SUBCOMMAND -h`). Settings come from CHILLIN_* variables,
// each overridden by the flag of the same meaning.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "chillin-replay:", err)
		status := 1
		var se interface{ ExitStatus() int }
		if errors.As(err, &se) {
			status = se.ExitStatus()
		}
		os.Exit(status)
	}
}

// subcommand is one thing chillin-replay does.
type subcommand struct {
	name    string
	args    string // what follows the flags, for the usage line
	summary string
	run     runFunc
}

type runFunc func(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error

// subcommands is every subcommand, in the order help lists them.
var subcommands = []subcommand{
	{
		name: "import-legacy", args: "[flags] DIR",
		summary: "import the original Chillin-Chatroom's data (DIR holds its users.json, rooms.json and messages.json)",
		run:     importLegacy,
	},
	{
		name: "export", args: "[flags]",
		summary: "write facts as hash-chained JSON Lines, secrets removed, filtered by room, user, kind, stream seq and time",
		run:     exportFacts,
	},
	{
		name: "verify-export", args: "[flags] FILE",
		summary: "check an export's hash chain; name the first altered, dropped or reordered line",
		run:     verifyExport,
	},
	{
		name: "room", args: "ROOM -at SEQ|TIME [flags]",
		summary: "show a room as it was at a room seq or a time: members, messages as they read then, reactions",
		run:     roomAt,
	},
	{
		name: "stats", args: "[flags]",
		summary: "count facts per kind, room and day, rejections per code, and the busiest posters",
		run:     stats,
	},
	{
		name: "rebuild", args: "-view VIEW [flags]",
		summary: "rebuild a view from the first fact while the system runs, then switch to it (pg: a new Postgres schema; redis: a new cache generation)",
		run:     byView("rebuild", rebuildViews),
	},
	{
		name: "verify", args: "-view VIEW [flags]",
		summary: "replay the log into scratch and compare with the live view (pg: every table); exit status 1 if they differ",
		run:     byView("verify", verifyViews),
	},
}

// rebuildViews and verifyViews are the views rebuild and verify work on, by
// the name -view takes.
var (
	rebuildViews = map[string]runFunc{"pg": rebuildPG, "redis": rebuildRedis}
	verifyViews  = map[string]runFunc{"pg": verifyPG}
)

// byView runs the function of the view named by -view (among the flags,
// anywhere); that function parses all the flags, -view included.
func byView(name string, views map[string]runFunc) runFunc {
	return func(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
		names := slices.Sorted(maps.Keys(views))
		view, found := "", false
		for i, a := range args {
			if a == "--" {
				break
			}
			flag, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
			if !strings.HasPrefix(a, "-") || flag != "view" {
				continue
			}
			found = true
			if hasValue {
				view = value
			} else if i+1 < len(args) {
				view = args[i+1]
			}
		}
		if !found {
			fmt.Fprintf(stderr, "usage: chillin-replay %s -view VIEW [flags]\n\nVIEW is one of: %s. chillin-replay %s -view VIEW -h shows its flags.\n", name, strings.Join(names, ", "), name)
			return fmt.Errorf("%s needs -view (%s)", name, strings.Join(names, " or "))
		}
		run, ok := views[view]
		if !ok {
			return fmt.Errorf("%s -view %q: want %s", name, view, strings.Join(names, " or "))
		}
		return run(ctx, args, getenv, stdout, stderr)
	}
}

var errNoSubcommand = errors.New("no subcommand given (chillin-replay help lists them)")

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		usage(stderr)
		return errNoSubcommand
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		usage(stdout)
		return nil
	}
	for _, c := range subcommands {
		if c.name == args[0] {
			return c.run(ctx, args[1:], getenv, stdout, stderr)
		}
	}
	return fmt.Errorf("unknown subcommand %q (chillin-replay help lists them)", args[0])
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: chillin-replay SUBCOMMAND [flags] [args]")
	fmt.Fprintln(w, "\nSubcommands:")
	for _, c := range subcommands {
		fmt.Fprintf(w, "  %s %s\n      %s\n", c.name, c.args, c.summary)
	}
	fmt.Fprintln(w, "\nchillin-replay SUBCOMMAND -h shows a subcommand's flags.")
}
