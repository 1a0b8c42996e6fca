package legacy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/chillin-chat/chillin/events"
	"github.com/nats-io/nats.go/jetstream"
)

// maxCandidates bounds the ids one name tries (base, base-2, …).
const maxCandidates = 1000

// publishTimeout bounds one append and one read of the log.
const publishTimeout = 10 * time.Second

// Options tune an import.
type Options struct {
	// Dir names the data folder in the summary.
	Dir string
	// Rate bounds the facts appended per second, to go easy on a system in
	// use (0: as fast as the log takes them).
	Rate float64
	// Progress receives a progress line now and then while the import runs,
	// and a last one at the end; nil for none.
	Progress io.Writer
	// ProgressEvery is the least time between progress lines (default 1s).
	ProgressEvery time.Duration
	// Now is the clock, for records that carry no time (default time.Now).
	Now    func() time.Time
	Logger *slog.Logger
}

// Import appends the facts of legacy data d to CHAT_EVT, which must exist:
// users (user.imported, expected last subject sequence 0), then each room
// in order (room.created v2, member.joined before an author's first message,
// message.posted with the original time in `at`), with the same subjects and
// gap-free room seqs as live traffic.
//
// It is idempotent and resumable: every fact's `cmd` (and Nats-Msg-Id) is
// derived from the files, so a run reads what the log already holds for each
// user and room and appends only what is missing, whenever the earlier run
// was and however it ended. A name's id is the first of its candidates
// (Candidate) that is free or already holds this very name's import.
//
// On an error the facts appended so far stay; running the import again
// completes it.
func Import(ctx context.Context, js jetstream.JetStream, d *Data, o Options) (*Summary, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.ProgressEvery == 0 {
		o.ProgressEvery = time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	evt, err := js.Stream(ctx, events.EvtStream)
	if err != nil {
		return nil, fmt.Errorf("stream %s (is Chillin set up on this NATS?): %w", events.EvtStream, err)
	}
	p := NewPlan(d, o.Now().UTC())
	im := &importer{js: js, evt: evt, o: o, plan: p, sum: &Summary{Dir: o.Dir, Skipped: p.Skipped, Notes: p.Notes}}
	im.sum.Users.InFiles = len(p.Users)
	im.sum.Rooms.InFiles = len(p.Rooms) + p.EmptyRooms
	im.sum.Rooms.Skipped = p.EmptyRooms
	for _, rm := range d.Messages {
		im.sum.Messages.InFiles += len(rm.Messages)
	}
	for _, r := range p.Rooms {
		im.messages += len(r.Messages)
	}
	im.sum.Messages.Skipped = im.sum.Messages.InFiles - im.messages

	ids := make([]string, len(p.Users))
	for i := range p.Users {
		if ids[i], err = im.user(ctx, &p.Users[i]); err != nil {
			im.report(true)
			return im.sum, fmt.Errorf("user %s: %w", quote(p.Users[i].Name), err)
		}
		if p.Users[i].Data.LegacySHA256 == "" {
			im.sum.NoCredential++
		}
		im.report(false)
	}
	for i := range p.Rooms {
		if err := im.room(ctx, &p.Rooms[i], ids); err != nil {
			im.report(true)
			return im.sum, fmt.Errorf("room %s: %w", quote(p.Rooms[i].Name), err)
		}
	}
	im.report(true)
	return im.sum, nil
}

type importer struct {
	js   jetstream.JetStream
	evt  jetstream.Stream
	o    Options
	plan *Plan
	sum  *Summary

	messages     int // messages to import, for progress
	appended     int
	next         time.Time // pacing: the earliest time of the next append
	lastProgress time.Time
}

// user claims an id for one legacy name and makes sure its user.imported
// is in the log.
func (im *importer) user(ctx context.Context, id *Identity) (string, error) {
	var taken []string
	for n := 1; n <= maxCandidates; n++ {
		cand := Candidate(id.Base, n, maxUsername)
		if !events.ValidUsername(cand) {
			return "", fmt.Errorf("id %q is not a valid username", cand)
		}
		first, ok, err := im.first(ctx, events.UserSubject(cand))
		if err != nil {
			return "", err
		}
		if ok {
			if first.Cmd == id.Cmd {
				im.sum.Users.Present++
				im.sum.renamed("user", id.Name, id.Base, cand, taken)
				return cand, nil
			}
			taken = append(taken, cand+" is taken by "+userOwner(first))
			continue
		}
		data := id.Data
		data.Username = cand
		if data.DisplayName == "" {
			data.DisplayName = cand
		}
		f, err := events.NewFact(events.UserImported, "", 0, cand, id.Cmd, id.At, data)
		if err != nil {
			return "", err
		}
		if _, err := im.publish(ctx, events.UserSubject(cand), f, 0); err != nil {
			if events.IsWrongLastSequence(err) {
				n-- // registered meanwhile: look at the same id again
				continue
			}
			return "", err
		}
		im.sum.Users.Imported++
		im.sum.renamed("user", id.Name, id.Base, cand, taken)
		return cand, nil
	}
	return "", fmt.Errorf("no free id among %d candidates from %q", maxCandidates, id.Base)
}

func userOwner(s events.Stored) string {
	if s.Type == events.UserImported {
		if d, err := events.DecodeData[events.UserImportedData](s.Fact); err == nil {
			return "legacy user " + quote(d.LegacyName)
		}
	}
	return "an existing Chillin user"
}

// roomState is what the import needs to know of a room in the log.
type roomState struct {
	id      string
	head    uint64 // room seq of the last fact
	lastID  uint64 // its stream sequence: the expected last subject sequence
	cmds    map[string]bool
	members map[string]bool
}

func (st *roomState) apply(s events.Stored) {
	st.head, st.lastID = s.Seq, s.ID
	st.cmds[s.Cmd] = true
	switch s.Type {
	case events.RoomCreated, events.MemberJoined:
		st.members[s.User] = true
	case events.MemberLeft:
		delete(st.members, s.User)
	}
}

// room claims an id for one legacy room, then appends what the log does not
// hold yet of its history, in order.
func (im *importer) room(ctx context.Context, pr *PlannedRoom, users []string) error {
	st, err := im.claimRoom(ctx, pr, users[pr.Creator])
	if err != nil {
		return err
	}
	for _, m := range pr.Messages {
		author := users[m.Author]
		cmd := messageCmd(pr.Name, m.Index)
		if st.cmds[cmd] {
			im.sum.Messages.Present++
			im.report(false)
			continue
		}
		// Only members post: the author joins just before their first
		// message. A join already in the log whose author has left since
		// (live traffic after an interrupted import) is not repeated.
		if jc := joinCmd(pr.Name, m.Index); !st.members[author] && !st.cmds[jc] {
			f, err := events.NewFact(events.MemberJoined, st.id, 0, author, jc, m.At, events.MemberJoinedData{})
			if err != nil {
				return err
			}
			added, err := im.appendRoom(ctx, st, f)
			if err != nil {
				return err
			}
			if added {
				im.sum.Joins++
			}
		}
		f, err := events.NewFact(events.MessagePosted, st.id, 0, author, cmd, m.At,
			events.MessagePostedData{Text: m.Text, ClientID: ClientID(m.Index)})
		if err != nil {
			return err
		}
		added, err := im.appendRoom(ctx, st, f)
		if err != nil {
			return err
		}
		if added {
			im.sum.Messages.Imported++
		} else {
			im.sum.Messages.Present++
		}
		im.report(false)
	}
	return nil
}

// claimRoom finds the room's id: the first candidate that is free (then it
// appends room.created there, only if the subject is still empty) or holds
// this room's own room.created from an earlier run (then it reads the room).
func (im *importer) claimRoom(ctx context.Context, pr *PlannedRoom, creator string) (*roomState, error) {
	var taken []string
	for n := 1; n <= maxCandidates; n++ {
		cand := Candidate(pr.Base, n, maxRoomID)
		if !events.ValidRoomID(cand) {
			return nil, fmt.Errorf("id %q is not a valid room id", cand)
		}
		facts, head, err := im.readRoom(ctx, cand, 0, 1)
		if err != nil {
			return nil, err
		}
		st := &roomState{id: cand, cmds: map[string]bool{}, members: map[string]bool{}}
		if head > 0 {
			if facts[0].Cmd != pr.Cmd {
				taken = append(taken, cand+" is taken by "+roomOwner(facts[0]))
				continue
			}
			all, _, err := im.readRoom(ctx, cand, 0, 0)
			if err != nil {
				return nil, err
			}
			for _, f := range all {
				st.apply(f)
			}
			im.sum.Rooms.Present++
			im.sum.renamed("room", pr.Name, pr.Base, cand, taken)
			return st, nil
		}
		f, err := events.NewFact(events.RoomCreated, cand, 1, creator, pr.Cmd, pr.At, pr.Data)
		if err != nil {
			return nil, err
		}
		ack, err := im.publish(ctx, events.RoomSubject(cand), f, 0)
		if events.IsWrongLastSequence(err) {
			n-- // created meanwhile: look at the same id again
			continue
		}
		if err != nil {
			return nil, err
		}
		st.apply(events.Stored{ID: ack.Sequence, Fact: f})
		im.sum.Rooms.Imported++
		im.sum.renamed("room", pr.Name, pr.Base, cand, taken)
		return st, nil
	}
	return nil, fmt.Errorf("no free id among %d candidates from %q", maxCandidates, pr.Base)
}

func roomOwner(s events.Stored) string {
	if strings.HasPrefix(s.Cmd, "legacy:") {
		if d, err := events.DecodeData[events.RoomCreatedData](s.Fact); err == nil {
			return "legacy room " + quote(d.Name)
		}
	}
	return "an existing Chillin room"
}

// appendRoom appends f as the room's next fact (seq head+1, expected last
// subject sequence = the room's last fact), unless the log holds it already.
// When someone else appended first, it reads what they did and tries again.
func (im *importer) appendRoom(ctx context.Context, st *roomState, f events.Fact) (bool, error) {
	for range 32 {
		if st.cmds[f.Cmd] {
			return false, nil
		}
		f.Seq = st.head + 1
		ack, err := im.publish(ctx, events.RoomSubject(st.id), f, st.lastID)
		if events.IsWrongLastSequence(err) {
			facts, _, err := im.readRoom(ctx, st.id, st.head, 0)
			if err != nil {
				return false, err
			}
			for _, s := range facts {
				st.apply(s)
			}
			continue
		}
		if err != nil {
			return false, err
		}
		st.apply(events.Stored{ID: ack.Sequence, Fact: f})
		return true, nil
	}
	return false, fmt.Errorf("room %s kept changing under the import", st.id)
}

// publish appends one fact with its command id as Nats-Msg-Id, only if the
// subject's last sequence is expect (0: the subject is empty).
func (im *importer) publish(ctx context.Context, subject string, f events.Fact, expect uint64) (*jetstream.PubAck, error) {
	if err := im.pace(ctx); err != nil {
		return nil, err
	}
	b, err := f.Encode()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, publishTimeout)
	defer cancel()
	ack, err := im.js.Publish(ctx, subject, b, jetstream.WithMsgID(f.Cmd), jetstream.WithExpectLastSequencePerSubject(expect))
	if err != nil {
		if events.IsWrongLastSequence(err) {
			return nil, err
		}
		return nil, fmt.Errorf("append %s to %s: %w", f.Type, subject, err)
	}
	if ack.Duplicate {
		// The id was recorded on another subject moments ago: the files
		// gave two records the same command id, which the plan rules out.
		return nil, fmt.Errorf("append %s to %s: the log already holds %s elsewhere", f.Type, subject, f.Cmd)
	}
	im.appended++
	im.o.Logger.Debug("appended", "subject", subject, "type", f.Type, "seq", f.Seq, "cmd", f.Cmd)
	return ack, nil
}

