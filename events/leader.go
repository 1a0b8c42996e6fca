package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"
)

// Reads from the stream leader. A direct get (what jetstream.Stream's
// GetMsg and GetLastMsgForSubject use on a stream that allows them, and
// ReadSubject) may be answered by any replica of an R3 stream, one that has
// not yet applied a write the leader already acknowledged. A decision that
// must see its own writes (a session started right after its account was
// registered) reads from the leader instead: the stream's message API,
// which only the leader answers.

// errNoMessage is JetStream's "no message found" (error code 10037).
const errNoMessage = 10037

// LeaderLastSeq returns the stream sequence of the last fact on subject, as
// its stream's leader knows it; 0 if there is none.
func LeaderLastSeq(ctx context.Context, nc *nats.Conn, subject string) (uint64, error) {
	s, ok, err := leaderGet(ctx, nc, subject, map[string]any{"last_by_subj": subject})
	if err != nil || !ok {
		return 0, err
	}
	return s.ID, nil
}

// LeaderLast returns the last fact on subject, as its stream's leader knows
// it; ok is false if there is none.
func LeaderLast(ctx context.Context, nc *nats.Conn, subject string) (s Stored, ok bool, err error) {
	return leaderGet(ctx, nc, subject, map[string]any{"last_by_subj": subject})
}

// LeaderReadSubject reads the facts on subject with stream sequence from
// start to last (inclusive) from its stream's leader, one request per fact:
// for subjects of few facts (a user's).
func LeaderReadSubject(ctx context.Context, nc *nats.Conn, subject string, start, last uint64) ([]Stored, error) {
	var out []Stored
	for next := max(start, 1); next <= last; {
		s, ok, err := leaderGet(ctx, nc, subject, map[string]any{"seq": next, "next_by_subj": subject})
		if err != nil {
			return nil, err
		}
		if !ok || s.ID > last {
			break
		}
		out = append(out, s)
		next = s.ID + 1
	}
	return out, nil
}

// leaderGet asks subject's stream leader for one message; ok is false when
// there is none.
func leaderGet(ctx context.Context, nc *nats.Conn, subject string, req map[string]any) (Stored, bool, error) {
	b, err := json.Marshal(req)
	if err != nil {
		return Stored{}, false, err
	}
	m, err := nc.RequestWithContext(ctx, "$JS.API.STREAM.MSG.GET."+StreamOf(subject), b)
	if err != nil {
		return Stored{}, false, fmt.Errorf("read %s from the stream leader: %w", subject, err)
	}
	var resp struct {
		Error *struct {
			ErrCode     int    `json:"err_code"`
			Description string `json:"description"`
		} `json:"error"`
		Message *struct {
			Seq  uint64 `json:"seq"`
			Data []byte `json:"data"`
		} `json:"message"`
	}
	if err := json.Unmarshal(m.Data, &resp); err != nil {
		return Stored{}, false, fmt.Errorf("read %s from the stream leader: %w", subject, err)
	}
	switch {
	case resp.Error != nil && resp.Error.ErrCode == errNoMessage:
		return Stored{}, false, nil
	case resp.Error != nil:
		return Stored{}, false, fmt.Errorf("read %s from the stream leader: %s", subject, resp.Error.Description)
	case resp.Message == nil:
		return Stored{}, false, errors.New("read " + subject + " from the stream leader: empty answer")
	}
	f, err := DecodeFact(resp.Message.Data)
	if err != nil {
		return Stored{}, false, fmt.Errorf("seq %d: %w", resp.Message.Seq, err)
	}
	return Stored{ID: resp.Message.Seq, Fact: f}, true, nil
}
