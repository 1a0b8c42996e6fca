package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chillin-chat/chillin/events"
	"github.com/chillin-chat/chillin/ops/internal/audit"
	"github.com/nats-io/nats.go/jetstream"
)

var day1 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

// factAt is the time of the fact with stream seq id in knownLog: a minute
// apart, facts 9 and later on the next day.
func factAt(id int) time.Time {
	if id >= 9 {
		return day1.Add(24*time.Hour + time.Duration(id)*time.Minute)
	}
	return day1.Add(time.Duration(id) * time.Minute)
}

// Secrets written into knownLog; no export may contain them.
const (
	annHash     = "$argon2id$v=19$m=65536,t=3,p=2$c2FsdHNhbHQ$annsecrethash"
	bobLegacy   = "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8"
	lobbyRoomPW = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	// The SHA-256 of ann's bearer token: the key of her live session.
	annSession = "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"
)

// knownLog appends a fixed history to CHAT_EVT, one fact per stream seq
// 1..14, and returns the server's URL.
func knownLog(tb testing.TB) (string, jetstream.JetStream) {
	tb.Helper()
	url, js := newLog(tb)
	type f struct {
		typ, room string
		seq       uint64
		user      string
		data      any
	}
	for i, x := range []f{
		{events.UserRegistered, "", 0, "ann", events.UserRegisteredData{Username: "ann", DisplayName: "Ann", PasswordHash: annHash}},       // 1
		{events.UserImported, "", 0, "bob", events.UserImportedData{Username: "bob", LegacyName: "Bob", LegacySHA256: bobLegacy}},          // 2
		{events.RoomCreated, "lobby", 1, "ann", events.RoomCreatedData{Name: "Lobby", LegacyPasswordSHA256: lobbyRoomPW}},                  // 3
		{events.MemberJoined, "lobby", 2, "ann", events.MemberJoinedData{}},                                                                // 4
		{events.MemberJoined, "lobby", 3, "bob", events.MemberJoinedData{}},                                                                // 5
		{events.MessagePosted, "lobby", 4, "ann", events.MessagePostedData{Text: "original", ClientID: "c1"}},                              // 6
		{events.SessionStarted, "", 0, "ann", events.SessionData{Session: annSession, ExpiresAt: factAt(7).Add(24 * time.Hour)}},           // 7
		{events.MessageEdited, "lobby", 5, "ann", events.MessageEditedData{ID: 6, Text: "edited"}},                                         // 8
		{events.RoomCreated, "den", 1, "bob", events.RoomCreatedData{Name: "Den"}},                                                         // 9
		{events.MessagePosted, "den", 2, "bob", events.MessagePostedData{Text: "in the den", ClientID: "c2"}},                              // 10
		{events.CommandRejected, "", 0, "bob", events.CommandRejectedData{Command: "message.post", Code: "rate_limited", Message: "slow"}}, // 11
		{events.MessageDeleted, "lobby", 6, "ann", events.MessageDeletedData{ID: 6}},                                                       // 12
		{events.CommandRejected, "", 0, "ann", events.CommandRejectedData{Command: "message.post", Code: "not_member", Message: "join"}},   // 13
		{events.MessagePosted, "lobby", 7, "bob", events.MessagePostedData{Text: "later", ClientID: "c3"}},                                 // 14
	} {
		fact, err := events.NewFact(x.typ, x.room, x.seq, x.user, "cmd", factAt(i+1), x.data)
		if err != nil {
			tb.Fatal(err)
		}
		b, err := fact.Encode()
		if err != nil {
			tb.Fatal(err)
		}
		var subject string
		switch {
		case x.room != "":
			subject = events.RoomSubject(x.room)
		case x.typ == events.SessionStarted:
			subject = events.SessionSubject(x.user)
		case x.typ == events.CommandRejected:
			subject = events.RejectedSubject(x.user)
		default:
			subject = events.UserSubject(x.user)
		}
		ack, err := js.Publish(ctxT(tb), subject, b)
		if err != nil {
			tb.Fatal(err)
		}
		if ack.Sequence != uint64(i+1) {
			tb.Fatalf("fact %d stored at %d", i+1, ack.Sequence)
		}
	}
	return url, js
}

// exportLines runs export and returns its lines.
func exportLines(tb testing.TB, url string, args ...string) []string {
	tb.Helper()
	out, _, err := runCmd(tb, append([]string{"export", "-nats", url}, args...)...)
	if err != nil {
		tb.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(out, "\n"), "\n")
}

func streamSeqs(tb testing.TB, lines []string) []uint64 {
	tb.Helper()
	seqs := []uint64{}
	for _, l := range lines {
		if l == "" {
			continue
		}
		var r audit.Record
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			tb.Fatalf("line %q: %v", l, err)
		}
		seqs = append(seqs, r.Stream)
	}
	return seqs
}

