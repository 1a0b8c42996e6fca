package cachewriter

import (
	"strconv"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/chillin-chat/chillin/events"
	"github.com/chillin-chat/chillin/events/natstest"
	"github.com/chillin-chat/chillin/projector/internal/projtest"
)

// logWith publishes facts to a fresh CHAT_EVT.
func logWith(tb testing.TB, facts []events.Fact) jetstream.JetStream {
	tb.Helper()
	js := natstest.Streams(tb)
	projtest.Publish(tb, js, facts...)
	return js
}

func TestSourceRead(t *testing.T) {
	scenario := projtest.Scenario(t)
	js := logWith(t, scenario)
	log, logs := projtest.Logger(t)
	poison := projtest.PublishRaw(t, js, events.RoomSubject("general"), []byte(`{"type":"nonsense"}`))
	src := Source{JS: js, Log: log}
	if head, err := src.Head(ctxT(t)); err != nil || head != poison {
		t.Fatalf("head %d %v, want %d", head, err, poison)
	}
	ids := func(facts []events.Stored) string {
		var b strings.Builder
		for _, f := range facts {
			b.WriteString(" " + strconv.FormatUint(f.ID, 10))
		}
		return strings.TrimSpace(b.String())
	}
	tests := []struct {
		from, to uint64
		max      int
		want     string
		upto     uint64
	}{
		{1, 22, 0, "5 6 7 8 9 10 11 12 13 14 15 18 20", 22},
		{1, 22, 4, "5 6 7 8", 8},
		{9, 12, 100, "9 10 11 12", 12},
		{16, 17, 100, "", 17}, // no room fact in the range
		{19, 30, 100, "20", 30},
	}
	for _, tt := range tests {
		facts, upto, err := src.Read(ctxT(t), tt.from, tt.to, tt.max)
		if err != nil {
			t.Fatalf("read %d..%d: %v", tt.from, tt.to, err)
		}
		if got := ids(facts); got != tt.want || upto != tt.upto {
			t.Errorf("read %d..%d max %d: %q up to %d, want %q up to %d", tt.from, tt.to, tt.max, got, upto, tt.want, tt.upto)
		}
	}
	if !logs.HasLine("poison fact skipped", "seq=22") {
		t.Errorf("the unreadable fact was not logged:\n%s", logs)
	}
}

// A rebuild builds a generation equal to applying the whole log, switches
// readers to it and drops the one before; a second rebuild gives the same.
func TestRebuild(t *testing.T) {
	scenario := projtest.Scenario(t)
	burst, _ := projtest.Burst(t, uint64(len(scenario)), 3000)
	all := append(scenario, burst...)
	js := logWith(t, all)
	s := newStore(t, 30)
	log, _ := projtest.Logger(t)

	// The reference: the whole log applied at once, in a generation of its own.
	ref := newGen(t, s)
	applyAll(t, s, ref, stored(all), len(all))
	want := dump(t, s, ref)

	var calls int
	var last, head uint64
	rep, err := Rebuild{Store: s, Source: Source{JS: js, Log: log}, Chunk: 700, Log: log,
		Progress: func(done, h uint64) { calls, last, head = calls+1, done, h }}.Run(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	total := uint64(len(all))
	if rep.Gen != ref+1 || rep.Old != 0 || rep.Checkpoint != total || last != total || head != total || calls < 3 {
		t.Fatalf("report %+v, progress %d calls, last %d of %d", rep, calls, last, head)
	}
	if got := dump(t, s, rep.Gen); got != want {
		t.Fatalf("rebuilt generation differs from a full apply:\n%s", diff(got, want))
	}
	again, err := Rebuild{Store: s, Source: Source{JS: js, Log: log}, Log: log}.Run(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if again.Old != rep.Gen || again.Dropped == 0 {
		t.Fatalf("second rebuild: %+v", again)
	}
	if got := dump(t, s, again.Gen); got != want {
		t.Fatalf("second rebuild differs:\n%s", diff(got, want))
	}
	if d := dump(t, s, rep.Gen); d != "" {
		t.Fatalf("the replaced generation was not dropped:\n%s", d)
	}
	if g, cp, ok, err := s.Current(ctxT(t)); g != again.Gen || cp != total || !ok || err != nil {
		t.Fatalf("current %d at %d (%v %v)", g, cp, ok, err)
	}
}
