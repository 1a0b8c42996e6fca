package events_test

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/chillin-chat/chillin/events"
)

// roomFact is fact id of room "r" with room seq seq, at a time that grows
// with seq.
func roomFact(t testing.TB, id, seq uint64, typ string, data any) events.Stored {
	t.Helper()
	f, err := events.NewFact(typ, "r", seq, "ann", "c", at(seq), data)
	if err != nil {
		t.Fatal(err)
	}
	return events.Stored{ID: id, Fact: f}
}

func at(seq uint64) time.Time {
	return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).Add(time.Duration(seq) * time.Second)
}

func posted(t testing.TB, id, seq uint64, text string) events.Stored {
	return roomFact(t, id, seq, events.MessagePosted, events.MessagePostedData{Text: text, ClientID: "c" + text,
		Attachments: []events.Attachment{{Key: "a/k/" + text + ".png", Name: text + ".png", ContentType: "image/png", Size: 9}}})
}

func edited(t testing.TB, id, seq, msg uint64, text string) events.Stored {
	return roomFact(t, id, seq, events.MessageEdited, events.MessageEditedData{ID: msg, Text: text})
}

func deleted(t testing.TB, id, seq, msg uint64) events.Stored {
	return roomFact(t, id, seq, events.MessageDeleted, events.MessageDeletedData{ID: msg})
}

// shown is what a reader sees of a page's messages: by message id, the
// text, whether deleted, how many attachments, and when last edited.
type shown struct {
	Text     string
	Deleted  bool
	Atts     int
	EditedAt time.Time
}

func TestReaderEvents(t *testing.T) {
	// Message 10 (seq 2) and message 11 (seq 3) of room r, then changes.
	p10, p11 := posted(t, 10, 2, "hello"), posted(t, 11, 3, "other")
	for _, tc := range []struct {
		name  string
		page  []events.Stored
		later events.Fates
		want  map[uint64]shown
	}{
		{
			name: "posted, nothing since",
			page: []events.Stored{p10, p11},
			want: map[uint64]shown{10: {Text: "hello", Atts: 1}, 11: {Text: "other", Atts: 1}},
		},
		{
			name: "posted then deleted",
			page: []events.Stored{p10, p11, deleted(t, 12, 4, 10)},
			want: map[uint64]shown{10: {Deleted: true}, 11: {Text: "other", Atts: 1}},
		},
		{
			name: "posted then edited twice",
			page: []events.Stored{p10, edited(t, 12, 4, 10, "one"), p11, edited(t, 14, 5, 10, "two")},
			want: map[uint64]shown{10: {Text: "two", Atts: 1, EditedAt: at(5)}, 11: {Text: "other", Atts: 1}},
		},
		{
			name: "posted, edited, deleted",
			page: []events.Stored{p10, edited(t, 12, 4, 10, "one"), deleted(t, 13, 5, 10), edited(t, 14, 6, 10, "late")},
			want: map[uint64]shown{10: {Deleted: true}},
		},
		{
			name:  "the page ends before the delete: later knows it",
			page:  []events.Stored{p10, p11},
			later: events.Fates{10: {Deleted: true}},
			want:  map[uint64]shown{10: {Deleted: true}, 11: {Text: "other", Atts: 1}},
		},
		{
			name:  "the page ends before the edit: later knows it",
			page:  []events.Stored{p10, edited(t, 12, 4, 10, "one")},
			later: events.Fates{10: {Edited: true, Text: "two", EditedAt: at(9)}},
			want:  map[uint64]shown{10: {Text: "two", Atts: 1, EditedAt: at(9)}},
		},
		{
			name:  "later lags behind the page: the page's delete counts",
			page:  []events.Stored{p10, edited(t, 12, 4, 10, "one"), deleted(t, 13, 5, 10)},
			later: events.Fates{10: {Edited: true, Text: "one", EditedAt: at(4)}},
			want:  map[uint64]shown{10: {Deleted: true}},
		},
		{
			name: "the page starts after the post: only the changes are shown",
			page: []events.Stored{deleted(t, 12, 4, 10), p11},
			want: map[uint64]shown{11: {Text: "other", Atts: 1}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			evs, err := events.ReaderEvents(tc.page, tc.later)
			if err != nil {
				t.Fatal(err)
			}
			if len(evs) != len(tc.page) {
				t.Fatalf("%d events for %d facts: the edits and deletes must still follow", len(evs), len(tc.page))
			}
			got := map[uint64]shown{}
			for i, ev := range evs {
				if ev.Seq != tc.page[i].Seq || ev.Kind != tc.page[i].Type {
					t.Fatalf("event %d is %s seq %d, want %s seq %d", i, ev.Kind, ev.Seq, tc.page[i].Type, tc.page[i].Seq)
				}
				m, ok := ev.Data.(events.Message)
				if !ok {
					continue
				}
				s := shown{Text: m.Text, Deleted: m.Deleted, Atts: len(m.Attachments)}
				if m.EditedAt != nil {
					s.EditedAt = *m.EditedAt
				}
				got[m.ID] = s
				// What RedactFrame makes of the live frame is what the
				// page shows.
				live, err := events.EventFrame(tc.page[i])
				if err != nil {
					t.Fatal(err)
				}
				fates, err := events.PageFates(tc.page, tc.later)
				if err != nil {
					t.Fatal(err)
				}
				redacted, err := events.RedactFrame(live, fates[m.ID])
				if err != nil {
					t.Fatal(err)
				}
				want, _ := json.Marshal(events.ServerFrame{Type: "event", Data: ev})
				if !bytes.Equal(redacted, want) {
					t.Errorf("RedactFrame:\n got %s\nwant %s", redacted, want)
				}
			}
			if len(got) != len(tc.want) {
				t.Fatalf("messages shown %v, want %v", got, tc.want)
			}
			for id, w := range tc.want {
				if g := got[id]; g != w {
					t.Errorf("message %d shown as %+v, want %+v", id, g, w)
				}
			}
		})
	}
}