func writeLines(tb testing.TB, lines []string) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "export.jsonl")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}

func TestExportAndVerify(t *testing.T) {
	url, js := knownLog(t)
	path := filepath.Join(t.TempDir(), "all.jsonl")
	_, progress, err := runCmd(t, "export", "-nats", url, "-o", path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(progress, "export: 14 facts, stream seqs 1–14, final hash ") {
		t.Fatalf("export summary %q", progress)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{annHash, bobLegacy, lobbyRoomPW, annSession, "passwordHash", "legacySha256", "legacyPasswordSha256"} {
		if bytes.Contains(raw, []byte(secret)) {
			t.Errorf("export holds %q", secret)
		}
	}
	lines := strings.Split(strings.TrimSuffix(string(raw), "\n"), "\n")
	var rec audit.Record
	if err := json.Unmarshal([]byte(lines[7]), &rec); err != nil {
		t.Fatal(err)
	}
	if rec.Stream != 8 || rec.Room != "lobby" || rec.RoomSeq != 5 || !rec.Time.Equal(factAt(8)) ||
		rec.Actor != "ann" || rec.Kind != events.MessageEdited || string(rec.Data) != `{"id":6,"text":"edited"}` || len(rec.Hash) != 64 {
		t.Fatalf("line 8: %s", lines[7])
	}
	if err := json.Unmarshal([]byte(lines[1]), &rec); err != nil || string(rec.Data) != `{"displayName":"","legacyName":"Bob","username":"bob"}` {
		t.Fatalf("line 2 (user.imported): %s, %v", lines[1], err)
	}
	if err := json.Unmarshal([]byte(lines[6]), &rec); err != nil || rec.Kind != events.SessionStarted ||
		string(rec.Data) != `{"expiresAt":"`+factAt(7).Add(24*time.Hour).Format(time.RFC3339)+`"}` {
		t.Fatalf("line 7 (session.started): %s, %v", lines[6], err)
	}

	out, _, err := runCmd(t, "verify-export", path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "intact, 14 lines, stream seqs 1–14, final hash ") || !strings.Contains(progress, out[strings.Index(out, "final hash"):len(out)-1]) {
		t.Fatalf("verify-export said %q; export said %q", out, progress)
	}

	swapped := slices.Clone(lines)
	swapped[4], swapped[5] = swapped[5], swapped[4]
	for _, tc := range []struct {
		name  string
		lines []string
		want  string
	}{
		{"one byte changed", append(slices.Clone(lines[:9]), append([]string{strings.Replace(lines[9], "in the den", "in the dem", 1)}, lines[10:]...)...), "line 10 (stream seq 10)"},
		{"one line dropped", slices.Delete(slices.Clone(lines), 2, 3), "line 3 (stream seq 4)"},
		{"a pair swapped", swapped, "line 5 (stream seq 6)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := runCmd(t, "verify-export", writeLines(t, tc.lines))
			if err == nil || !strings.Contains(err.Error(), "chain broken at "+tc.want) {
				t.Fatalf("error %v, want it to name %s", err, tc.want)
			}
		})
	}

	// Reading the log changed nothing in it and left no consumer behind.
	evt, err := js.Stream(ctxT(t), events.EvtStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := evt.Info(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 14 || info.State.Consumers != 0 {
		t.Fatalf("after export: %d facts, %d consumers", info.State.Msgs, info.State.Consumers)
	}
}

// The binary exits 1 on a broken chain and 0 on an intact one.
func TestVerifyExportExitStatus(t *testing.T) {
	url, _ := knownLog(t)
	lines := exportLines(t, url)
	good := writeLines(t, lines)
	bad := writeLines(t, lines[1:])
	for _, tc := range []struct {
		file, wantOut string
		wantCode      int
	}{
		{good, "intact, 14 lines", 0},
		{bad, "chain broken at line 1 (stream seq 2)", 1},
	} {
		cmd := exec.Command(os.Args[0], "verify-export", tc.file)
		cmd.Env = append(os.Environ(), "CHILLIN_REPLAY_TEST_MAIN=1")
		out, err := cmd.CombinedOutput()
		code := 0
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			code = exit.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != tc.wantCode || !strings.Contains(string(out), tc.wantOut) {
			t.Errorf("%s: exit %d %q, want %d and %q", tc.file, code, out, tc.wantCode, tc.wantOut)
		}
	}
}

func TestExportFilters(t *testing.T) {
	url, _ := knownLog(t)
	for _, tc := range []struct {
		name string
		args []string
		want []uint64
	}{
		{"room", []string{"-room", "lobby"}, []uint64{3, 4, 5, 6, 8, 12, 14}},
		{"user", []string{"-user", "bob"}, []uint64{2, 5, 9, 10, 11, 14}},
		{"rejections", []string{"-kind", "command.rejected"}, []uint64{11, 13}},
		{"two kinds", []string{"-kind", "message.posted, message.edited"}, []uint64{6, 8, 10, 14}},
		{"seq range", []string{"-from", "5", "-to", "8"}, []uint64{5, 6, 7, 8}},
		{"time range", []string{"-since", factAt(4).Format(time.RFC3339), "-until", factAt(8).Format(time.RFC3339)}, []uint64{4, 5, 6, 7}},
		{"since the second day", []string{"-since", "2026-03-02T00:00:00Z"}, []uint64{9, 10, 11, 12, 13, 14}},
		{"room, user and seq range", []string{"-room", "lobby", "-user", "ann", "-from", "6", "-to", "12"}, []uint64{6, 8, 12}},
		{"room with nothing left in range", []string{"-room", "den", "-from", "11"}, []uint64{}},
		{"a room that does not exist", []string{"-room", "attic"}, []uint64{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lines := exportLines(t, url, tc.args...)
			if got := streamSeqs(t, lines); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("stream seqs %v, want %v", got, tc.want)
			}
			if len(tc.want) > 0 {
				if _, _, err := runCmd(t, "verify-export", writeLines(t, lines)); err != nil {
					t.Fatalf("filtered export does not verify: %v", err)
				}
			}
		})
	}
}

func TestRoomAt(t *testing.T) {
	url, _ := knownLog(t)
	for _, tc := range []struct {
		name    string
		args    []string
		members []string
		texts   []string
	}{
		{"before the edit", []string{"lobby", "-at", "4"}, []string{"ann", "bob"}, []string{"original"}},
		{"after the edit", []string{"lobby", "--at", "5"}, []string{"ann", "bob"}, []string{"edited"}},
		{"after the delete", []string{"-at", "6", "lobby"}, []string{"ann", "bob"}, []string{}},
		{"the end", []string{"lobby", "-at", "7"}, []string{"ann", "bob"}, []string{"later"}},
		{"by time before the edit", []string{"lobby", "-at", factAt(7).Format(time.RFC3339)}, []string{"ann", "bob"}, []string{"original"}},
		{"by time between edit and delete", []string{"lobby", "-at", factAt(11).Format(time.RFC3339)}, []string{"ann", "bob"}, []string{"edited"}},
		{"created only", []string{"lobby", "-at", "1"}, []string{}, []string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, _, err := runCmd(t, append(append([]string{"room", "-nats", url}, tc.args...), "-json")...)
			if err != nil {
				t.Fatal(err)
			}
			var st audit.RoomState
			if err := json.Unmarshal([]byte(out), &st); err != nil {
				t.Fatalf("%s: %v", out, err)
			}
			texts := []string{}
			for _, m := range st.Messages {
				texts = append(texts, m.Text)
			}
			if st.Name != "Lobby" || !reflect.DeepEqual(st.Members, tc.members) || !reflect.DeepEqual(texts, tc.texts) {
				t.Fatalf("room %+v, want members %v texts %v", st, tc.members, tc.texts)
			}
		})
	}
	out, _, err := runCmd(t, "room", "-nats", url, "lobby", "-at", "5")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, `#6 seq 4 2026-03-01T10:06:00Z ann: "edited" (edited 2026-03-01T10:08:00Z)`) {
		t.Fatalf("text:\n%s", out)
	}
	if _, _, err := runCmd(t, "room", "-nats", url, "attic", "-at", "5"); err == nil || !strings.Contains(err.Error(), "no fact") {
		t.Fatalf("a room that does not exist: %v", err)
	}
	// lobby's head is seq 7: a later seq is a point the room never reached.
	if out, _, err := runCmd(t, "room", "-nats", url, "lobby", "-at", "8"); err == nil || !strings.Contains(err.Error(), "seq 8 is past the room's head, seq 7") || out != "" {
		t.Fatalf("a seq past the head: %v, printed %q", err, out)
	}
}

