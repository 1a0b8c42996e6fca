package cachewriter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chillin-chat/chillin/events"
	"github.com/chillin-chat/chillin/events/cachelayout"
	"github.com/chillin-chat/chillin/events/redistest"
	"github.com/chillin-chat/chillin/projector/internal/projtest"
)

func ctxT(tb testing.TB) context.Context {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	tb.Cleanup(cancel)
	return ctx
}

func newStore(tb testing.TB, window int) *Store {
	tb.Helper()
	return NewStore(redistest.Client(tb), redistest.Prefix(tb), window)
}

func newGen(tb testing.TB, s *Store) uint64 {
	tb.Helper()
	g, err := s.NewGen(ctxT(tb))
	if err != nil {
		tb.Fatal(err)
	}
	return g
}

// applyAll applies facts (stream seqs 1..len) to gen in runs of n.
func applyAll(tb testing.TB, s *Store, gen uint64, facts []events.Stored, n int) Result {
	tb.Helper()
	var res Result
	for i := 0; i < len(facts); i += n {
		run := facts[i:min(i+n, len(facts))]
		var err error
		res, _, err = s.Apply(ctxT(tb), gen, run[0].ID, run[len(run)-1].ID, run)
		if err != nil {
			tb.Fatalf("apply run at %d: %v", i, err)
		}
		if res.Status != Applied {
			tb.Fatalf("apply run at %d: %+v", i, res)
		}
	}
	return res
}

