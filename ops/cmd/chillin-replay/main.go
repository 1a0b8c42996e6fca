// Command chillin-replay works on Chillin's log (CHAT_EVT) directly, as an
// operator's tool: it appends through the same contracts as live traffic and
// never deletes or rewrites a fact.
//
//	chillin-replay import-legacy [flags] DIR
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
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "chillin-replay:", err)
		os.Exit(1)
	}
}

// subcommand is one thing chillin-replay does.
type subcommand struct {
	name    string
	args    string // what follows the flags, for the usage line
	summary string
	run     func(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error
}

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
