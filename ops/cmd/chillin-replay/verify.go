package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/chillin-chat/chillin/projector/pgrebuild"
)

// statusError is an error with the exit status it calls for.
type statusError struct {
	status int
	err    error
}

func (e statusError) Error() string   { return e.err.Error() }
func (e statusError) Unwrap() error   { return e.err }
func (e statusError) ExitStatus() int { return e.status }

// verifyPG replays the log into a scratch schema and compares it with the
// live tables (pgrebuild.Verify). Exit status 0: equal; 1: they differ; 2: the
// comparison could not be made.
func verifyPG(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	f := newPGFlags("verify", getenv, stderr)
	asJSON := f.fs.Bool("json", false, "print the comparison as JSON")
	trouble := func(err error) error { return statusError{2, err} }
	if err := parseCommand(f.fs, args, "verify -view pg [flags]",
		"Replays the log into a scratch schema up to the live checkpoint and compares every table with the live one. Exit status 0: equal, 1: they differ, 2: no comparison.",
		0, "verify takes no arguments, only flags", stderr); err != nil {
		return trouble(err)
	}
	nc, o, err := f.open(ctx, stderr)
	if err != nil {
		return trouble(err)
	}
	defer nc.Close()
	defer o.Live.Close()

	m, report := meter(stderr, "verify")
	o.Progress = report
	res, err := pgrebuild.Verify(ctx, o)
	m.Finish()
	if err != nil {
		return trouble(fmt.Errorf("verify: %w", err))
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(verifyJSON(res)); err != nil {
			return trouble(err)
		}
	} else {
		writeVerify(stdout, res)
	}
	if res.Equal() {
		return nil
	}
	var differ []string
	for _, t := range res.Tables {
		if !t.Equal() {
			differ = append(differ, t.Name)
		}
	}
	return statusError{1, fmt.Errorf("schema %s differs from a replay of the log in %d table(s): %s", res.Schema, len(differ), strings.Join(differ, ", "))}
}

// writeVerify prints one line per table and, under each table that
// differs, its first differing row from either side.
func writeVerify(w io.Writer, res pgrebuild.VerifyResult) {
	fmt.Fprintf(w, "verify: schema %s against a replay of the log through seq %d\n", res.Schema, res.Seq)
	for _, t := range res.Tables {
		switch {
		case t.MissingA:
			fmt.Fprintf(w, "  %-24s DIFFERS: only the replay has it (%s)\n", t.Name, rows(t.B.Rows))
		case t.MissingB:
			fmt.Fprintf(w, "  %-24s DIFFERS: only the live schema has it (%s)\n", t.Name, rows(t.A.Rows))
		case t.Columns != "":
			fmt.Fprintf(w, "  %-24s DIFFERS: %s\n", t.Name, t.Columns)
		case t.Equal():
			fmt.Fprintf(w, "  %-24s %12s  equal  %s\n", t.Name, rows(t.A.Rows), t.A.Sum)
		default:
			fmt.Fprintf(w, "  %-24s %12s  DIFFERS (replay: %s)  %s / %s\n", t.Name, rows(t.A.Rows), rows(t.B.Rows), t.A.Sum, t.B.Sum)
		}
		if d := t.Diff; d != nil {
			fmt.Fprintf(w, "      first difference at %s\n", d.Key)
			fmt.Fprintf(w, "        live:   %s\n", orNone(d.A))
			fmt.Fprintf(w, "        replay: %s\n", orNone(d.B))
		}
	}
	verdict := "equal"
	if !res.Equal() {
		verdict = "DIFFERENT"
	}
	fmt.Fprintf(w, "verify: %s (took %s; the projector waited %s)\n", verdict, res.Took.Round(time.Millisecond), res.Pause.Round(time.Millisecond))
}

func rows(n int64) string {
	if n == 1 {
		return "1 row"
	}
	return fmt.Sprintf("%d rows", n)
}

func orNone(row string) string {
	if row == "" {
		return "(no such row)"
	}
	return row
}

// verifyJSON is the comparison as -json prints it.
func verifyJSON(res pgrebuild.VerifyResult) any {
	type side struct {
		Rows int64  `json:"rows"`
		Sum  string `json:"sum"`
	}
	type diff struct {
		Key    string `json:"key"`
		Live   string `json:"live,omitempty"`
		Replay string `json:"replay,omitempty"`
	}
	type table struct {
		Name    string `json:"name"`
		Equal   bool   `json:"equal"`
		Live    *side  `json:"live,omitempty"`
		Replay  *side  `json:"replay,omitempty"`
		Columns string `json:"columns,omitempty"`
		First   *diff  `json:"firstDifference,omitempty"`
	}
	out := struct {
		Schema  string  `json:"schema"`
		Seq     uint64  `json:"seq"`
		Equal   bool    `json:"equal"`
		TookMs  int64   `json:"tookMs"`
		PauseMs int64   `json:"pauseMs"`
		Tables  []table `json:"tables"`
	}{Schema: res.Schema, Seq: res.Seq, Equal: res.Equal(), TookMs: res.Took.Milliseconds(), PauseMs: res.Pause.Milliseconds(), Tables: []table{}}
	for _, t := range res.Tables {
		tt := table{Name: t.Name, Equal: t.Equal(), Columns: t.Columns}
		if !t.MissingA {
			tt.Live = &side{t.A.Rows, t.A.Sum}
		}
		if !t.MissingB {
			tt.Replay = &side{t.B.Rows, t.B.Sum}
		}
		if t.Diff != nil {
			tt.First = &diff{t.Diff.Key, t.Diff.A, t.Diff.B}
		}
		out.Tables = append(out.Tables, tt)
	}
	return out
}