func dump(tb testing.TB, s *Store, gen uint64) string {
	tb.Helper()
	d, err := s.Dump(ctxT(tb), gen)
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

func readRoom(tb testing.TB, s *Store, gen uint64, room string) (cachelayout.RoomEntry, string) {
	tb.Helper()
	e, msgs, ok, err := s.ReadRoom(ctxT(tb), gen, room)
	if err != nil || !ok {
		tb.Fatalf("room %s: ok=%v err=%v", room, ok, err)
	}
	b, err := json.Marshal(msgs)
	if err != nil {
		tb.Fatal(err)
	}
	return e, string(b)
}

func messagesJSON(tb testing.TB, msgs ...events.Message) string {
	tb.Helper()
	b, err := json.Marshal(append([]events.Message{}, msgs...))
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

func us(id uint64) time.Time { return time.UnixMicro(projtest.At(id).UnixMicro()) }

func ptr[T any](v T) *T { return &v }

// scenarioRooms is what the cache holds after projtest.Scenario.
func scenarioRooms(tb testing.TB) map[string]string {
	tb.Helper()
	return map[string]string{
		"general": messagesJSON(tb,
			events.Message{ID: 8, Room: "general", Seq: 3, User: "alice", Text: "", ClientID: "c-a1", Attachments: []events.MessageAttachment{},
				CreatedAt: us(8), EditedAt: ptr(us(10)), Deleted: true, Reactions: map[string][]string{}},
			events.Message{ID: 9, Room: "general", Seq: 4, User: "bob", Text: "hi alice", ClientID: "c-b1", Attachments: []events.MessageAttachment{},
				ReplyTo: ptr(uint64(8)), CreatedAt: us(9), Reactions: map[string][]string{"🎉": {"alice"}}},
		),
		"secret": messagesJSON(tb,
			events.Message{ID: 20, Room: "secret", Seq: 2, User: "bob", Text: "psst", ClientID: "c-b2",
				Attachments: []events.MessageAttachment{{Key: "att/secret/doc.pdf", Name: "doc.pdf", ContentType: "application/pdf", Size: 4096}},
				CreatedAt:   us(20), Reactions: map[string][]string{}},
		),
	}
}

func TestApplyScenario(t *testing.T) {
	facts := stored(projtest.Scenario(t))
	for _, n := range []int{1, 4, len(facts)} {
		t.Run("runs of "+strconv.Itoa(n), func(t *testing.T) {
			s := newStore(t, 0)
			g := newGen(t, s)
			if res := applyAll(t, s, g, facts, n); res.Gen != g || res.Checkpoint != 21 {
				t.Fatalf("result %+v", res)
			}
			want := scenarioRooms(t)
			for room, msgs := range want {
				if _, got := readRoom(t, s, g, room); got != msgs {
					t.Errorf("%s messages:\n%s\nwant:\n%s", room, got, msgs)
				}
			}
			general, _ := readRoom(t, s, g, "general")
			if got := fmt.Sprintf("%+v", general); got != fmt.Sprintf("%+v", cachelayout.RoomEntry{ID: "general", Name: "General", Description: "Anything goes",
				CreatedBy: "alice", CreatedAt: us(5), HeadSeq: 11, Members: []string{"alice"}, Posted: 2}) {
				t.Errorf("general: %s", got)
			}
			secret, _ := readRoom(t, s, g, "secret")
			if got := fmt.Sprintf("%+v", secret); got != fmt.Sprintf("%+v", cachelayout.RoomEntry{ID: "secret", Name: "Secret", IsPrivate: true,
				CreatedBy: "bob", CreatedAt: us(6), HeadSeq: 2, Members: []string{"bob"}, Posted: 1}) {
				t.Errorf("secret: %s", got)
			}
			if cp, ok, err := s.Checkpoint(ctxT(t), g); err != nil || !ok || cp != 21 {
				t.Errorf("checkpoint %d %v %v", cp, ok, err)
			}
			d := dump(t, s, g)
			for _, line := range []string{`meta hash "cp"="21" "rooms"="2" "window"="100"`, "rooms zset general:", "mem:general set alice"} {
				if !strings.Contains(d, line) {
					t.Errorf("dump lacks %q:\n%s", line, d)
				}
			}
		})
	}
}

// Applying a fact twice, or the whole log twice, changes nothing: the
// checkpoint skips what it covers, and without it (set back to 0) the last
// fact seq kept per key does.
func TestApplyIsIdempotent(t *testing.T) {
	scenario := projtest.Scenario(t)
	burst, _ := projtest.Burst(t, uint64(len(scenario)), 600)
	facts := stored(append(scenario, burst...))
	s := newStore(t, 20)
	g := newGen(t, s)
	applyAll(t, s, g, facts, 37)
	want := dump(t, s, g)

	applyAll(t, s, g, facts, 50) // under the checkpoint
	if got := dump(t, s, g); got != want {
		t.Fatalf("second apply changed the cache:\n%s", diff(got, want))
	}
	// A run overlapping the checkpoint.
	res, _, err := s.Apply(ctxT(t), g, 600, 605, facts[599:605])
	if err != nil || res.Status != Applied {
		t.Fatalf("overlap: %+v %v", res, err)
	}
	if err := s.rdb.HSet(ctxT(t), s.keys.Meta(g), "cp", "0").Err(); err != nil {
		t.Fatal(err)
	}
	applyAll(t, s, g, facts, 64)
	if got := dump(t, s, g); got != want {
		t.Fatalf("replay without the checkpoint changed the cache:\n%s", diff(got, want))
	}
}

// diff shows the lines of two dumps that differ.
func diff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	in := func(lines []string) map[string]bool {
		m := map[string]bool{}
		for _, l := range lines {
			m[l] = true
		}
		return m
	}
	gs, ws := in(g), in(w)
	var b strings.Builder
	for _, l := range g {
		if !ws[l] {
			b.WriteString("+ " + l + "\n")
		}
	}
	for _, l := range w {
		if !gs[l] {
			b.WriteString("- " + l + "\n")
		}
	}
	return b.String()
}

// The window holds a room's newest N messages; older ones leave the cache
// with everything that hung off them, and later facts about them change
// nothing.
func TestWindow(t *testing.T) {
	var facts []events.Fact
	facts = append(facts, projtest.Fact(t, 1, events.RoomCreated, "r", 1, "ann", events.RoomCreatedData{Name: "R"}))
	for i := uint64(2); i <= 13; i++ {
		d := events.MessagePostedData{Text: fmt.Sprint("m", i), ClientID: fmt.Sprint("c", i)}
		facts = append(facts, projtest.Fact(t, i, events.MessagePosted, "r", i, "ann", d))
	}
	facts = append(facts,
		projtest.Fact(t, 14, events.MessageEdited, "r", 14, "ann", events.MessageEditedData{ID: 2, Text: "old edited"}),
		projtest.Fact(t, 15, events.ReactionAdded, "r", 15, "ann", events.ReactionData{ID: 3, Emoji: "👍"}),
		projtest.Fact(t, 16, events.MessageDeleted, "r", 16, "ann", events.MessageDeletedData{ID: 4}),
		projtest.Fact(t, 17, events.ReactionAdded, "r", 17, "ann", events.ReactionData{ID: 13, Emoji: "👍"}),
		projtest.Fact(t, 18, events.MessageEdited, "r", 18, "ann", events.MessageEditedData{ID: 12, Text: "new edited"}),
	)
	s := newStore(t, 5)
	g := newGen(t, s)
	applyAll(t, s, g, stored(facts), 3)
	e, msgs, _, err := s.ReadRoom(ctxT(t), g, "r")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range msgs {
		ids = append(ids, fmt.Sprint(m.ID, ":", m.Text, ":", len(m.Reactions)))
	}
	if got := strings.Join(ids, " "); got != "9:m9:0 10:m10:0 11:m11:0 12:new edited:0 13:m13:1" || e.Posted != 12 || e.HeadSeq != 18 {
		t.Fatalf("window %s, posted %d, head %d", got, e.Posted, e.HeadSeq)
	}
	for _, id := range []uint64{2, 3, 4, 8} {
		if n, err := s.rdb.Exists(ctxT(t), s.keys.Message(g, id)).Result(); err != nil || n != 0 {
			t.Fatalf("message %d outside the window still cached (%d, %v)", id, n, err)
		}
	}
}

// A run that starts beyond checkpoint+1 applies nothing and says where the
// generation is; so does a run for a generation that does not exist.
func TestApplyGapAndAbsent(t *testing.T) {
	facts := stored(projtest.Scenario(t))
	s := newStore(t, 0)
	g := newGen(t, s)
	applyAll(t, s, g, facts[:5], 5)
	res, _, err := s.Apply(ctxT(t), g, 8, 10, facts[7:10])
	if err != nil || res.Status != Gap || res.Checkpoint != 5 || res.Gen != g {
		t.Fatalf("gap: %+v %v", res, err)
	}
	if _, msgs, _, _ := s.ReadRoom(ctxT(t), g, "general"); len(msgs) != 0 {
		t.Fatalf("a run after a gap was applied: %v", msgs)
	}
	// The current generation: none yet.
	if res, _, err := s.Apply(ctxT(t), 0, 6, 6, facts[5:6]); err != nil || res.Status != Absent {
		t.Fatalf("no current generation: %+v %v", res, err)
	}
	if _, err := s.Switch(ctxT(t), g); err != nil {
		t.Fatal(err)
	}
	if res, _, err := s.Apply(ctxT(t), 0, 6, 6, facts[5:6]); err != nil || res.Status != Applied || res.Gen != g || res.Checkpoint != 6 {
		t.Fatalf("current generation: %+v %v", res, err)
	}
	// A generation without its checkpoint is absent.
	if err := s.rdb.Del(ctxT(t), s.keys.Meta(g)).Err(); err != nil {
		t.Fatal(err)
	}
	if _, _, ok, err := s.Current(ctxT(t)); ok || err != nil {
		t.Fatalf("current without a checkpoint: %v %v", ok, err)
	}
	if res, _, err := s.Apply(ctxT(t), 0, 7, 7, facts[6:7]); err != nil || res.Status != Absent {
		t.Fatalf("lost checkpoint: %+v %v", res, err)
	}
	if _, _, err := s.Apply(ctxT(t), g, 7, 6, nil); err == nil {
		t.Fatal("a backwards range was taken")
	}
	if _, _, err := s.Apply(ctxT(t), g, 7, 8, facts[8:9]); err == nil {
		t.Fatal("a fact outside the range was taken")
	}
}

func TestGenerations(t *testing.T) {
	facts := stored(projtest.Scenario(t))
	s := newStore(t, 0)
	ctx := ctxT(t)
	g1, g2 := newGen(t, s), newGen(t, s)
	if g1 != 1 || g2 != 2 {
		t.Fatalf("generations %d, %d", g1, g2)
	}
	applyAll(t, s, g1, facts[:10], 10)
	if old, err := s.Switch(ctx, g1); err != nil || old != 0 {
		t.Fatalf("first switch: %d %v", old, err)
	}
	applyAll(t, s, g2, facts[:9], 9)
	if _, err := s.Switch(ctx, g2); !errors.Is(err, ErrBehind) {
		t.Fatalf("switch to a generation behind: %v", err)
	}
	if g, cp, ok, err := s.Current(ctx); g != g1 || cp != 10 || !ok || err != nil {
		t.Fatalf("current %d at %d (%v, %v)", g, cp, ok, err)
	}
	if _, err := s.Drop(ctx, g1); err == nil {
		t.Fatal("dropped the current generation")
	}
	applyAll(t, s, g2, facts[9:], 12)
	old, err := s.Switch(ctx, g2)
	if err != nil || old != g1 {
		t.Fatalf("switch: %d %v", old, err)
	}
	if old, err := s.Switch(ctx, g2); err != nil || old != 0 {
		t.Fatalf("switch again: %d %v", old, err)
	}
	n, err := s.Drop(ctx, g1)
	if err != nil || n == 0 {
		t.Fatalf("drop: %d %v", n, err)
	}
	if d := dump(t, s, g1); d != "" {
		t.Fatalf("generation 1 after drop:\n%s", d)
	}
	// Recording the log of a generation read as current before it was
	// dropped leaves nothing behind; a live one records it.
	if err := s.SetLog(ctx, g1, "log-a"); err != nil {
		t.Fatal(err)
	}
	if d := dump(t, s, g1); d != "" {
		t.Fatalf("generation 1 after recording the log of the dropped generation:\n%s", d)
	}
	if err := s.SetLog(ctx, g2, "log-a"); err != nil {
		t.Fatal(err)
	}
	if log, err := s.Log(ctx, g2); err != nil || log != "log-a" {
		t.Fatalf("generation 2 records log %q (%v), want log-a", log, err)
	}
	if _, err := s.Switch(ctx, 7); !errors.Is(err, ErrLost) {
		t.Fatalf("switch to a generation that does not exist: %v", err)
	}
	// Numbers are never handed out twice, even when the counter is lost.
	if err := s.rdb.Del(ctx, s.keys.Counter()).Err(); err != nil {
		t.Fatal(err)
	}
	if g := newGen(t, s); g != 3 {
		t.Fatalf("after losing the counter: generation %d, want 3", g)
	}
}

func TestGlobEscape(t *testing.T) {
	if got := globEscape(`a*b?c[d]e\f`); got != `a\*b\?c\[d\]e\\f` {
		t.Fatalf("escaped %q", got)
	}
}

// Each kind of room fact, alone or against the ones it may meet.
func TestFactKinds(t *testing.T) {
	f := func(id uint64, typ, room string, seq uint64, user string, data any) events.Fact {
		return projtest.Fact(t, id, typ, room, seq, user, data)
	}
	created := f(1, events.RoomCreated, "r", 1, "ann", events.RoomCreatedData{Name: "R", Description: "d"})
	post := func(id, seq uint64, user, text string) events.Fact {
		return f(id, events.MessagePosted, "r", seq, user, events.MessagePostedData{Text: text, ClientID: fmt.Sprint("c", id)})
	}
	msg := func(id, seq uint64, user, text string) events.Message {
		return events.Message{ID: id, Room: "r", Seq: seq, User: user, Text: text, ClientID: fmt.Sprint("c", id),
			Attachments: []events.MessageAttachment{}, CreatedAt: us(id), Reactions: map[string][]string{}}
	}
	tests := []struct {
		name    string
		facts   []events.Fact
		room    string // cachelayout.RoomEntry as %+v, "" to skip
		members string
		want    func() []events.Message
	}{
		{name: "created", facts: []events.Fact{created},
			room: fmt.Sprintf("%+v", cachelayout.RoomEntry{ID: "r", Name: "R", Description: "d", CreatedBy: "ann", CreatedAt: us(1), HeadSeq: 1, Members: []string{"ann"}}),
			want: func() []events.Message { return nil }},
		{name: "joins and leaves", facts: []events.Fact{created,
			f(2, events.MemberJoined, "r", 2, "bob", events.MemberJoinedData{}),
			f(3, events.MemberJoined, "r", 3, "bob", events.MemberJoinedData{}),
			f(4, events.MemberJoined, "r", 4, "cy", events.MemberJoinedData{}),
			f(5, events.MemberLeft, "r", 5, "ann", events.MemberLeftData{}),
			f(6, events.MemberLeft, "r", 6, "ann", events.MemberLeftData{}),
			f(7, events.RoomPasswordUpgraded, "r", 7, "cy", events.RoomPasswordUpgradedData{PasswordHash: projtest.Hash}),
		}, members: "2 [bob cy]", room: fmt.Sprintf("%+v", cachelayout.RoomEntry{ID: "r", Name: "R", Description: "d", CreatedBy: "ann", CreatedAt: us(1), HeadSeq: 7, Members: []string{"bob", "cy"}}),
			want: func() []events.Message { return nil }},
		{name: "posted with attachments and a reply", facts: []events.Fact{created, post(2, 2, "ann", "first"),
			f(3, events.MessagePosted, "r", 3, "ann", events.MessagePostedData{Text: "second", ClientID: "c3", ReplyTo: 2,
				Attachments: []events.Attachment{{Key: "k1", Name: "a.png", ContentType: "image/png", Size: 1}, {Key: "k2", Name: "b.pdf", ContentType: "application/pdf", Size: 2}}}),
		}, want: func() []events.Message {
			m := msg(3, 3, "ann", "second")
			m.ReplyTo = ptr(uint64(2))
			m.Attachments = []events.MessageAttachment{{Key: "k1", Name: "a.png", ContentType: "image/png", Size: 1}, {Key: "k2", Name: "b.pdf", ContentType: "application/pdf", Size: 2}}
			return []events.Message{msg(2, 2, "ann", "first"), m}
		}},
		{name: "edited twice", facts: []events.Fact{created, post(2, 2, "ann", "a"),
			f(3, events.MessageEdited, "r", 3, "ann", events.MessageEditedData{ID: 2, Text: "b"}),
			f(4, events.MessageEdited, "r", 4, "ann", events.MessageEditedData{ID: 2, Text: "c"}),
		}, want: func() []events.Message {
			m := msg(2, 2, "ann", "c")
			m.EditedAt = ptr(us(4))
			return []events.Message{m}
		}},
		{name: "reactions added, added again, removed", facts: []events.Fact{created, post(2, 2, "ann", "a"),
			f(3, events.ReactionAdded, "r", 3, "cy", events.ReactionData{ID: 2, Emoji: "👍"}),
			f(4, events.ReactionAdded, "r", 4, "bob", events.ReactionData{ID: 2, Emoji: "👍"}),
			f(5, events.ReactionAdded, "r", 5, "cy", events.ReactionData{ID: 2, Emoji: "👍"}), // keeps its first time
			f(6, events.ReactionAdded, "r", 6, "ann", events.ReactionData{ID: 2, Emoji: "🎉"}),
			f(7, events.ReactionAdded, "r", 7, "ann", events.ReactionData{ID: 2, Emoji: "❤️"}),
			f(8, events.ReactionRemoved, "r", 8, "ann", events.ReactionData{ID: 2, Emoji: "🎉"}),
			f(9, events.ReactionRemoved, "r", 9, "bob", events.ReactionData{ID: 2, Emoji: "🎉"}), // never added
		}, want: func() []events.Message {
			m := msg(2, 2, "ann", "a")
			m.Reactions = map[string][]string{"👍": {"cy", "bob"}, "❤️": {"ann"}}
			return []events.Message{m}
		}},
		{name: "deleted: a tombstone that edits and reactions leave alone", facts: []events.Fact{created,
			f(2, events.MessagePosted, "r", 2, "ann", events.MessagePostedData{Text: "secret", ClientID: "c2",
				Attachments: []events.Attachment{{Key: "k", Name: "n", ContentType: "image/png", Size: 3}}}),
			f(3, events.MessageEdited, "r", 3, "ann", events.MessageEditedData{ID: 2, Text: "edited secret"}),
			f(4, events.ReactionAdded, "r", 4, "bob", events.ReactionData{ID: 2, Emoji: "👍"}),
			f(5, events.MessageDeleted, "r", 5, "ann", events.MessageDeletedData{ID: 2}),
			f(6, events.MessageEdited, "r", 6, "ann", events.MessageEditedData{ID: 2, Text: "back from the dead"}),
			f(7, events.ReactionAdded, "r", 7, "bob", events.ReactionData{ID: 2, Emoji: "🎉"}),
			f(8, events.MessageDeleted, "r", 8, "ann", events.MessageDeletedData{ID: 2}),
		}, want: func() []events.Message {
			m := msg(2, 2, "ann", "")
			m.EditedAt, m.Deleted = ptr(us(3)), true
			return []events.Message{m}
		}},
		{name: "facts naming another room's message or none", facts: []events.Fact{created, post(2, 2, "ann", "a"),
			f(3, events.RoomCreated, "q", 1, "bob", events.RoomCreatedData{Name: "Q"}),
			f(4, events.MessageEdited, "q", 2, "bob", events.MessageEditedData{ID: 2, Text: "hijack"}),
			f(5, events.MessageDeleted, "q", 3, "bob", events.MessageDeletedData{ID: 2}),
			f(6, events.ReactionAdded, "r", 3, "bob", events.ReactionData{ID: 99, Emoji: "👍"}),
		}, want: func() []events.Message { return []events.Message{msg(2, 2, "ann", "a")} }},
		{name: "facts of a room never created", facts: []events.Fact{
			f(1, events.MessagePosted, "ghost", 2, "ann", events.MessagePostedData{Text: "boo", ClientID: "c1"}),
			created,
		}, want: func() []events.Message { return nil }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t, 0)
			g := newGen(t, s)
			facts := stored(tt.facts)
			applyAll(t, s, g, facts, 1)
			e, got := readRoom(t, s, g, "r")
			if want := messagesJSON(t, tt.want()...); got != want {
				t.Fatalf("messages:\n%s\nwant:\n%s", got, want)
			}
			if tt.room != "" {
				e.Posted = 0
				if got := fmt.Sprintf("%+v", e); got != tt.room {
					t.Fatalf("room:\n%s\nwant:\n%s", got, tt.room)
				}
			}
			if tt.members != "" {
				n, err := s.rdb.HGet(ctxT(t), s.keys.Room(g, "r"), "members").Result()
				if got := n + " " + fmt.Sprint(e.Members); err != nil || got != tt.members {
					t.Fatalf("member count and set %q (%v), want %q", got, err, tt.members)
				}
			}
			if _, _, ok, err := s.ReadRoom(ctxT(t), g, "ghost"); ok || err != nil {
				t.Fatalf("a room never created is cached (%v)", err)
			}
			// Applying every fact again changes nothing.
			before := dump(t, s, g)
			if err := s.rdb.HSet(ctxT(t), s.keys.Meta(g), "cp", "0").Err(); err != nil {
				t.Fatal(err)
			}
			applyAll(t, s, g, facts, len(facts))
			if after := dump(t, s, g); after != before {
				t.Fatalf("second apply:\n%s", diff(after, before))
			}
		})
	}
}

