package validator

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chillin-chat/chillin/events"
	"github.com/chillin-chat/chillin/validator/internal/decide"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// rejectionCodes lists user's rejection codes, space-separated, in order.
func rejectionCodes(h *harness, user string) string {
	var codes []string
	for _, r := range h.rejections(user) {
		codes = append(codes, r.Code)
	}
	return strings.Join(codes, " ")
}

// A room keeps two messages here: the commands about older ones are decided
// on their facts, read from the log, by this instance and by one that
// starts afresh.
func TestMessagesOlderThanTheWindow(t *testing.T) {
	h := newHarness(t)
	h.createRoom("lobby", "alice", false, "")
	h.joinDirect("lobby", "bob")
	cfg := h.config()
	cfg.RoomMessages = 2
	cfg.Workers = 1
	in := h.start(cfg)
	for i, user := range []string{"alice", "alice", "bob", "alice", "alice"} {
		h.send(h.message(user, "lobby", fmt.Sprintf("c%d", i), "hello"))
	}
	ms := posted(t, h.waitHead("lobby", 7))
	old1, old2, old3 := ms[0].ID, ms[1].ID, ms[2].ID

	h.send(h.command(events.CmdMessageDelete, "alice", "lobby", events.MessageDelete{ID: old2}))
	h.send(h.command(events.CmdMessageEdit, "alice", "lobby", events.MessageEdit{ID: old1, Text: "edited"}))
	h.send(h.command(events.CmdMessageEdit, "bob", "lobby", events.MessageEdit{ID: old1, Text: "hijack"}))
	h.send(h.command(events.CmdMessageEdit, "alice", "lobby", events.MessageEdit{ID: old2, Text: "deleted"}))
	h.send(h.command(events.CmdMessageEdit, "alice", "lobby", events.MessageEdit{ID: old3, Text: "bob's"}))
	h.send(h.command(events.CmdReactionAdd, "bob", "lobby", events.ReactionChange{ID: old1, Emoji: "👍"}))
	h.send(h.command(events.CmdMessageEdit, "bob", "lobby", events.MessageEdit{ID: old3, Text: "mine"}))
	h.send(h.command(events.CmdMessageEdit, "alice", "lobby", events.MessageEdit{ID: 1, Text: "a session fact"}))
	h.waitSettled()
	want := "message.deleted:alice message.edited:alice reaction.added:bob message.edited:bob"
	if got := factKinds(h.roomFacts("lobby")[7:]); got != want {
		t.Fatalf("facts about old messages:\n got %s\nwant %s", got, want)
	}
	if got := rejectionCodes(h, "bob"); got != "NOT_OWNER" {
		t.Fatalf("bob's rejections: %s", got)
	}
	if got := rejectionCodes(h, "alice"); got != "NO_SUCH_MESSAGE NOT_OWNER NO_SUCH_MESSAGE" {
		t.Fatalf("alice's rejections: %s", got)
	}

	// A fresh instance folds the room from the log, the deletion of a
	// message older than its window included.
	in.stop(t)
	h.start(cfg)
	h.send(h.command(events.CmdMessageEdit, "alice", "lobby", events.MessageEdit{ID: old2, Text: "deleted"}))
	h.send(h.command(events.CmdMessageEdit, "alice", "lobby", events.MessageEdit{ID: old1, Text: "again"}))
	h.send(h.command(events.CmdReactionAdd, "bob", "lobby", events.ReactionChange{ID: old1, Emoji: "👍"}))
	h.waitSettled()
	if got := factKinds(h.roomFacts("lobby")[11:]); got != "message.edited:alice" {
		t.Fatalf("facts after a restart: %s", got)
	}
	if got := rejectionCodes(h, "alice"); got != "NO_SUCH_MESSAGE NOT_OWNER NO_SUCH_MESSAGE NO_SUCH_MESSAGE" {
		t.Fatalf("alice's rejections after a restart: %s", got)
	}
}

