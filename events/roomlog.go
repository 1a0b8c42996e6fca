package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// DecodeStoredMsg decodes a raw message read from CHAT_EVT.
func DecodeStoredMsg(m *jetstream.RawStreamMsg) (Stored, error) {
	f, err := DecodeFact(m.Data)
	if err != nil {
		return Stored{}, fmt.Errorf("seq %d: %w", m.Sequence, err)
	}
	return Stored{ID: m.Sequence, Fact: f}, nil
}

// DecodeConsumedMsg decodes a message delivered by a consumer of CHAT_EVT.
func DecodeConsumedMsg(m jetstream.Msg) (Stored, error) {
	md, err := m.Metadata()
	if err != nil {
		return Stored{}, fmt.Errorf("fact metadata: %w", err)
	}
	f, err := DecodeFact(m.Data())
	if err != nil {
		return Stored{}, fmt.Errorf("seq %d: %w", md.Sequence.Stream, err)
	}
	return Stored{ID: md.Sequence.Stream, Fact: f}, nil
}

// LastOnSubject returns the last fact on a subject, or ok=false if it has none.
func LastOnSubject(ctx context.Context, evt jetstream.Stream, subject string) (s Stored, ok bool, err error) {
	m, err := evt.GetLastMsgForSubject(ctx, subject)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return Stored{}, false, nil
	}
	if err != nil {
		return Stored{}, false, fmt.Errorf("last fact on %s: %w", subject, err)
	}
	s, err = DecodeStoredMsg(m)
	return s, err == nil, err
}

// ReadSubject reads the facts on subject with stream sequence >= start, in
// order, stopping after the fact with sequence last (inclusive) or after max
// facts (max <= 0: no bound). It reads with batched direct gets (one request
// per 256 facts) and creates no consumer, so any number of readers can run
// at once at the cost of a request or two each.
//
// Any replica of an R3 stream may answer a direct get, one that has not yet
// stored last although another (or the leader) said it exists: a batch that
// ends short of last is asked for again, after lagPauses, before the read
// fails.
func ReadSubject(ctx context.Context, js jetstream.JetStream, subject string, start, last uint64, max int) ([]Stored, error) {
	if start == 0 {
		start = 1
	}
	var out []Stored
	lagged := 0
	for next := start; next <= last && (max <= 0 || len(out) < max); {
		want := readBatch
		if max > 0 && max-len(out) < want {
			want = max - len(out)
		}
		batch, err := directBatch(ctx, js.Conn(), subject, next, want)
		if err != nil {
			return out, fmt.Errorf("read %s from %d: %w", subject, next, err)
		}
		if len(batch) == 0 {
			if !WaitForReplica(ctx, &lagged) {
				return out, fmt.Errorf("read %s: log ended before seq %d", subject, last)
			}
			continue
		}
		for _, s := range batch {
			if s.ID > last {
				return out, nil
			}
			out = append(out, s)
		}
		next = batch[len(batch)-1].ID + 1
	}
	return out, nil
}

// readBatch is how many facts one direct get request asks for.
const readBatch = 256