func TestStats(t *testing.T) {
	url, _ := knownLog(t)
	out, _, err := runCmd(t, "stats", "-nats", url, "-json")
	if err != nil {
		t.Fatal(err)
	}
	var got audit.Stats
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%s: %v", out, err)
	}
	want := audit.Stats{
		Facts: 14, FirstSeq: 1, LastSeq: 14,
		Kinds: []audit.Count{cnt("command.rejected", 2), cnt("member.joined", 2), cnt("message.deleted", 1), cnt("message.edited", 1),
			cnt("message.posted", 3), cnt("room.created", 2), cnt("session.started", 1), cnt("user.imported", 1), cnt("user.registered", 1)},
		Rooms:    []audit.Count{cnt("den", 2), cnt("lobby", 7)},
		Days:     []audit.Count{cnt("2026-03-01", 8), cnt("2026-03-02", 6)},
		Rejected: []audit.Count{cnt("not_member", 1), cnt("rate_limited", 1)},
		Posters:  []audit.Count{cnt("bob", 2), cnt("ann", 1)},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("stats\n%+v\nwant\n%+v", got, want)
	}
	out, _, err = runCmd(t, "stats", "-nats", url, "-room", "den")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"facts 2", "per room", "den 2", "message.posted 1", "(none)", "bob 1"} {
		if !strings.Contains(strings.Join(strings.Fields(out), " "), want) {
			t.Errorf("text stats lack %q:\n%s", want, out)
		}
	}
}