// With room for one room state only, every command of another room evicts
// it: each is decided on the room read again, from its snapshot or from the
// log alone, as it would have been on the cached one.
func TestEvictedRoomsAreReadAgain(t *testing.T) {
	for _, tc := range []struct {
		name      string
		snapshots int
		from      string
	}{
		{"from snapshots", 0, "snapshot"},
		{"from the log", -1, "log"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.createRoom("a", "alice", false, "")
			h.createRoom("b", "alice", false, "")
			h.joinDirect("a", "bob")
			cfg := h.config()
			cfg.RoomCacheBytes = 1
			cfg.RoomSnapshotBytes = tc.snapshots
			cfg.Workers = 1
			cfg.Metrics = prometheus.NewRegistry()
			h.start(cfg)
			// Each room's commands are decided before the other's are sent:
			// the rooms are on different partitions, whose pull loops could
			// otherwise hand the worker all of one room's commands first.
			for i := range 3 {
				for _, room := range []string{"a", "b"} {
					h.send(h.message("alice", room, fmt.Sprintf("k%d", i), "hello"))
					h.send(h.message("alice", room, fmt.Sprintf("k%d", i), "a resend"))
					h.send(h.message("bob", room, fmt.Sprintf("k%d", i), "bob"))
					h.waitSettled()
				}
			}
			if got := factKinds(h.roomFacts("a")[2:]); got != strings.TrimSpace(strings.Repeat("message.posted:alice message.posted:bob ", 3)) {
				t.Fatalf("room a:\n%s", got)
			}
			if got := factKinds(h.roomFacts("b")[1:]); got != "message.posted:alice message.posted:alice message.posted:alice" {
				t.Fatalf("room b: %s", got)
			}
			if got := rejectionCodes(h, "bob"); got != "NOT_MEMBER NOT_MEMBER NOT_MEMBER" {
				t.Fatalf("bob's rejections: %s", got)
			}
			if got := rejectionCodes(h, "alice"); got != "" {
				t.Fatalf("alice's rejections: %s", got)
			}
			fams := map[string]*dto.MetricFamily{}
			got, err := cfg.Metrics.Gather()
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range got {
				fams[f.GetName()] = f
			}
			// The rooms take turns, so each is loaded again and again (six
			// loads): the first time from the log, later from its snapshot
			// where there are snapshots (unless a load overtook the saving
			// of one).
			fromLog, _ := sample(fams, "chillin_validator_room_loads_total", "from", "log")
			fromSnap, _ := sample(fams, "chillin_validator_room_loads_total", "from", "snapshot")
			if fromLog+fromSnap != 6 || (tc.from == "snapshot" && fromSnap < 1) || (tc.from == "log" && fromSnap != 0) {
				t.Fatalf("rooms loaded %v times from snapshots, %v times from the log", fromSnap, fromLog)
			}
		})
	}
}

func TestRoomCacheEvictsTheLeastRecentlyUsed(t *testing.T) {
	room := func(id string) *decide.Room {
		r := decide.NewRoom(id)
		r.LastID = 7
		return r
	}
	size := room("x").Size()
	var evicted []string
	c := newRoomCache(3*size, func(r *decide.Room) { evicted = append(evicted, r.ID) })
	for _, id := range []string{"a", "b", "c"} {
		c.put(room(id))
	}
	c.get("a")
	c.put(room("d"))
	if _, ok := c.get("b"); ok || c.len() != 3 || c.used != 3*size {
		t.Fatalf("after d: b held %v, %d rooms, %d bytes", ok, c.len(), c.used)
	}
	// An evicted room is handed over for a snapshot, unless its snapshot
	// already holds its last fact.
	c.saved("c", 7)
	c.get("a")
	c.get("d")
	c.put(room("e"))
	if _, ok := c.get("c"); ok || fmt.Sprint(evicted) != "[b]" {
		t.Fatalf("after e: c held %v, evicted for a snapshot: %v", ok, evicted)
	}
	c.drop("e")
	c.put(room("c"))
	for _, id := range []string{"a", "c", "d"} {
		if _, ok := c.get(id); !ok {
			t.Fatalf("room %s evicted", id)
		}
	}
	c.drop("c")
	if _, ok := c.get("c"); ok || c.len() != 2 || c.used != 2*size || len(evicted) != 1 {
		t.Fatalf("after drop: c held %v, %d rooms, %d bytes, evicted for a snapshot %v", ok, c.len(), c.used, evicted)
	}
	// The room in use stays, alone over the budget.
	small := newRoomCache(1, nil)
	small.put(room("a"))
	small.put(room("b"))
	if _, ok := small.get("b"); !ok || small.len() != 1 {
		t.Fatalf("over budget: %d rooms, b held %v", small.len(), ok)
	}
}