// WaitForReplica waits out the next of lagPauses, counted by *lagged; false
// once they are all spent or ctx ended. A reader that got less than it knows
// the log holds (a replica of an R3 stream that has not caught up answered)
// asks again after each wait.
func WaitForReplica(ctx context.Context, lagged *int) bool {
	if *lagged == len(lagPauses) {
		return false
	}
	t := time.NewTimer(lagPauses[*lagged])
	defer t.Stop()
	*lagged++
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// lagPauses are the waits before ReadSubject asks again for facts a replica
// did not have yet: a replica applies what its leader stored within
// milliseconds, unless it is catching up after a restart (about 1.5 s in
// all).
var lagPauses = []time.Duration{5 * time.Millisecond, 20 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond, 500 * time.Millisecond}

// BatchMsg is one message of a batched direct get.
type BatchMsg struct {
	Seq     uint64
	Subject string
	Data    []byte
}

// DirectBatch asks a stream for up to n of its messages on subject (a
// filter: wildcards allowed) at or after stream sequence start, with one
// batched direct get: the stream answers with one message each, then an
// end-of-batch status. more is false when the stream said it holds no
// further message on subject. It waits for the answers until ctx ends.
//
// The answers arrive on a channel of exactly n+1 places, since a batch is
// at most n messages and a status: a subscription of the connection's
// default size would allocate half a megabyte per call, and a reader that
// reloads rooms calls this for every room it reads.
func DirectBatch(ctx context.Context, nc *nats.Conn, stream, subject string, start uint64, n int) (msgs []BatchMsg, more bool, err error) {
	req, err := json.Marshal(struct {
		Seq   uint64 `json:"seq"`
		Next  string `json:"next_by_subj"`
		Batch int    `json:"batch"`
	}{start, subject, n})
	if err != nil {
		return nil, false, err
	}
	inbox := nc.NewRespInbox()
	answers := make(chan *nats.Msg, n+1)
	sub, err := nc.ChanSubscribe(inbox, answers)
	if err != nil {
		return nil, false, err
	}
	defer sub.Unsubscribe()
	if err := nc.PublishRequest("$JS.API.DIRECT.GET."+stream, inbox, req); err != nil {
		return nil, false, err
	}
	for {
		var m *nats.Msg
		select {
		case m = <-answers:
		case <-ctx.Done():
			return msgs, false, ctx.Err()
		}
		switch status := m.Header.Get("Status"); status {
		case "":
		case "204": // end of batch
			return msgs, len(msgs) == n, nil
		case "404": // nothing (more) on the subject
			return msgs, false, nil
		default:
			return msgs, false, fmt.Errorf("direct get: status %s %s", status, m.Header.Get("Description"))
		}
		seq, err := strconv.ParseUint(m.Header.Get(jetstream.SequenceHeader), 10, 64)
		if err != nil {
			return msgs, false, fmt.Errorf("direct get: bad sequence header: %w", err)
		}
		msgs = append(msgs, BatchMsg{Seq: seq, Subject: m.Header.Get(jetstream.SubjectHeader), Data: m.Data})
		if len(msgs) == n {
			// The stream still sends its end-of-batch status; the
			// subscription is dropped without waiting for it.
			return msgs, true, nil
		}
	}
}

// directBatch reads up to n facts on subject at or after stream sequence
// start from the subject's stream (StreamOf).
func directBatch(ctx context.Context, nc *nats.Conn, subject string, start uint64, n int) ([]Stored, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	msgs, _, err := DirectBatch(ctx, nc, StreamOf(subject), subject, start, n)
	out := make([]Stored, 0, len(msgs))
	for _, m := range msgs {
		f, derr := DecodeFact(m.Data)
		if derr != nil {
			return out, fmt.Errorf("seq %d: %w", m.Seq, derr)
		}
		out = append(out, Stored{ID: m.Seq, Fact: f})
	}
	return out, err
}

// ReadRoom returns the room's facts with after < seq, in seq order, at most
// max of them (max <= 0: all), and the room's head seq at the time of reading
// (0 if the room has no facts). It reads the log, the source of truth, so it
// sees facts no projection has applied yet.
//
// The start is found by binary search over the stream for the first fact of
// the room with seq > after: about log2(stream length) direct gets, so
// recovering the tail of a long room costs milliseconds, not a scan.
func ReadRoom(ctx context.Context, js jetstream.JetStream, evt jetstream.Stream, room string, after uint64, max int) ([]Stored, uint64, error) {
	subject := RoomSubject(room)
	head, ok, err := LastOnSubject(ctx, evt, subject)
	if err != nil || !ok || head.Seq <= after {
		return nil, head.Seq, err
	}
	start := uint64(1)
	if after > 0 {
		if start, err = firstAfter(ctx, evt, subject, after, head.ID); err != nil {
			return nil, 0, err
		}
	}
	facts, err := ReadSubject(ctx, js, subject, start, head.ID, max)
	if err != nil {
		return nil, 0, err
	}
	for i, f := range facts {
		if f.Seq != after+uint64(i)+1 {
			return nil, 0, fmt.Errorf("read room %s: seq %d where %d was due", room, f.Seq, after+uint64(i)+1)
		}
	}
	return facts, head.Seq, nil
}

// firstAfter finds the smallest stream position s in [1, hi] such that the
// first fact on subject at or after s has room seq > after. hi is the stream
// sequence of the subject's last fact, which qualifies.
func firstAfter(ctx context.Context, evt jetstream.Stream, subject string, after, hi uint64) (uint64, error) {
	lo := uint64(1)
	lagged := 0
	for lo < hi {
		mid := lo + (hi-lo)/2
		m, err := evt.GetMsg(ctx, mid, jetstream.WithGetMsgSubject(subject))
		if errors.Is(err, jetstream.ErrMsgNotFound) && WaitForReplica(ctx, &lagged) {
			continue // hi exists: this replica has not stored it yet
		}
		if err != nil {
			return 0, fmt.Errorf("seek %s at %d: %w", subject, mid, err)
		}
		s, err := DecodeStoredMsg(m)
		if err != nil {
			return 0, err
		}
		if s.Seq > after {
			hi = mid
		} else {
			lo = s.ID + 1
		}
	}
	return lo, nil
}

// ReadRoomTail returns the room's latest n facts (fewer if the room is
// younger) and its head seq.
func ReadRoomTail(ctx context.Context, js jetstream.JetStream, evt jetstream.Stream, room string, n int) ([]Stored, uint64, error) {
	head, _, err := LastOnSubject(ctx, evt, RoomSubject(room))
	if err != nil {
		return nil, 0, err
	}
	after := uint64(0)
	if head.Seq > uint64(n) {
		after = head.Seq - uint64(n)
	}
	return ReadRoom(ctx, js, evt, room, after, n)
}

// IsWrongLastSequence reports whether err is JetStream's answer to a publish
// whose expected last subject sequence was stale (10071, or 10164 on a
// replicated stream).
func IsWrongLastSequence(err error) bool {
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	return apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant
}
