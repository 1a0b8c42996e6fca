package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chillin-chat/chillin/events"
	"github.com/chillin-chat/chillin/events/natstest"
	"github.com/chillin-chat/chillin/ops/internal/legacy"
	"github.com/nats-io/nats.go/jetstream"
)

// exampleDir is the hand-written legacy data set (see its README).
const exampleDir = "../../testdata/legacy"

// TestMain lets a test run this binary's main in a child process, so that
// the child can be killed with SIGKILL half-way.
func TestMain(m *testing.M) {
	if os.Getenv("CHILLIN_REPLAY_TEST_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func ctxT(tb testing.TB) context.Context {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	tb.Cleanup(cancel)
	return ctx
}

// newLog starts a JetStream server with Chillin's streams and returns its URL.
func newLog(tb testing.TB) (string, jetstream.JetStream) {
	tb.Helper()
	srv := natstest.Start(tb)
	_, js := natstest.Connect(tb, srv)
	if err := events.EnsureStreams(ctxT(tb), js, events.StreamOptions{}); err != nil {
		tb.Fatal(err)
	}
	return srv.ClientURL(), js
}

// dump is every fact in CHAT_EVT with its stream sequence and subject.
func dump(tb testing.TB, js jetstream.JetStream) []string {
	tb.Helper()
	return natstest.Dump(tb, js, events.EvtStream)
}

func runCmd(tb testing.TB, args ...string) (stdout, stderr string, err error) {
	tb.Helper()
	var out, errOut bytes.Buffer
	err = run(ctxT(tb), args, func(string) string { return "" }, &out, &errOut)
	return out.String(), errOut.String(), err
}

func TestSubcommands(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		wantErr string
		wantOut string
	}{
		{"help lists the subcommands", []string{"help"}, "", "import-legacy [flags] DIR"},
		{"no subcommand", nil, "no subcommand given", ""},
		{"an unknown subcommand", []string{"rebuild-everything"}, `unknown subcommand "rebuild-everything"`, ""},
		{"import-legacy needs a folder", []string{"import-legacy"}, "import-legacy takes one folder", ""},
		{"import-legacy takes one folder", []string{"import-legacy", "a", "b"}, "import-legacy takes one folder", ""},
		{"a negative rate", []string{"import-legacy", "-rate", "-1", exampleDir}, "want 0 or more", ""},
		{"a missing folder", []string{"import-legacy", filepath.Join(t.TempDir(), "nowhere")}, "nothing imported", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, _, err := runCmd(t, tc.args...)
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("error %v, want %q", err, tc.wantErr)
			}
			if !strings.Contains(out, tc.wantOut) {
				t.Fatalf("stdout %q, want %q in it", out, tc.wantOut)
			}
		})
	}
}