func TestRedactedFrameHasNoText(t *testing.T) {
	p := posted(t, 10, 2, "secret words")
	live, err := events.EventFrame(p)
	if err != nil {
		t.Fatal(err)
	}
	b, err := events.RedactFrame(live, events.Fate{Deleted: true})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte(`"text":"secret`)) || bytes.Contains(b, []byte("secret words.png")) {
		t.Fatalf("a deleted message's frame still carries its text or file: %s", b)
	}
	if !bytes.Contains(b, []byte(`"deleted":true`)) || !bytes.Contains(b, []byte(`"attachments":[]`)) {
		t.Fatalf("not a tombstone: %s", b)
	}
	if same, _ := events.RedactFrame(live, events.Fate{}); !bytes.Equal(same, live) {
		t.Fatalf("a zero fate changed the frame: %s", same)
	}
}

func TestFrameTarget(t *testing.T) {
	for _, tc := range []struct {
		fact       events.Stored
		wantID     uint64
		wantPosted bool
	}{
		{posted(t, 10, 2, "x"), 10, true},
		{edited(t, 12, 4, 10, "y"), 10, false},
		{deleted(t, 13, 5, 10), 10, false},
		{roomFact(t, 14, 6, events.MemberJoined, events.MemberJoinedData{}), 0, false},
	} {
		b, err := events.EventFrame(tc.fact)
		if err != nil {
			t.Fatal(err)
		}
		id, isPost, change, err := events.FrameTarget(b)
		if err != nil {
			t.Fatal(err)
		}
		if id != tc.wantID || isPost != tc.wantPosted {
			t.Errorf("%s: target %d posted %v, want %d %v", tc.fact.Type, id, isPost, tc.wantID, tc.wantPosted)
		}
		if tc.fact.Type == events.MessageDeleted || tc.fact.Type == events.MessageEdited {
			fates := events.Fates{}
			if err := fates.Fold(change); err != nil {
				t.Fatal(err)
			}
			if fates[10] == (events.Fate{}) {
				t.Errorf("%s: the frame's change folds to nothing", tc.fact.Type)
			}
		}
	}
}

// The hub reads the target of every live frame once; a join's backfill
// renders each page with ReaderEvents.
func BenchmarkFrameTarget(b *testing.B) {
	frame, err := events.EventFrame(posted(b, 10, 2, "a message of an ordinary length, some forty to eighty characters"))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, _, err := events.FrameTarget(frame); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReaderEvents(b *testing.B) {
	page := benchPage(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := events.ReaderEvents(page, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkClientEvents is the same page rendered without redaction, to
// compare with.
func BenchmarkClientEvents(b *testing.B) {
	page := benchPage(b)
	b.ReportAllocs()
	for b.Loop() {
		for _, s := range page {
			if _, err := events.ClientEvent(s); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// benchPage is a sync page of 500 facts: posts, every tenth followed by the
// delete of the one before.
func benchPage(b *testing.B) []events.Stored {
	page := make([]events.Stored, 0, 500)
	for seq, id := uint64(1), uint64(1); len(page) < 500; seq, id = seq+1, id+1 {
		page = append(page, posted(b, id, seq, "a message of an ordinary length, some forty to eighty characters"))
		if seq%10 == 0 {
			seq, id = seq+1, id+1
			page = append(page, deleted(b, id, seq, id-2))
		}
	}
	return page
}
