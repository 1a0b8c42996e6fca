package legacy

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chillin-chat/chillin/events"
	"github.com/chillin-chat/chillin/events/natstest"
	"github.com/nats-io/nats.go/jetstream"
)

func ctxT(tb testing.TB) context.Context {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	tb.Cleanup(cancel)
	return ctx
}

func opts() Options { return Options{Dir: "testdata", Now: func() time.Time { return importTime }} }

// dump is every fact in CHAT_EVT with its stream sequence and subject.
func dump(tb testing.TB, js jetstream.JetStream) []string {
	tb.Helper()
	return natstest.Dump(tb, js, events.EvtStream)
}

func mustImport(tb testing.TB, js jetstream.JetStream, d *Data) *Summary {
	tb.Helper()
	sum, err := Import(ctxT(tb), js, d, opts())
	if err != nil {
		tb.Fatal(err)
	}
	return sum
}

func TestImportTwiceChangesNothing(t *testing.T) {
	js := natstest.Streams(t)
	first := mustImport(t, js, example(t))
	want := Summary{Dir: "testdata",
		Users: Tally{InFiles: 7, Imported: 7}, Rooms: Tally{InFiles: 6, Imported: 6},
		Messages: Tally{InFiles: 15, Imported: 12, Skipped: 3}, Joins: 6, NoCredential: 3}
	if got := counts(first); got != counts(&want) {
		t.Fatalf("first run: %s, want %s", got, counts(&want))
	}
	log := dump(t, js)
	if len(log) != 31 {
		t.Fatalf("the log holds %d facts, want 31", len(log))
	}

	second := mustImport(t, js, example(t))
	want.Users, want.Rooms = Tally{InFiles: 7, Present: 7}, Tally{InFiles: 6, Present: 6}
	want.Messages, want.Joins = Tally{InFiles: 15, Present: 12, Skipped: 3}, 0
	if got := counts(second); got != counts(&want) {
		t.Fatalf("second run: %s, want %s", got, counts(&want))
	}
	if again := dump(t, js); strings.Join(again, "\n") != strings.Join(log, "\n") {
		t.Fatalf("the second run changed the log:\n%s", strings.Join(again[len(log):], "\n"))
	}
	if fmt.Sprint(first.Renamed) != fmt.Sprint(second.Renamed) || len(first.Renamed) != 8 {
		t.Fatalf("renamed differ:\n%v\n%v", first.Renamed, second.Renamed)
	}
}

func counts(s *Summary) string {
	return fmt.Sprintf("users %+v rooms %+v messages %+v joins %d noCredential %d", s.Users, s.Rooms, s.Messages, s.Joins, s.NoCredential)
}

// errCrash stands for the importer dying: the append reached the log, its
// acknowledgement never reached the importer.
var errCrash = errors.New("crashed")

// crashAfter is a real JetStream connection that lets n appends through and
// then fails: the n-th is stored but reported as failed, later ones are
// refused.
type crashAfter struct {
	jetstream.JetStream
	n int
}

func (c *crashAfter) Publish(ctx context.Context, subject string, data []byte, opts ...jetstream.PublishOpt) (*jetstream.PubAck, error) {
	if c.n <= 0 {
		return nil, errCrash
	}
	ack, err := c.JetStream.Publish(ctx, subject, data, opts...)
	if err == nil {
		if c.n--; c.n == 0 {
			return nil, errCrash
		}
	}
	return ack, err
}

// An import interrupted after any fact, including between an append and
// its acknowledgement, completes on the next run into exactly the log of an
// uninterrupted one: same facts, same order, no duplicates.
func TestImportResumesFromAnyPoint(t *testing.T) {
	ref := natstest.Streams(t)
	mustImport(t, ref, example(t))
	want := strings.Join(dump(t, ref), "\n")
	total := strings.Count(want, "\n") + 1

	for k := 1; k <= total; k++ {
		t.Run(fmt.Sprint("after ", k), func(t *testing.T) {
			js := natstest.Streams(t)
			if _, err := Import(ctxT(t), &crashAfter{JetStream: js, n: k}, example(t), opts()); !errors.Is(err, errCrash) {
				t.Fatalf("interrupted import: %v", err)
			}
			if n := len(dump(t, js)); n != k {
				t.Fatalf("the log holds %d facts after %d appends", n, k)
			}
			sum := mustImport(t, js, example(t))
			if got := strings.Join(dump(t, js), "\n"); got != want {
				t.Fatalf("resumed log:\n%s\nwant:\n%s", got, want)
			}
			if sum.Users.Imported+sum.Users.Present != 7 || sum.Rooms.Imported+sum.Rooms.Present != 6 ||
				sum.Messages.Imported+sum.Messages.Present != 12 {
				t.Fatalf("resumed run: %s", counts(sum))
			}
		})
	}
}