// Importing the same folder twice leaves the log as the first import left it.
func TestImportLegacyTwice(t *testing.T) {
	url, js := newLog(t)
	out, progress, err := runCmd(t, "import-legacy", "-nats", url, exampleDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"users        7 in the files: 7 imported, 0 already there, 0 skipped",
		"messages    15 in the files: 12 imported, 0 already there, 3 skipped (6 joins)",
		`user "bob smith" → bob-smith`,
		`user "Alice" → alice-2`,
		`room "Book Club" → book-club-2`,
		`"general"[2] by "alice": message is empty`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(progress, "import: users 7/7, rooms 6/6, messages 12/12; 31 facts appended") {
		t.Errorf("no final progress line in %q", progress)
	}
	first := dump(t, js)

	out, _, err = runCmd(t, "import-legacy", "-nats", url, "-json", exampleDir)
	if err != nil {
		t.Fatal(err)
	}
	var sum legacy.Summary
	if err := json.Unmarshal([]byte(out), &sum); err != nil {
		t.Fatalf("summary %s: %v", out, err)
	}
	if sum.Users.Present != 7 || sum.Rooms.Present != 6 || sum.Messages.Present != 12 ||
		sum.Users.Imported+sum.Rooms.Imported+sum.Messages.Imported+sum.Joins != 0 {
		t.Fatalf("second import: %+v", sum)
	}
	if second := dump(t, js); strings.Join(second, "\n") != strings.Join(first, "\n") {
		t.Fatalf("the second import changed the log: %d facts, then %d", len(first), len(second))
	}
}

// An import killed with SIGKILL half-way completes when run again, into the
// very log an uninterrupted import writes.
func TestImportLegacyKilled(t *testing.T) {
	refURL, ref := newLog(t)
	if _, _, err := runCmd(t, "import-legacy", "-nats", refURL, exampleDir); err != nil {
		t.Fatal(err)
	}
	want := dump(t, ref)

	for _, killAt := range []int{3, len(want) / 2} {
		t.Run(fmt.Sprint("killed after ", killAt, " facts"), func(t *testing.T) {
			url, js := newLog(t)
			cmd := exec.Command(os.Args[0], "import-legacy", "-nats", url, "-rate", "20", exampleDir)
			cmd.Env = append(os.Environ(), "CHILLIN_REPLAY_TEST_MAIN=1")
			stderr, err := cmd.StderrPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			lines := make(chan []string, 1)
			go func() {
				var all []string
				s := bufio.NewScanner(stderr)
				for s.Scan() {
					all = append(all, s.Text())
				}
				lines <- all
			}()
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			t.Cleanup(func() { _ = cmd.Process.Kill(); <-exited })

			// Kill it once the log holds killAt facts (it appends 20 a second).
			deadline := time.Now().Add(time.Minute)
			for len(dump(t, js)) < killAt {
				select {
				case err := <-exited:
					exited <- err
					t.Fatalf("the import ended (%v) before it was killed: %q", err, <-lines)
				default:
				}
				if time.Now().After(deadline) {
					t.Fatalf("the import did not reach %d facts", killAt)
				}
				time.Sleep(5 * time.Millisecond)
			}
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			progress := <-lines
			if len(progress) == 0 || !strings.HasPrefix(progress[0], "import: users ") {
				t.Errorf("no progress line while running: %q", progress)
			}
			killed := len(dump(t, js))
			if killed >= len(want) {
				t.Fatalf("the import finished (%d facts) before it was killed", killed)
			}

			out, _, err := runCmd(t, "import-legacy", "-nats", url, exampleDir)
			if err != nil {
				t.Fatal(err)
			}
			if got := dump(t, js); strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Fatalf("killed after %d facts and resumed:\n%s\nwant:\n%s", killed, strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			if !strings.Contains(out, "already there") {
				t.Fatalf("summary %s", out)
			}
		})
	}
}

// A malformed file stops the import before anything is appended, naming the
// file and the position in it.
func TestImportLegacyMalformed(t *testing.T) {
	for _, tc := range []struct {
		name, file, content, want string
	}{
		{"truncated messages", legacy.MessagesFile, "{\n  \"general\": [\n    {\"user\": \"alice\", \"text\": \"hi\"",
			"messages.json:3:35: the file ends in the middle of a value (truncated?)"},
		{"a number for a password", legacy.UsersFile, "{\n  \"alice\": {\"username\": \"alice\", \"password\": 12345}\n}",
			`users.json:2:34: "alice".password: want a string, found a number`},
		{"a string for isPrivate", legacy.RoomsFile, "{\"vault\": {\"isPrivate\": \"true\"}}",
			`rooms.json:1:12: "vault".isPrivate: want true or false, found a string`},
		{"a message list that is an object", legacy.MessagesFile, "{\"general\": {}}",
			`messages.json:1:13: "general": want an array of messages, found an object`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, f := range []string{legacy.UsersFile, legacy.RoomsFile, legacy.MessagesFile} {
				b, err := os.ReadFile(filepath.Join(exampleDir, f))
				if err != nil {
					t.Fatal(err)
				}
				if f == tc.file {
					b = []byte(tc.content)
				}
				if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			url, js := newLog(t)
			_, _, err := runCmd(t, "import-legacy", "-nats", url, dir)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "nothing imported") {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
			if n := len(dump(t, js)); n != 0 {
				t.Fatalf("%d facts appended from a malformed folder", n)
			}
		})
	}
}
