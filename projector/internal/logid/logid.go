// Package logid names a log, so that a projection can tell the log it was
// built from. A log is CHAT_EVT as created once: deleting the stream (or
// its store) and creating it again starts another log, whose sequence
// numbers start over and mean other facts. Its name is the stream's
// creation time, which JetStream keeps with the stream across restarts and
// on every node of a cluster, and which NATS itself uses to tell a recreated
// stream from the one before.
package logid

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/chillin-chat/chillin/events"
)

// Of names the log of a stream's info: its creation time, UTC, in RFC 3339
// with nanoseconds.
func Of(info *jetstream.StreamInfo) string {
	return info.Created.UTC().Format(time.RFC3339Nano)
}

// Current names the log of CHAT_EVT and returns its last stream seq.
func Current(ctx context.Context, js jetstream.JetStream) (id string, last uint64, err error) {
	s, err := js.Stream(ctx, events.EvtStream)
	if err != nil {
		return "", 0, fmt.Errorf("stream %s: %w", events.EvtStream, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		return "", 0, fmt.Errorf("stream %s: %w", events.EvtStream, err)
	}
	return Of(info), info.State.LastSeq, nil
}