func TestAuditUsage(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"export with an argument", []string{"export", "x"}, "export takes no arguments"},
		{"an unknown kind", []string{"export", "-kind", "message.shouted"}, `kind "message.shouted"`},
		{"a bad time", []string{"export", "-since", "yesterday"}, "RFC 3339"},
		{"an empty time range", []string{"stats", "-since", "2026-03-02T00:00:00Z", "-until", "2026-03-01T00:00:00Z"}, "-since must be before -until"},
		{"a backwards seq range", []string{"export", "-from", "9", "-to", "3"}, "-to 3 is before -from 9"},
		{"verify-export without a file", []string{"verify-export"}, "verify-export takes one file"},
		{"verify-export of a missing file", []string{"verify-export", filepath.Join(t.TempDir(), "none")}, "no such file"},
		{"room without -at", []string{"room", "lobby"}, "room needs -at"},
		{"room without a room", []string{"room", "-at", "3"}, "room takes one room id"},
		{"room with two rooms", []string{"room", "a", "b", "-at", "3"}, "room takes one room id"},
		{"room at seq 0", []string{"room", "a", "-at", "0"}, "room seqs start at 1"},
		{"help lists export", []string{"help"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, _, err := runCmd(t, tc.args...)
			if tc.wantErr == "" {
				if err != nil || !strings.Contains(out, "verify-export [flags] FILE") || !strings.Contains(out, "room ROOM -at SEQ|TIME") {
					t.Fatalf("help: %v\n%s", err, out)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want %q", err, tc.wantErr)
			}
		})
	}
}

func cnt(key string, n int) audit.Count { return audit.Count{Key: key, Count: n} }

// Refusals recorded on CHAT_REJ are exported and counted with -rejections,
// as a chained export of their own; the log's export keeps the refusals an
// older log holds and gains none of CHAT_REJ's.
func TestRejectionsStream(t *testing.T) {
	url, js := knownLog(t)
	for i, x := range []struct{ user, code string }{{"bob", "RATE_LIMITED"}, {"ann", "INVALID_EMOJI"}, {"bob", "RATE_LIMITED"}} {
		fact, err := events.NewFact(events.CommandRejected, "", 0, x.user, fmt.Sprint("rej-", i), factAt(15+i),
			events.CommandRejectedData{Command: events.CmdReactionAdd, Room: "lobby", Code: x.code, Message: "no"})
		if err != nil {
			t.Fatal(err)
		}
		b, err := fact.Encode()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := js.Publish(ctxT(t), events.RejSubject(x.user), b); err != nil {
			t.Fatal(err)
		}
	}
	lines := exportLines(t, url, "-rejections")
	if got := streamSeqs(t, lines); !reflect.DeepEqual(got, []uint64{1, 2, 3}) {
		t.Fatalf("CHAT_REJ export seqs %v, want 1 2 3", got)
	}
	if _, _, err := runCmd(t, "verify-export", writeLines(t, lines)); err != nil {
		t.Fatalf("CHAT_REJ export does not verify: %v", err)
	}
	if got := streamSeqs(t, exportLines(t, url, "-rejections", "-user", "bob")); !reflect.DeepEqual(got, []uint64{1, 3}) {
		t.Fatalf("bob's refusals %v, want 1 3", got)
	}
	if got := streamSeqs(t, exportLines(t, url, "-kind", "command.rejected")); !reflect.DeepEqual(got, []uint64{11, 13}) {
		t.Fatalf("the log's refusals %v, want 11 13 (the older log's only)", got)
	}
	out, _, err := runCmd(t, "stats", "-nats", url, "-rejections", "-json")
	if err != nil {
		t.Fatal(err)
	}
	var got audit.Stats
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%s: %v", out, err)
	}
	if want := []audit.Count{cnt("RATE_LIMITED", 2), cnt("INVALID_EMOJI", 1)}; got.Facts != 3 || !reflect.DeepEqual(got.Rejected, want) {
		t.Fatalf("CHAT_REJ stats %+v, want 3 facts and rejections %v", got, want)
	}
}
