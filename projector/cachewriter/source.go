package cachewriter

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/chillin-chat/chillin/events"
	"github.com/chillin-chat/chillin/projector/internal/logid"
)

// readBatch is how many facts one direct get request asks for.
const readBatch = 256

// readTimeout bounds one direct get request.
const readTimeout = 10 * time.Second

// Source reads facts back from CHAT_EVT for the cache: room facts only, the
// only ones that change it. It reads with batched direct gets and creates no
// consumer, so it works beside the live system without disturbing it.
type Source struct {
	JS jetstream.JetStream
	// Log receives the facts skipped as unreadable.
	Log *slog.Logger
}

// Head is the stream seq of the log's last fact (0 for an empty log).
func (s Source) Head(ctx context.Context) (uint64, error) {
	st, err := s.JS.Stream(ctx, events.EvtStream)
	if err != nil {
		return 0, fmt.Errorf("stream %s: %w", events.EvtStream, err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("stream %s: %w", events.EvtStream, err)
	}
	return info.State.LastSeq, nil
}

// LogID names the log (see the projector's logid: CHAT_EVT's creation time)
// and returns the stream seq of its last fact.
func (s Source) LogID(ctx context.Context) (string, uint64, error) {
	return logid.Current(ctx, s.JS)
}

// Read returns the room facts with from <= seq <= to in stream order, at
// most max of them, and upto: the last seq the answer covers, which is to
// unless max facts were read first. A fact that cannot be read is logged and
// left out (it is covered, and changes nothing).
func (s Source) Read(ctx context.Context, from, to uint64, max int) ([]events.Stored, uint64, error) {
	if max <= 0 {
		max = readBatch
	}
	var out []events.Stored
	for next := from; next <= to; {
		want := min(readBatch, max-len(out))
		got, more, err := s.batch(ctx, next, want)
		if err != nil {
			return nil, 0, err
		}
		for _, f := range got {
			if f.ID > to {
				return out, to, nil
			}
			next = f.ID + 1
			if f.Fact.Type == "" {
				continue // unreadable, logged
			}
			out = append(out, f)
		}
		if !more {
			return out, to, nil
		}
		if len(out) >= max {
			return out, next - 1, nil
		}
	}
	return out, to, nil
}

// batch asks for up to n room facts at or after stream seq start. more is
// false when the log holds no further room fact. An unreadable fact comes
// back with its ID and an empty Type.
func (s Source) batch(ctx context.Context, start uint64, n int) (facts []events.Stored, more bool, err error) {
	req, err := json.Marshal(struct {
		Seq   uint64 `json:"seq"`
		Next  string `json:"next_by_subj"`
		Batch int    `json:"batch"`
	}{start, events.AllRoomFacts, n})
	if err != nil {
		return nil, false, err
	}
	nc := s.JS.Conn()
	inbox := nc.NewRespInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		return nil, false, fmt.Errorf("read the log: %w", err)
	}
	defer sub.Unsubscribe()
	if err := nc.PublishRequest("$JS.API.DIRECT.GET."+events.EvtStream, inbox, req); err != nil {
		return nil, false, fmt.Errorf("read the log from %d: %w", start, err)
	}
	ctx, cancel := context.WithTimeout(ctx, readTimeout)
	defer cancel()
	for {
		m, err := sub.NextMsgWithContext(ctx)
		if err != nil {
			return nil, false, fmt.Errorf("read the log from %d: %w", start, err)
		}
		switch status := m.Header.Get("Status"); status {
		case "":
		case "204": // end of batch
			return facts, len(facts) == n, nil
		case "404": // nothing (more) on the subject
			return facts, false, nil
		default:
			return nil, false, fmt.Errorf("read the log from %d: status %s %s", start, status, m.Header.Get("Description"))
		}
		seq, err := strconv.ParseUint(m.Header.Get(jetstream.SequenceHeader), 10, 64)
		if err != nil {
			return nil, false, fmt.Errorf("read the log from %d: bad sequence header: %w", start, err)
		}
		f, err := events.DecodeFact(m.Data)
		if err != nil {
			if s.Log != nil {
				s.Log.Error("poison fact skipped", "seq", seq, "subject", m.Header.Get(jetstream.SubjectHeader), "err", err)
			}
			f = events.Fact{}
		}
		facts = append(facts, events.Stored{ID: seq, Fact: f})
		if len(facts) == n {
			// The stream still sends its end-of-batch status; the
			// subscription is dropped without waiting for it.
			return facts, true, nil
		}
	}
}
