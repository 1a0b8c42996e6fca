package validator

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"testing"
	"time"

	"github.com/chillin-chat/chillin/events"
	"github.com/nats-io/nats.go/jetstream"
)

// subjectFacts reads every fact on subject.
func (h *harness) subjectFacts(subject string) []events.Stored {
	h.t.Helper()
	ctx := context.Background()
	last, ok, err := events.LastOnSubject(ctx, h.evt, subject)
	if err != nil {
		h.t.Fatal(err)
	}
	if !ok {
		return nil
	}
	facts, err := events.ReadSubject(ctx, h.js, subject, 1, last.ID, 0)
	if err != nil {
		h.t.Fatal(err)
	}
	return facts
}

// ask sends a command that waits for its outcome, as the gateway's REST
// handlers do, and returns the outcome's code ("" for accepted).
func (h *harness) ask(reply string, next func() events.Outcome, typ, user, session, room string, data any) string {
	h.t.Helper()
	cmd, err := events.NewCommand(typ, randomID(h.t), user, session, room, time.Now(), data)
	if err != nil {
		h.t.Fatal(err)
	}
	cmd.Reply = reply
	h.send(cmd)
	o := next()
	if o.Cmd != cmd.ID {
		h.t.Fatalf("outcome of %s, want of %s", o.Cmd, cmd.ID)
	}
	return outcomeCode(o)
}

func freshSessionID(tb testing.TB) string {
	sum := sha256.Sum256([]byte(randomID(tb)))
	return hex.EncodeToString(sum[:])
}

// The facts a gateway used to append itself are commands the validator
// decides: a username is taken once, a room created once, and a session's
// facts are the command's user's.
func TestUserAndRoomCommands(t *testing.T) {
	h := newHarness(t)
	h.start(h.config())
	reply, next := h.outcomes()
	hash := hashPassword(t, "correct horse")
	reg := events.UserRegister{DisplayName: "Zed", PasswordHash: hash}

	if code := h.ask(reply, next, events.CmdUserRegister, "zed", "", "", reg); code != "" {
		t.Fatalf("register: %s", code)
	}
	if code := h.ask(reply, next, events.CmdUserRegister, "zed", "", "", reg); code != events.CodeUsernameTaken {
		t.Fatalf("register a taken name: %q", code)
	}
	user := h.subjectFacts(events.UserSubject("zed"))
	if len(user) != 1 || user[0].Type != events.UserRegistered || user[0].User != "zed" {
		t.Fatalf("zed's facts: %s", factKinds(user))
	}

	sess := freshSessionID(t)
	exp := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	if code := h.ask(reply, next, events.CmdSessionStart, "zed", sess, "", events.SessionStart{ExpiresAt: exp}); code != "" {
		t.Fatalf("session start: %s", code)
	}
	if code := h.ask(reply, next, events.CmdSessionStart, "nobody", freshSessionID(t), "", events.SessionStart{ExpiresAt: exp}); code != events.CodeUnauthenticated {
		t.Fatalf("a session of a user who does not exist: %q", code)
	}
	// The session just recorded authenticates the next commands at once.
	if code := h.ask(reply, next, events.CmdRoomCreate, "zed", sess, "zeds-den", events.RoomCreate{Name: "Zeds den"}); code != "" {
		t.Fatalf("create a room: %s", code)
	}
	if code := h.ask(reply, next, events.CmdRoomCreate, "zed", sess, "zeds-den", events.RoomCreate{Name: "Zeds Den!"}); code != events.CodeRoomExists {
		t.Fatalf("create it again: %q", code)
	}
	if facts := h.roomFacts("zeds-den"); len(facts) != 1 || facts[0].Type != events.RoomCreated || facts[0].User != "zed" {
		t.Fatalf("the room's facts: %s", factKinds(facts))
	}
	if code := h.ask(reply, next, events.CmdSessionRefresh, "zed", sess, "", events.SessionRefresh{ExpiresAt: exp.Add(time.Hour)}); code != "" {
		t.Fatalf("refresh: %s", code)
	}
	if code := h.ask(reply, next, events.CmdSessionEnd, "zed", sess, "", events.SessionEnd{Session: sess}); code != "" {
		t.Fatalf("log out: %s", code)
	}
	if code := h.ask(reply, next, events.CmdRoomCreate, "zed", sess, "after", events.RoomCreate{Name: "After"}); code != events.CodeUnauthenticated {
		t.Fatalf("create a room from a revoked session: %q", code)
	}
	ss := h.subjectFacts(events.SessionSubject("zed"))
	if factKinds(ss) != "session.started:zed session.refreshed:zed session.revoked:zed" {
		t.Fatalf("zed's session facts: %s", factKinds(ss))
	}
	for _, f := range ss {
		d, err := events.DecodeData[events.SessionData](f.Fact)
		if err != nil || d.Session != sess || f.User != "zed" {
			t.Fatalf("session fact %+v: %+v %v", f, d, err)
		}
	}
	if rej := h.waitRejections("zed", 2); rej[0].Code != events.CodeUsernameTaken || rej[1].Code != events.CodeRoomExists {
		t.Fatalf("zed's refusals: %+v", rej)
	}
}