// Ids are claimed against what the log holds: a name taken by a Chillin
// user or room moves on to the next candidate, reported, and a re-run finds
// the same ids again.
func TestImportClaimsIdsAgainstTheLog(t *testing.T) {
	js := natstest.Streams(t)
	live := func(subject string) func(events.Fact, error) {
		return func(f events.Fact, err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
			b, _ := f.Encode()
			if _, err := js.Publish(ctxT(t), subject, b, jetstream.WithExpectLastSequencePerSubject(0)); err != nil {
				t.Fatal(err)
			}
		}
	}
	live(events.UserSubject("alice"))(events.NewFact(events.UserRegistered, "", 0, "alice", "", importTime,
		events.UserRegisteredData{Username: "alice", DisplayName: "Alice Live", PasswordHash: "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"}))
	live(events.RoomSubject("general"))(events.NewFact(events.RoomCreated, "general", 1, "alice", "", importTime,
		events.RoomCreatedData{Name: "General"}))

	first := mustImport(t, js, example(t))
	renamed := map[string]Renamed{}
	for _, r := range first.Renamed {
		renamed[r.Legacy] = r
	}
	for legacy, want := range map[string]string{
		"alice":   "alice-2: alice is taken by an existing Chillin user",
		"Alice":   `alice-3: not a valid Chillin username (2-32 of a-z, 0-9, '_', '-'); alice is taken by an existing Chillin user; alice-2 is taken by legacy user "alice"`,
		"general": "general-2: general is taken by an existing Chillin room",
	} {
		if got := renamed[legacy].ID + ": " + renamed[legacy].Why; got != want {
			t.Errorf("%s renamed to %s, want %s", legacy, got, want)
		}
	}
	log := dump(t, js)
	second := mustImport(t, js, example(t))
	if fmt.Sprint(second.Renamed) != fmt.Sprint(first.Renamed) || second.Users.Imported+second.Rooms.Imported+second.Messages.Imported != 0 {
		t.Fatalf("second run: %s, renamed %v", counts(second), second.Renamed)
	}
	if got := dump(t, js); strings.Join(got, "\n") != strings.Join(log, "\n") {
		t.Fatal("the second run changed the log")
	}
	// The legacy alice's messages went to alice-2, never to the live alice.
	facts, _, err := events.ReadRoom(ctxT(t), js, mustStream(t, js), "general-2", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range facts {
		if f.User == "alice" {
			t.Fatalf("a legacy fact is attributed to the live alice: %+v", f)
		}
	}
}

func mustStream(tb testing.TB, js jetstream.JetStream) jetstream.Stream {
	tb.Helper()
	s, err := js.Stream(ctxT(tb), events.EvtStream)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// Live traffic in a room whose import was interrupted: the resumed import
// appends the rest after it, with gap-free seqs and no duplicates.
func TestImportResumesAroundLiveTraffic(t *testing.T) {
	js := natstest.Streams(t)
	// 7 users; general's room.created, first message and bob's join.
	if _, err := Import(ctxT(t), &crashAfter{JetStream: js, n: 10}, example(t), opts()); !errors.Is(err, errCrash) {
		t.Fatalf("interrupted import: %v", err)
	}
	evt := mustStream(t, js)
	last, _, err := events.LastOnSubject(ctxT(t), evt, events.RoomSubject("general"))
	if err != nil || last.Seq != 3 {
		t.Fatalf("general after the interruption: head %d, %v", last.Seq, err)
	}
	f, err := events.NewFact(events.MessagePosted, "general", 4, "alice", "live-cmd", importTime, events.MessagePostedData{Text: "anyone here?", ClientID: "live-1"})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := f.Encode()
	if _, err := js.Publish(ctxT(t), events.RoomSubject("general"), b, jetstream.WithExpectLastSequencePerSubject(last.ID)); err != nil {
		t.Fatal(err)
	}

	mustImport(t, js, example(t))
	facts, head, err := events.ReadRoom(ctxT(t), js, evt, "general", 0, 0) // checks seqs are gap-free
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range facts {
		d, _ := events.DecodeData[events.MessagePostedData](f.Fact)
		got = append(got, fmt.Sprintf("%s:%s:%s", f.Type, f.User, d.ClientID))
	}
	want := "room.created:alice: message.posted:alice:legacy-0 member.joined:bob-smith: " +
		"message.posted:alice:live-1 message.posted:bob-smith:legacy-1 message.posted:alice:legacy-3 " +
		"member.joined:guest-42: message.posted:guest-42:legacy-4 member.joined:zo: message.posted:zo:legacy-5 " +
		"member.joined:alice-2: message.posted:alice-2:legacy-8"
	if strings.Join(got, " ") != want || head != uint64(len(facts)) {
		t.Fatalf("general:\n got %s\nwant %s", strings.Join(got, " "), want)
	}
}

func TestImportNeedsChillinsLog(t *testing.T) {
	_, js := natstest.Connect(t, natstest.Start(t))
	_, err := Import(ctxT(t), js, example(t), opts())
	if err == nil || !strings.Contains(err.Error(), events.EvtStream) {
		t.Fatalf("import without CHAT_EVT: %v", err)
	}
}

// Imported facts carry the original times, and the legacy credentials only
// in their legacy fields.
func TestImportedFacts(t *testing.T) {
	js := natstest.Streams(t)
	mustImport(t, js, example(t))
	evt := mustStream(t, js)
	first := func(subject string) events.Stored {
		t.Helper()
		m, err := evt.GetMsg(ctxT(t), 1, jetstream.WithGetMsgSubject(subject))
		if err != nil {
			t.Fatalf("%s: %v", subject, err)
		}
		s, err := events.DecodeStoredMsg(m)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	bob := first(events.UserSubject("bob-smith"))
	d, err := events.DecodeData[events.UserImportedData](bob.Fact)
	if err != nil {
		t.Fatal(err)
	}
	if bob.Type != events.UserImported || !bob.At.Equal(time.Date(2023, 1, 6, 10, 15, 30, 250e6, time.UTC)) ||
		d != (events.UserImportedData{Username: "bob-smith", DisplayName: "bob smith", LegacyName: "bob smith",
			LegacySHA256: "76880d60191af3b3f803a656b7716f0179928357fc32421ced973ed265e15718", Email: "bob@example.org",
			AvatarURL: "https://ui-avatars.com/api/?name=bob smith&background=random"}) {
		t.Fatalf("bob's fact %+v %+v", bob, d)
	}
	guest := first(events.UserSubject("guest-42"))
	if d, _ := events.DecodeData[events.UserImportedData](guest.Fact); d.LegacySHA256 != "" || d.LegacyName != "guest 42" {
		t.Fatalf("guest 42 holds %+v", d)
	}
	lair := first(events.RoomSubject("secret-lair"))
	rd, err := events.DecodeData[events.RoomCreatedData](lair.Fact)
	if err != nil {
		t.Fatal(err)
	}
	if lair.V != 2 || lair.Seq != 1 || lair.User != "alice" || !rd.IsPrivate || rd.PasswordHash != "" ||
		rd.LegacyPasswordSHA256 != "41ef4bb0b23661e66301aac36066912dac037827b4ae63a7b1165a5aa93ed4eb" {
		t.Fatalf("secret lair %+v %+v", lair, rd)
	}
	facts, _, err := events.ReadRoom(ctxT(t), js, evt, "random", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range facts {
		got = append(got, fmt.Sprintf("%d %s %s %s %s", f.Seq, f.Type, f.User, f.At.Format(time.RFC3339), f.Cmd))
	}
	want := []string{
		"1 room.created dave 2023-03-01T08:05:00Z " + roomCmd("random"),
		"2 message.posted dave 2023-03-01T08:05:00Z " + messageCmd("random", 0),
		"3 member.joined alice 2023-03-01T08:06:00Z " + joinCmd("random", 1),
		"4 message.posted alice 2023-03-01T08:06:00Z " + messageCmd("random", 1),
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("random:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
