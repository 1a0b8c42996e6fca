package audit

import (
	"context"
	"fmt"

	"github.com/chillin-chat/chillin/events"
	"github.com/nats-io/nats.go/jetstream"
)

// readChunk is how many facts Read holds in memory at a time.
const readChunk = 1024

// Read calls fn with every fact on subject (a room subject or "chat.evt.>"
// of CHAT_EVT; a user's refusals or "chat.rej.>" of CHAT_REJ) whose stream
// seq is in [from, to] (to 0: up to the stream's last fact when Read
// starts), in stream order. It stops at fn's first error and returns it.
// Facts appended while it runs after that last fact are not read, so an
// export is a snapshot of the log at one moment.
func Read(ctx context.Context, js jetstream.JetStream, subject string, from, to uint64, fn func(events.Stored) error) error {
	name := events.StreamOf(subject)
	evt, err := js.Stream(ctx, name)
	if err != nil {
		return fmt.Errorf("stream %s: %w", name, err)
	}
	var last uint64
	if subject == "chat.evt.>" || subject == events.AllRejSubjects {
		info, err := evt.Info(ctx)
		if err != nil {
			return fmt.Errorf("stream %s: %w", name, err)
		}
		last = info.State.LastSeq
	} else {
		head, ok, err := events.LastOnSubject(ctx, evt, subject)
		if err != nil {
			return err
		}
		if ok {
			last = head.ID
		}
	}
	if to != 0 && to < last {
		last = to
	}
	if from == 0 {
		from = 1
	}
	for next := from; next <= last; {
		batch, err := events.ReadSubject(ctx, js, subject, next, last, readChunk)
		if err != nil {
			return err
		}
		if len(batch) == 0 {
			return nil
		}
		for _, s := range batch {
			if err := fn(s); err != nil {
				return err
			}
		}
		next = batch[len(batch)-1].ID + 1
	}
	return nil
}