// Two registrations of one name handed to the committer in one batch, each
// decided on a user with no fact (as two instances deciding at once would):
// exactly one is stored, and the loser, decided again, is refused.
func TestRegistrationRaceInOneBatch(t *testing.T) {
	h := newHarness(t)
	hash := hashPassword(t, "correct horse")
	var facts [2][]byte
	for i := range facts {
		f, err := events.NewFact(events.UserRegistered, "", 0, "zed", "reg-"+randomID(t), time.Now(),
			events.UserRegisteredData{Username: "zed", DisplayName: "Zed", PasswordHash: hash})
		if err != nil {
			t.Fatal(err)
		}
		if facts[i], err = f.Encode(); err != nil {
			t.Fatal(err)
		}
	}
	// Atomic batches from the first fact on: the two share one batch.
	c := newCommitter(h.nc, h.js, nil, nil, 1)
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	var errs [2]error
	appendInOrder(ctx, c, len(facts), func(i int) {
		_, errs[i] = c.append(ctx, events.UserSubject("zed"), facts[i], "reg-"+randomID(t), 0, time.Time{})
	})
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !events.IsWrongLastSequence(err):
			t.Fatalf("append: %v", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d registrations of one name won: %v", won, errs)
	}
	if facts := h.subjectFacts(events.UserSubject("zed")); len(facts) != 1 {
		t.Fatalf("zed's facts: %s", factKinds(facts))
	}

	// Through the validator: two registrations of one name sent back to
	// back, one outcome each, one user.registered.
	h.start(h.config())
	reply, next := h.outcomes()
	codes := map[string]int{}
	for range 2 {
		cmd, err := events.NewCommand(events.CmdUserRegister, randomID(t), "amy", "", "", time.Now(),
			events.UserRegister{DisplayName: "Amy", PasswordHash: hash})
		if err != nil {
			t.Fatal(err)
		}
		cmd.Reply = reply
		h.send(cmd)
	}
	for range 2 {
		codes[outcomeCode(next())]++
	}
	if codes[""] != 1 || codes[events.CodeUsernameTaken] != 1 {
		t.Fatalf("outcomes of two registrations of one name: %v", codes)
	}
	if facts := h.subjectFacts(events.UserSubject("amy")); len(facts) != 1 {
		t.Fatalf("amy's facts: %s", factKinds(facts))
	}
}

// A registration that comes back after its deadline, its fact written by an
// earlier attempt that lost the acknowledgement, is answered as done; one
// whose fact is not there is dropped as expired, not decided.
func TestAnExpiredRegistrationInTheLogIsDone(t *testing.T) {
	h := newHarness(t)
	h.start(h.config())
	reply, next := h.outcomes()
	reg := events.UserRegister{DisplayName: "Zed", PasswordHash: hashPassword(t, "correct horse")}

	landed, err := events.NewCommand(events.CmdUserRegister, randomID(t), "zed", "", "", time.Now(), reg)
	if err != nil {
		t.Fatal(err)
	}
	landed.Reply, landed.Deadline = reply, time.Now().Add(-time.Second)
	f, err := events.NewFact(events.UserRegistered, "", 0, "zed", landed.ID, time.Now(), events.UserRegisteredData{DisplayName: "Zed", PasswordHash: reg.PasswordHash})
	if err != nil {
		t.Fatal(err)
	}
	h.appendFact(events.UserSubject("zed"), f, jetstream.WithMsgID(landed.ID))
	h.send(landed)
	if o := next(); o.Cmd != landed.ID || o.Expired || o.Error != nil {
		t.Fatalf("outcome %+v, want the registration answered as done", o)
	}

	lost, err := events.NewCommand(events.CmdUserRegister, randomID(t), "amy", "", "", time.Now(), reg)
	if err != nil {
		t.Fatal(err)
	}
	lost.Reply, lost.Deadline = reply, time.Now().Add(-time.Second)
	h.send(lost)
	if o := next(); o.Cmd != lost.ID || !o.Expired {
		t.Fatalf("outcome %+v, want the registration expired", o)
	}
	if facts := h.subjectFacts(events.UserSubject("amy")); len(facts) != 0 {
		t.Fatalf("amy's facts: %s", factKinds(facts))
	}
}
