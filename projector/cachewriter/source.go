package cachewriter

import (
	"context"
	"fmt"
	"log/slog"
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
	ctx, cancel := context.WithTimeout(ctx, readTimeout)
	defer cancel()
	msgs, more, err := events.DirectBatch(ctx, s.JS.Conn(), events.EvtStream, events.AllRoomFacts, start, n)
	if err != nil {
		return nil, false, fmt.Errorf("read the log from %d: %w", start, err)
	}
	facts = make([]events.Stored, 0, len(msgs))
	for _, m := range msgs {
		f, err := events.DecodeFact(m.Data)
		if err != nil {
			if s.Log != nil {
				s.Log.Error("poison fact skipped", "seq", m.Seq, "subject", m.Subject, "err", err)
			}
			f = events.Fact{}
		}
		facts = append(facts, events.Stored{ID: m.Seq, Fact: f})
	}
	return facts, more, nil
}
