package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chillin-chat/chillin/events"
)

func TestCheckReadFrame(t *testing.T) {
	for _, tc := range []struct {
		name, data string
		code       string
		field      string
	}{
		{"read", `{"room":"a","seq":12}`, "", ""},
		{"read without seq", `{"room":"a"}`, events.CodeBadFrame, "seq"},
		{"read without room", `{"seq":3}`, events.CodeBadFrame, "room"},
		{"read seq 0", `{"room":"a","seq":0}`, events.CodeBadFrame, "seq"},
		{"read negative seq", `{"room":"a","seq":-1}`, events.CodeBadFrame, "seq"},
		{"read huge seq", `{"room":"a","seq":9007199254740992}`, events.CodeBadFrame, "seq"},
		{"read seq a string", `{"room":"a","seq":"3"}`, events.CodeBadFrame, "seq"},
		{"read bad room", `{"room":"a.>","seq":3}`, events.CodeInvalidRoom, "room"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := checkFrame("room:read", json.RawMessage(tc.data))
			switch {
			case tc.code == "" && e != nil:
				t.Fatalf("refused: %v", e)
			case tc.code != "" && (e == nil || e.Code != tc.code || !strings.HasPrefix(e.Message, tc.field+":")):
				t.Fatalf("got %v, want %s naming %q", e, tc.code, tc.field)
			}
		})
	}
}

// manualTimers collects the functions readReports schedules, to be run by
// the test when it chooses.
type manualTimers struct{ due []func() }

func (m *manualTimers) after(_ time.Duration, f func()) { m.due = append(m.due, f) }

func (m *manualTimers) fire(t *testing.T) {
	t.Helper()
	if len(m.due) == 0 {
		t.Fatal("no window open")
	}
	f := m.due[0]
	m.due = m.due[1:]
	f()
}

type sentRead struct {
	session string
	seq     uint64
}

func TestReadReportsCoalesce(t *testing.T) {
	timers := &manualTimers{}
	rr := &readReports{after: timers.after}
	var sent []sentRead
	report := func(room string, seq uint64) {
		rr.report("alice", "s1", room, seq, func(session string, seq uint64) { sent = append(sent, sentRead{session, seq}) })
	}
	want := func(what string, w ...sentRead) {
		t.Helper()
		if fmt.Sprint(sent) != fmt.Sprint(w) {
			t.Fatalf("%s: sent %v, want %v", what, sent, w)
		}
	}

	report("general", 5)
	want("the first report of a quiet room goes at once", sentRead{"s1", 5})
	for seq := uint64(6); seq <= 40; seq++ {
		report("general", seq)
	}
	report("general", 12)
	want("reports within the window wait", sentRead{"s1", 5})
	timers.fire(t)
	want("the window's highest goes at its end", sentRead{"s1", 5}, sentRead{"s1", 40})
	report("general", 40)
	report("general", 39)
	timers.fire(t)
	want("nothing past what was sent: nothing goes", sentRead{"s1", 5}, sentRead{"s1", 40})
	if len(rr.users) != 0 || len(timers.due) != 0 {
		t.Fatalf("a quiet room is forgotten: %v, %d windows", rr.users, len(timers.due))
	}
	report("general", 41)
	want("a room forgotten is quiet again", sentRead{"s1", 5}, sentRead{"s1", 40}, sentRead{"s1", 41})
}

func TestReadReportsBounded(t *testing.T) {
	timers := &manualTimers{}
	rr := &readReports{after: timers.after}
	sent := 0
	for i := range maxReadRooms + 5 {
		rr.report("alice", "s1", fmt.Sprintf("room-%d", i), 1, func(string, uint64) { sent++ })
	}
	if sent != maxReadRooms || len(rr.users["alice"]) != maxReadRooms {
		t.Fatalf("%d sent, %d rooms held; want %d", sent, len(rr.users["alice"]), maxReadRooms)
	}
	rr.report("bob", "s2", "room-0", 1, func(string, uint64) { sent++ })
	if sent != maxReadRooms+1 {
		t.Fatal("another user is bounded on their own")
	}
	for range maxReadRooms + 1 {
		timers.fire(t)
	}
	if len(rr.users) != 0 {
		t.Fatalf("windows left: %v", rr.users)
	}
}

// At shutdown, what waits for its window's end goes at once, and the
// windows' timers then send nothing more.
func TestReadReportsFlush(t *testing.T) {
	timers := &manualTimers{}
	rr := &readReports{after: timers.after}
	var sent []string
	var mu sync.Mutex
	report := func(user, room string, seq uint64) {
		rr.report(user, "s-"+user, room, seq, func(session string, seq uint64) {
			mu.Lock()
			sent = append(sent, fmt.Sprintf("%s:%s:%d", session, room, seq))
			mu.Unlock()
		})
	}
	report("alice", "general", 5)
	report("alice", "general", 9)
	report("alice", "random", 3)
	report("bob", "general", 7)
	report("bob", "general", 8)
	rr.flush(context.Background())
	slices.Sort(sent)
	if want := "s-alice:general:5 s-alice:general:9 s-alice:random:3 s-bob:general:7 s-bob:general:8"; strings.Join(sent, " ") != want {
		t.Fatalf("sent %v, want %s", sent, want)
	}
	for len(timers.due) > 0 {
		timers.fire(t)
	}
	if len(sent) != 5 || len(rr.users) != 0 {
		t.Fatalf("after the flush the windows sent %v, held %v", sent[5:], rr.users)
	}
	rr.flush(context.Background()) // nothing left: nothing sent
	if len(sent) != 5 {
		t.Fatalf("a second flush sent %v", sent[5:])
	}
}