// A generation of the current log replaces one of another log though it is
// behind it; within one log, behind is still refused. Retire makes a
// generation no longer current, only if it is.
func TestGenerationsOfAnotherLog(t *testing.T) {
	facts := stored(projtest.Scenario(t))
	s := newStore(t, 0)
	ctx := ctxT(t)
	old, err := s.NewGenOf(ctx, "log-a")
	if err != nil {
		t.Fatal(err)
	}
	applyAll(t, s, old, facts, 21)
	if _, err := s.Switch(ctx, old); err != nil {
		t.Fatal(err)
	}
	same, err := s.NewGenOf(ctx, "log-a")
	if err != nil {
		t.Fatal(err)
	}
	applyAll(t, s, same, facts[:3], 3)
	if _, err := s.Switch(ctx, same); !errors.Is(err, ErrBehind) {
		t.Fatalf("a generation of the same log behind the current one: %v", err)
	}
	other, err := s.NewGenOf(ctx, "log-b")
	if err != nil {
		t.Fatal(err)
	}
	applyAll(t, s, other, facts[:3], 3)
	if replaced, err := s.Switch(ctx, other); err != nil || replaced != old {
		t.Fatalf("a generation of another log: replaced %d, %v", replaced, err)
	}
	if log, err := s.Log(ctx, other); err != nil || log != "log-b" {
		t.Fatalf("log %q, %v", log, err)
	}
	if err := s.Retire(ctx, old); err != nil {
		t.Fatal(err)
	}
	if g, _, ok, _ := s.Current(ctx); !ok || g != other {
		t.Fatalf("retiring a generation that is not current changed the current one to %d (%v)", g, ok)
	}
	if err := s.Retire(ctx, other); err != nil {
		t.Fatal(err)
	}
	if _, _, ok, _ := s.Current(ctx); ok {
		t.Fatal("a retired generation is still current")
	}
}