// A snapshot is a cache of the log: one behind it is completed from the log
// before it decides anything, one of another log, or ahead of this one, is
// refused for a fold.
func TestRoomSnapshotsAreCheckedAgainstTheLog(t *testing.T) {
	h := newHarness(t)
	h.createRoom("a", "alice", false, "")
	h.createRoom("b", "alice", false, "")
	cfg := h.config()
	cfg.RoomCacheBytes = 1
	cfg.Workers = 1
	first := h.start(cfg)
	// a is evicted by b with its first message: its snapshot holds k0.
	h.send(h.message("alice", "a", "k0", "hello"))
	h.send(h.message("alice", "b", "k0", "hello"))
	h.waitSettled()
	// a's next message is not in that snapshot: a is held when this
	// instance stops, and nothing saves it.
	h.send(h.message("alice", "a", "k1", "hello"))
	h.waitSettled()
	first.stop(t)

	// A forged snapshot of b, of another log, makes mallory a member; a
	// snapshot of c claims facts the log does not hold.
	forged := func(room, log string) {
		r := decide.NewRoom(room)
		r.Exists, r.Head, r.LastID = true, 50, 1<<40
		r.Members["mallory"] = struct{}{}
		r.SetMessageWindow(DefaultRoomMessages)
		m := nats.NewMsg(stateSubject(room))
		m.Header.Set(logHeader, log)
		m.Data = r.Snapshot()
		if _, err := h.js.PublishMsg(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	forged("b", "another log")
	evt, err := h.js.Stream(context.Background(), events.EvtStream)
	if err != nil {
		t.Fatal(err)
	}
	forged("c", evt.CachedInfo().Created.UTC().Format(time.RFC3339Nano))
	h.createRoom("c", "alice", false, "")

	h.start(cfg)
	h.send(h.message("alice", "a", "k1", "a resend")) // in the log, not in the snapshot
	h.send(h.message("mallory", "b", "m", "let me in"))
	h.send(h.message("mallory", "c", "m", "let me in"))
	h.send(h.message("alice", "a", "k2", "new"))
	h.waitSettled()
	if got := factKinds(h.roomFacts("a")[1:]); got != "message.posted:alice message.posted:alice message.posted:alice" {
		t.Fatalf("room a: %s", got)
	}
	if got := rejectionCodes(h, "mallory"); got != "NOT_MEMBER NOT_MEMBER" {
		t.Fatalf("mallory's rejections: %q", got)
	}
	if n := len(h.roomFacts("b")) + len(h.roomFacts("c")); n != 3 {
		t.Fatalf("rooms b and c hold %d facts, want 3", n)
	}
}

// A command whose fact an earlier attempt wrote, without learning so (its
// acknowledgement lost with the connection), is answered as decided when it
// comes back after its deadline: never as expired, which would have its
// sender post it again.
func TestAnExpiredCommandInTheLogIsNotExpired(t *testing.T) {
	h := newHarness(t)
	h.createRoom("a", "alice", false, "")
	h.start(h.config())
	h.send(h.message("alice", "a", "k0", "hello"))
	h.waitHead("a", 2) // the room is cached at seq 2

	reply, next := h.outcomes()
	landed := h.message("alice", "a", "k1", "landed")
	landed.Reply, landed.Deadline = reply, time.Now().Add(-time.Second)
	f, err := events.NewFact(events.MessagePosted, "a", 3, "alice", landed.ID, time.Now(), events.MessagePostedData{Text: "landed", ClientID: "k1"})
	if err != nil {
		t.Fatal(err)
	}
	h.appendFact(events.RoomSubject("a"), f, jetstream.WithMsgID(landed.ID))
	h.send(landed)
	if o := next(); o.Cmd != landed.ID || o.Expired || o.Error != nil || o.HeadSeq != 3 {
		t.Fatalf("outcome %+v, want the command answered as decided at seq 3", o)
	}

	lost := h.message("alice", "a", "k2", "never written")
	lost.Reply, lost.Deadline = reply, time.Now().Add(-time.Second)
	h.send(lost)
	if o := next(); o.Cmd != lost.ID || !o.Expired {
		t.Fatalf("outcome %+v, want the command expired", o)
	}
	if got := factKinds(h.roomFacts("a")[1:]); got != "message.posted:alice message.posted:alice" {
		t.Fatalf("room a: %s", got)
	}
}
