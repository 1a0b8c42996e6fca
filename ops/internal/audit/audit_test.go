package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/chillin-chat/chillin/events"
)

var t0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

// mustStored builds a stored fact; seq is the room seq (0 for other facts).
func mustStored(tb testing.TB, id uint64, typ, room string, seq uint64, user string, at time.Time, data any) events.Stored {
	tb.Helper()
	f, err := events.NewFact(typ, room, seq, user, "cmd-"+typ, at, data)
	if err != nil {
		tb.Fatal(err)
	}
	return events.Stored{ID: id, Fact: f}
}

func TestRedact(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"user.registered", `{"username":"ann","displayName":"Ann","passwordHash":"$argon2id$v=19$x"}`, `{"displayName":"Ann","username":"ann"}`},
		{"user.imported", `{"username":"bob","legacyName":"Bob","legacySha256":"ab12","email":"b@x"}`, `{"email":"b@x","legacyName":"Bob","username":"bob"}`},
		{"room.created v2", `{"name":"r","isPrivate":true,"legacyPasswordSha256":"cd34"}`, `{"isPrivate":true,"name":"r"}`},
		{"password upgraded", `{"passwordHash":"$argon2id$"}`, `{}`},
		{"session.started", `{"session":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08","expiresAt":"2026-03-02T10:00:00Z"}`, `{"expiresAt":"2026-03-02T10:00:00Z"}`},
		{"a later secret field, nested", `{"a":[{"apiToken":"t","keep":1}],"b":{"clientSecret":"s","n":12345678901234567890}}`, `{"a":[{"keep":1}],"b":{"n":12345678901234567890}}`},
		{"nothing secret", `{"text":"password is not a key here","id":7}`, `{"id":7,"text":"password is not a key here"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Redact(json.RawMessage(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
		})
	}
	if _, err := Redact(json.RawMessage(`{"a":`)); err == nil {
		t.Fatal("truncated data redacted without error")
	}
}

func TestFilter(t *testing.T) {
	post := mustStored(t, 10, events.MessagePosted, "lobby", 3, "ann", t0, events.MessagePostedData{Text: "hi"})
	rej := mustStored(t, 11, events.CommandRejected, "", 0, "bob", t0.Add(time.Hour), events.CommandRejectedData{Code: "rate_limited"})
	for _, tc := range []struct {
		name     string
		f        Filter
		post, rj bool
	}{
		{"no filter", Filter{}, true, true},
		{"room", Filter{Room: "lobby"}, true, false},
		{"other room", Filter{Room: "den"}, false, false},
		{"user", Filter{User: "bob"}, false, true},
		{"kind rejections", Filter{Kinds: []string{events.CommandRejected}}, false, true},
		{"two kinds", Filter{Kinds: []string{events.CommandRejected, events.MessagePosted}}, true, true},
		{"from", Filter{From: 11}, false, true},
		{"to", Filter{To: 10}, true, false},
		{"since is inclusive", Filter{Since: t0.Add(time.Hour)}, false, true},
		{"until is exclusive", Filter{Until: t0.Add(time.Hour)}, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.f.Match(post); got != tc.post {
				t.Errorf("post: %v, want %v", got, tc.post)
			}
			if got := tc.f.Match(rej); got != tc.rj {
				t.Errorf("rejection: %v, want %v", got, tc.rj)
			}
		})
	}
}

// sealed exports facts into lines.
func sealed(tb testing.TB, facts ...events.Stored) [][]byte {
	tb.Helper()
	c := NewChain()
	var lines [][]byte
	for _, s := range facts {
		r, err := NewRecord(s)
		if err != nil {
			tb.Fatal(err)
		}
		line, err := c.Seal(r)
		if err != nil {
			tb.Fatal(err)
		}
		lines = append(lines, line)
	}
	return lines
}

func join(lines [][]byte) []byte {
	var b bytes.Buffer
	for _, l := range lines {
		b.Write(l)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

func TestChain(t *testing.T) {
	facts := []events.Stored{
		mustStored(t, 1, events.UserRegistered, "", 0, "ann", t0, events.UserRegisteredData{Username: "ann", PasswordHash: "$argon2id$secret"}),
		mustStored(t, 2, events.RoomCreated, "lobby", 1, "ann", t0, events.RoomCreatedData{Name: "Lobby"}),
		mustStored(t, 3, events.MessagePosted, "lobby", 2, "ann", t0, events.MessagePostedData{Text: "<hello> & 👋"}),
		mustStored(t, 5, events.MessagePosted, "lobby", 3, "ann", t0.Add(time.Second), events.MessagePostedData{Text: "second"}),
	}
	lines := sealed(t, facts...)
	if bytes.Contains(join(lines), []byte("argon2id")) {
		t.Fatal("a password hash was exported")
	}
	var first Record
	if err := json.Unmarshal(lines[0], &first); err != nil {
		t.Fatal(err)
	}
	canon, err := Canonical(first)
	if err != nil {
		t.Fatal(err)
	}
	if first.Hash != LinkHash(Genesis, canon) || len(Genesis) != 64 {
		t.Fatalf("first hash %s is not SHA-256 of zeros + canonical %s", first.Hash, canon)
	}
	sum, err := Verify(bytes.NewReader(join(lines)))
	if err != nil {
		t.Fatal(err)
	}
	if sum.Lines != 4 || sum.FirstSeq != 1 || sum.LastSeq != 5 {
		t.Fatalf("summary %+v", sum)
	}

	changed := func(i int, from, to string) [][]byte {
		out := slices2(lines)
		if !bytes.Contains(out[i], []byte(from)) {
			t.Fatalf("line %d lacks %q", i+1, from)
		}
		out[i] = bytes.Replace(out[i], []byte(from), []byte(to), 1)
		return out
	}
	for _, tc := range []struct {
		name     string
		lines    [][]byte
		wantLine int
	}{
		{"one byte of text changed", changed(3, "second", "secönd"), 4},
		{"one digit of a seq changed", changed(1, `"roomSeq":1`, `"roomSeq":7`), 2},
		{"whitespace added", changed(0, `"stream":1,`, `"stream":1, `), 1},
		{"a byte of a hash changed", changed(1, `"hash":"`, `"hash":"0`), 2},
		{"first line dropped", lines[1:], 1},
		{"middle line dropped", [][]byte{lines[0], lines[2], lines[3]}, 2},
		{"pair swapped", [][]byte{lines[0], lines[2], lines[1], lines[3]}, 2},
		{"a line repeated", [][]byte{lines[0], lines[1], lines[1], lines[2]}, 3},
		{"not json", append(slices2(lines[:1]), []byte("garbage")), 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Verify(bytes.NewReader(join(tc.lines)))
			var bad *BadLineError
			if !errors.As(err, &bad) {
				t.Fatalf("error %v, want a bad line", err)
			}
			if bad.Line != tc.wantLine {
				t.Fatalf("bad line %d (%v), want %d", bad.Line, err, tc.wantLine)
			}
		})
	}
	// The last line dropped still chains: the summary's final hash and last
	// seq are what a reader compares with the exporter's report.
	sum, err = Verify(bytes.NewReader(join(lines[:3])))
	if err != nil || sum.LastSeq != 3 {
		t.Fatalf("truncated export: %+v, %v", sum, err)
	}
}

func slices2(in [][]byte) [][]byte {
	out := make([][]byte, len(in))
	for i, l := range in {
		out[i] = bytes.Clone(l)
	}
	return out
}

func TestParsePoint(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    Point
		wantErr bool
	}{
		{"12", Point{Seq: 12}, false},
		{"2026-03-01T11:00:00+01:00", Point{Time: t0}, false},
		{"2026-03-01T10:00:00.5Z", Point{Time: t0.Add(500 * time.Millisecond)}, false},
		{"0", Point{}, true},
		{"-3", Point{}, true},
		{"yesterday", Point{}, true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParsePoint(tc.in)
			if (err != nil) != tc.wantErr || !got.Time.Equal(tc.want.Time) || got.Seq != tc.want.Seq {
				t.Fatalf("got %+v, %v; want %+v, error %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

// roomLog is a room's history: a message posted, reacted to, edited, then
// deleted, and a second message that survives.
func roomLog(tb testing.TB) []events.Stored {
	tb.Helper()
	at := func(min int) time.Time { return t0.Add(time.Duration(min) * time.Minute) }
	return []events.Stored{
		mustStored(tb, 2, events.RoomCreated, "lobby", 1, "ann", at(0), events.RoomCreatedData{Name: "Lobby", Description: "hi", PasswordHash: "x"}),
		mustStored(tb, 3, events.MemberJoined, "lobby", 2, "ann", at(1), events.MemberJoinedData{}),
		mustStored(tb, 5, events.MemberJoined, "lobby", 3, "bob", at(2), events.MemberJoinedData{}),
		mustStored(tb, 6, events.MessagePosted, "lobby", 4, "ann", at(3), events.MessagePostedData{Text: "original", ClientID: "c1"}),
		mustStored(tb, 8, events.ReactionAdded, "lobby", 5, "bob", at(4), events.ReactionData{ID: 6, Emoji: "👍"}),
		mustStored(tb, 9, events.MessageEdited, "lobby", 6, "ann", at(5), events.MessageEditedData{ID: 6, Text: "edited"}),
		mustStored(tb, 10, events.MessagePosted, "lobby", 7, "bob", at(6), events.MessagePostedData{Text: "stays", ClientID: "c2", ReplyTo: 6}),
		mustStored(tb, 11, events.ReactionAdded, "lobby", 8, "ann", at(7), events.ReactionData{ID: 10, Emoji: "🎉"}),
		mustStored(tb, 12, events.ReactionAdded, "lobby", 9, "bob", at(7), events.ReactionData{ID: 10, Emoji: "🎉"}),
		mustStored(tb, 13, events.MessageDeleted, "lobby", 10, "ann", at(8), events.MessageDeletedData{ID: 6}),
		mustStored(tb, 14, events.ReactionRemoved, "lobby", 11, "ann", at(9), events.ReactionData{ID: 10, Emoji: "🎉"}),
		mustStored(tb, 15, events.MemberLeft, "lobby", 12, "bob", at(10), events.MemberLeftData{}),
	}
}

func TestFoldRoom(t *testing.T) {
	facts := roomLog(t)
	at := func(min int) time.Time { return t0.Add(time.Duration(min) * time.Minute) }
	msg := func(id, seq uint64, author string, min int, text string, edited int, reactions ...Reaction) Message {
		m := Message{ID: id, Seq: seq, Author: author, At: at(min), Text: text, Reactions: reactions}
		if edited >= 0 {
			m.EditedAt = at(edited)
		}
		if id == 10 {
			m.ReplyTo = 6
		}
		return m
	}
	for _, tc := range []struct {
		name     string
		at       Point
		seq      uint64
		members  []string
		messages []Message
	}{
		{"before anything", Point{Time: at(-1)}, 0, []string{}, []Message{}},
		{"created", Point{Seq: 1}, 1, []string{}, []Message{}},
		{"before the edit", Point{Seq: 5}, 5, []string{"ann", "bob"},
			[]Message{msg(6, 4, "ann", 3, "original", -1, Reaction{"👍", []string{"bob"}})}},
		{"after the edit", Point{Seq: 6}, 6, []string{"ann", "bob"},
			[]Message{msg(6, 4, "ann", 3, "edited", 5, Reaction{"👍", []string{"bob"}})}},
		{"by time, between edit and delete", Point{Time: at(7)}, 9, []string{"ann", "bob"}, []Message{
			msg(6, 4, "ann", 3, "edited", 5, Reaction{"👍", []string{"bob"}}),
			msg(10, 7, "bob", 6, "stays", -1, Reaction{"🎉", []string{"ann", "bob"}}),
		}},
		{"after the delete", Point{Seq: 10}, 10, []string{"ann", "bob"}, []Message{
			msg(10, 7, "bob", 6, "stays", -1, Reaction{"🎉", []string{"ann", "bob"}}),
		}},
		{"the end", Point{Seq: 99}, 12, []string{"ann"}, []Message{
			msg(10, 7, "bob", 6, "stays", -1, Reaction{"🎉", []string{"bob"}}),
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := FoldRoom("lobby", facts, tc.at)
			if err != nil {
				t.Fatal(err)
			}
			if st.Seq != tc.seq || !reflect.DeepEqual(st.Members, tc.members) || !reflect.DeepEqual(st.Messages, tc.messages) {
				t.Fatalf("seq %d members %v messages %+v\nwant seq %d members %v messages %+v", st.Seq, st.Members, st.Messages, tc.seq, tc.members, tc.messages)
			}
			if tc.seq >= 1 && (st.Name != "Lobby" || st.CreatedBy != "ann") {
				t.Fatalf("room %+v", st)
			}
		})
	}
	if _, err := FoldRoom("den", facts, Point{Seq: 1}); err == nil {
		t.Fatal("folded another room's facts")
	}
	var text bytes.Buffer
	st, _ := FoldRoom("lobby", facts, Point{Seq: 6})
	if err := st.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"room lobby at seq 6", `ann: "edited" (edited 2026-03-01T10:05:00Z)`, "👍 bob", "members (2): ann, bob"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, text.String())
		}
	}
}

func TestTally(t *testing.T) {
	day2 := t0.Add(24 * time.Hour)
	facts := roomLog(t)
	facts = append(facts,
		mustStored(t, 16, events.RoomCreated, "den", 1, "cat", day2, events.RoomCreatedData{Name: "Den"}),
		mustStored(t, 17, events.MessagePosted, "den", 2, "cat", day2, events.MessagePostedData{Text: "a"}),
		mustStored(t, 18, events.MessagePosted, "den", 3, "cat", day2, events.MessagePostedData{Text: "b"}),
		mustStored(t, 19, events.CommandRejected, "", 0, "bob", day2, events.CommandRejectedData{Code: "rate_limited"}),
		mustStored(t, 20, events.CommandRejected, "", 0, "bob", day2, events.CommandRejectedData{Code: "rate_limited"}),
		mustStored(t, 21, events.CommandRejected, "", 0, "ann", day2, events.CommandRejectedData{Code: "not_member"}),
		mustStored(t, 22, events.UserRegistered, "", 0, "dan", day2, events.UserRegisteredData{Username: "dan"}),
	)
	tally := NewTally()
	for _, s := range facts {
		if err := tally.Add(s); err != nil {
			t.Fatal(err)
		}
	}
	got := tally.Stats()
	want := Stats{
		Facts: 19, FirstSeq: 2, LastSeq: 22,
		Kinds: []Count{{"command.rejected", 3}, {"member.joined", 2}, {"member.left", 1}, {"message.deleted", 1},
			{"message.edited", 1}, {"message.posted", 4}, {"reaction.added", 3}, {"reaction.removed", 1},
			{"room.created", 2}, {"user.registered", 1}},
		Rooms:    []Count{{"den", 3}, {"lobby", 12}},
		Days:     []Count{{"2026-03-01", 12}, {"2026-03-02", 7}},
		Rejected: []Count{{"rate_limited", 2}, {"not_member", 1}},
		Posters:  []Count{{"cat", 2}, {"ann", 1}, {"bob", 1}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("stats\n%+v\nwant\n%+v", got, want)
	}

	// Only the ten busiest posters are listed.
	many := NewTally()
	for i := range 12 {
		for range i + 1 {
			if err := many.Add(mustStored(t, 1, events.MessagePosted, "r", 1, string(rune('a'+i)), t0, events.MessagePostedData{Text: "x"})); err != nil {
				t.Fatal(err)
			}
		}
	}
	top := many.Stats().Posters
	if len(top) != TopUsers || top[0] != (Count{"l", 12}) || top[9] != (Count{"c", 3}) {
		t.Fatalf("top posters %v", top)
	}
	var text bytes.Buffer
	if err := got.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"facts", "19", "rate_limited", "2026-03-02", "top posters"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, text.String())
		}
	}
}
