package hub

import (
	"errors"
	"slices"

	"github.com/chillin-chat/chillin/events"
)

// Frames: a fact encoded once as a client frame, and a backfill's frames
// redacted to show messages as they stand.

type frame struct {
	seq uint64
	b   []byte
	// What the frame does to a message, for redacting a backfill: msg is
	// the message a message.posted creates; change an edit or delete.
	msg    uint64
	change *events.Stored
}

// factFrame is the frame of a fact read from the log.
func factFrame(f events.Stored) (frame, error) {
	b, err := events.EventFrame(f)
	if err != nil {
		return frame{}, err
	}
	fr := frame{seq: f.Seq, b: b}
	switch f.Type {
	case events.MessagePosted:
		fr.msg = f.ID
	case events.MessageEdited, events.MessageDeleted:
		fr.change = &f
	}
	return fr, nil
}

// liveFrame is the frame of a live payload.
func (h *Hub) liveFrame(room string, seq uint64, b []byte) frame {
	fr := frame{seq: seq, b: b}
	id, posted, change, err := events.FrameTarget(b)
	switch {
	case err != nil:
		h.lg.Warn("live frame unreadable; a later join shows it as is", "room", room, "seq", seq, "err", err)
	case posted:
		fr.msg = id
	case id != 0:
		fr.change = &change
	}
	return fr
}

// redacted returns a backfill's frames, which end at the room's head as it
// stood, with every message.posted shown as the frames after it leave the
// message (a tombstone once deleted, the current text once edited). The
// frames themselves are left as they are.
func redacted(frames []frame) ([]frame, error) {
	fates := events.Fates{}
	for _, f := range frames {
		if f.change != nil {
			if err := fates.Fold(*f.change); err != nil {
				return nil, err
			}
		}
	}
	return redactedBy(frames, fates)
}

// redactedBy returns frames with every message.posted shown as fates leave
// the message.
func redactedBy(frames []frame, fates events.Fates) ([]frame, error) {
	if len(fates) == 0 {
		return frames, nil
	}
	out := slices.Clone(frames)
	for i, f := range out {
		fate, ok := fates[f.msg]
		if f.msg == 0 || !ok {
			continue
		}
		b, err := events.RedactFrame(f.b, fate)
		if err != nil {
			return nil, err
		}
		out[i].b = b
	}
	return out, nil
}

func encodeFacts(facts []events.Stored) ([]frame, error) {
	frames := make([]frame, len(facts))
	for i, f := range facts {
		fr, err := factFrame(f)
		if err != nil {
			return nil, err
		}
		frames[i] = fr
	}
	return frames, nil
}

func sendFacts(s Subscriber, facts []events.Stored) error {
	frames, err := encodeFacts(facts)
	if err != nil {
		return err
	}
	for _, f := range frames {
		if !s.SendWait(f.b) {
			return errClosed
		}
	}
	return nil
}

// errClosed is returned when a subscriber closes during its backfill.
var errClosed = errors.New("hub: subscriber closed")