// pace waits for the next slot when the import is rate-bounded.
func (im *importer) pace(ctx context.Context) error {
	if im.o.Rate <= 0 {
		return nil
	}
	now := time.Now()
	if wait := im.next.Sub(now); wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
		now = im.next
	}
	im.next = now.Add(time.Duration(float64(time.Second) / im.o.Rate))
	return nil
}

// first returns the first fact on a subject, if any.
func (im *importer) first(ctx context.Context, subject string) (events.Stored, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, publishTimeout)
	defer cancel()
	m, err := im.evt.GetMsg(ctx, 1, jetstream.WithGetMsgSubject(subject))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return events.Stored{}, false, nil
	}
	if err != nil {
		return events.Stored{}, false, fmt.Errorf("read %s: %w", subject, err)
	}
	s, err := events.DecodeStoredMsg(m)
	return s, err == nil, err
}

// readRoom reads the room's facts with seq > after, at most max (0: all).
func (im *importer) readRoom(ctx context.Context, room string, after uint64, max int) ([]events.Stored, uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, publishTimeout)
	defer cancel()
	facts, head, err := events.ReadRoom(ctx, im.js, im.evt, room, after, max)
	if err != nil {
		return nil, 0, fmt.Errorf("read room %s: %w", room, err)
	}
	return facts, head, nil
}

// report writes a progress line, at most one per ProgressEvery unless final.
func (im *importer) report(final bool) {
	if im.o.Progress == nil {
		return
	}
	now := time.Now()
	if !final && now.Sub(im.lastProgress) < im.o.ProgressEvery {
		return
	}
	im.lastProgress = now
	s := im.sum
	fmt.Fprintf(im.o.Progress, "import: users %d/%d, rooms %d/%d, messages %d/%d; %d facts appended\n",
		s.Users.Imported+s.Users.Present, len(im.plan.Users),
		s.Rooms.Imported+s.Rooms.Present, len(im.plan.Rooms),
		s.Messages.Imported+s.Messages.Present, im.messages, im.appended)
}
