package main

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/chillin-chat/chillin/schema/schematest"
)

func TestViewSubcommands(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"rebuild without a view", []string{"rebuild"}, "rebuild needs -view"},
		{"verify without a view", []string{"verify", "-json"}, "verify needs -view"},
		{"an unknown view", []string{"rebuild", "-view", "mongo"}, `rebuild -view "mongo": want `},
		{"an unknown view after =", []string{"verify", "--view=mongo"}, `verify -view "mongo": want `},
		{"arguments", []string{"rebuild", "-view", "pg", "now"}, "rebuild takes no arguments"},
		{"a batch of none", []string{"rebuild", "-view", "pg", "-batch", "0"}, "-batch 0: want 1 or more"},
		{"no lock timeout", []string{"verify", "--view", "pg", "-lock-timeout", "0s"}, "-lock-timeout 0s: want a positive duration"},
		{"a bad log format", []string{"verify", "-view", "pg", "-log-format", "xml"}, `-log-format "xml"`},
		{"a bad Postgres URL", []string{"rebuild", "-view", "pg", "-postgres", "mysql://x"}, "-postgres"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := runCmd(t, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want %q", err, tc.wantErr)
			}
		})
	}
}

// rebuild -view pg fills an empty view from the log; verify -view pg then
// finds it equal to a replay, and names the row altered by hand afterwards,
// with exit status 1.
func TestRebuildAndVerifyPG(t *testing.T) {
	url, _ := knownLog(t)
	pool, dsn := schematest.NewDB(t)
	flags := []string{"-view", "pg", "-nats", url, "-postgres", dsn}

	out, progress, err := runCmd(t, append([]string{"rebuild"}, flags...)...)
	if err != nil {
		t.Fatalf("%v\n%s", err, progress)
	}
	if !strings.HasPrefix(out, "rebuild: schema public rebuilt from the log through seq 14 in ") {
		t.Fatalf("summary %q", out)
	}
	if !strings.Contains(progress, "rebuild: 14 facts in ") {
		t.Fatalf("progress %q", progress)
	}

	out, _, err = runCmd(t, append([]string{"verify"}, flags...)...)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, want := range []string{
		"verify: schema public against a replay of the log through seq 14\n",
		"  messages                       3 rows  equal  ",
		"  users                          2 rows  equal  ",
		"verify: equal (took ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in\n%s", want, out)
		}
	}

	if _, err := pool.Exec(ctxT(t), `UPDATE messages SET text = 'x' WHERE id = 14`); err != nil {
		t.Fatal(err)
	}
	out, _, err = runCmd(t, append([]string{"verify"}, flags...)...)
	var se statusError
	if !errors.As(err, &se) || se.ExitStatus() != 1 || !strings.Contains(err.Error(), "differs from a replay of the log in 1 table(s): messages") {
		t.Fatalf("error %v", err)
	}
	for _, want := range []string{
		"  messages                       3 rows  DIFFERS (replay: 3 rows)",
		"      first difference at id=14\n",
		"        live:   (14,lobby,7,bob,c3,x,,",
		"        replay: (14,lobby,7,bob,c3,later,,",
		"  users                          2 rows  equal",
		"verify: DIFFERENT (took ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in\n%s", want, out)
		}
	}

	out, _, _ = runCmd(t, append([]string{"verify", "-json"}, flags...)...)
	var res struct {
		Schema string
		Seq    uint64
		Equal  bool
		Tables []struct {
			Name  string
			Equal bool
			First *struct{ Key, Live, Replay string } `json:"firstDifference"`
		}
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if res.Schema != "public" || res.Seq != 14 || res.Equal || len(res.Tables) < 8 {
		t.Fatalf("json %+v", res)
	}
	for _, tb := range res.Tables {
		if tb.Equal != (tb.Name != "messages") || (tb.Name == "messages") != (tb.First != nil) {
			t.Fatalf("table %+v", tb)
		}
	}
}

// The exit status says: 0 equal, 1 different, 2 no comparison.
func TestVerifyExitStatus(t *testing.T) {
	url, _ := knownLog(t)
	pool, dsn := schematest.NewDB(t)
	status := func(args ...string) int {
		cmd := exec.Command(os.Args[0], append([]string{"verify", "-view", "pg", "-nats", url}, args...)...)
		cmd.Env = append(os.Environ(), "CHILLIN_REPLAY_TEST_MAIN=1")
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		switch {
		case err == nil:
			return 0
		case errors.As(err, &ee):
			t.Logf("%s", out)
			return ee.ExitCode()
		}
		t.Fatal(err)
		return -1
	}
	if s := status("-postgres", dsn); s != 0 {
		t.Fatalf("an empty view of a log that no projector applied: status %d", s)
	}
	if _, err := pool.Exec(ctxT(t), `INSERT INTO users VALUES ('mallory', 'M', '!', NULL, now(), 99)`); err != nil {
		t.Fatal(err)
	}
	if s := status("-postgres", dsn); s != 1 {
		t.Fatalf("a row added by hand: status %d", s)
	}
	if s := status("-postgres", strings.Replace(dsn, "/chillin_t_", "/nowhere_", 1)); s != 2 {
		t.Fatalf("no such database: status %d", s)
	}
}
