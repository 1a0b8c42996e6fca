package events

import (
	"encoding/json"
	"fmt"
	"time"
)

// Facts are forever and are never rewritten; what a reader is shown of them
// is. A message.posted fact read back later (a join's backfill, a sync page)
// is shown as the message stands now: a tombstone once it was deleted, its
// current text once it was edited. The message.edited and message.deleted
// facts are still shown, in seq order, so a client that folds the events
// ends where the redacted rendering started.

// Fate is what later facts did to a message: deleted, or edited (its
// current text and when it was last edited). The zero Fate changes nothing.
type Fate struct {
	Deleted  bool
	Edited   bool
	Text     string    // the current text, if Edited
	EditedAt time.Time // the last edit, if Edited
}

// Fates maps message ids to what later facts did to them.
type Fates map[uint64]Fate

// Fold records the effect of fact s (an edit or a delete) on its message;
// other facts leave the fates alone. A delete is final: an edit after it
// does not bring the text back; an edit older than the one already known
// (from a projection ahead of the page) does not replace it.
func (fs Fates) Fold(s Stored) error {
	switch s.Type {
	case MessageEdited:
		d, err := DecodeData[MessageEditedData](s.Fact)
		if err != nil {
			return fmt.Errorf("fold seq %d: %w", s.Seq, err)
		}
		if f := fs[d.ID]; !f.Deleted && !(f.Edited && f.EditedAt.After(s.At)) {
			fs[d.ID] = Fate{Edited: true, Text: d.Text, EditedAt: s.At}
		}
	case MessageDeleted:
		d, err := DecodeData[MessageDeletedData](s.Fact)
		if err != nil {
			return fmt.Errorf("fold seq %d: %w", s.Seq, err)
		}
		fs[d.ID] = Fate{Deleted: true}
	}
	return nil
}

// Apply shows m as fate leaves it: a deleted message is a tombstone (no
// text, attachments or reactions, deleted: true), an edited one carries its
// current text.
func (f Fate) Apply(m *Message) {
	switch {
	case f.Deleted:
		m.Text, m.Deleted = "", true
		m.Attachments = []MessageAttachment{}
		m.Reactions = map[string][]string{}
	case f.Edited:
		at := f.EditedAt
		m.Text, m.EditedAt = f.Text, &at
	}
}

// ReaderEvents is the client's view of a page of room facts (in seq order)
// read back from the log: like ClientEvent for each, except that every
// message.posted is redacted by what became of its message, through the
// facts of the page after it and then later (the fates of facts beyond the
// page, e.g. from the Postgres projection; nil if the page ends at the
// room's head).
func ReaderEvents(page []Stored, later Fates) ([]EventData, error) {
	fates, err := PageFates(page, later)
	if err != nil {
		return nil, err
	}
	out := make([]EventData, len(page))
	for i, s := range page {
		ev, err := ClientEvent(s)
		if err != nil {
			return nil, err
		}
		if m, ok := ev.Data.(Message); ok {
			fates[m.ID].Apply(&m)
			ev.Data = m
		}
		out[i] = ev
	}
	return out, nil
}

// PageFates is the fate of each message of a page: later's, overridden by
// the edits and deletes within the page (which a projection may not have
// applied yet). Only the messages posted in the page are of interest, so a
// fold from the page's start is exact for them.
func PageFates(page []Stored, later Fates) (Fates, error) {
	fates := make(Fates, len(later))
	for id, f := range later {
		fates[id] = f
	}
	for _, s := range page {
		if err := fates.Fold(s); err != nil {
			return nil, err
		}
	}
	return fates, nil
}

// PostedIn lists the ids of the messages posted in a page.
func PostedIn(page []Stored) []uint64 {
	var ids []uint64
	for _, s := range page {
		if s.Type == MessagePosted {
			ids = append(ids, s.ID)
		}
	}
	return ids
}

// RedactFrame re-renders an encoded `event` frame of a message.posted (as
// EventFrame wrote it) as fate leaves the message. Frames of other facts,
// and a zero fate, come back as they are.
func RedactFrame(frame []byte, fate Fate) ([]byte, error) {
	if fate == (Fate{}) {
		return frame, nil
	}
	var f struct {
		Type string `json:"type"`
		Data struct {
			EventData
			Data json.RawMessage `json:"data"`
		} `json:"data"`
	}
	if err := json.Unmarshal(frame, &f); err != nil {
		return nil, fmt.Errorf("redact frame: %w", err)
	}
	if f.Type != "event" || f.Data.Kind != MessagePosted {
		return frame, nil
	}
	var m Message
	if err := json.Unmarshal(f.Data.Data, &m); err != nil {
		return nil, fmt.Errorf("redact frame seq %d: %w", f.Data.Seq, err)
	}
	fate.Apply(&m)
	ev := f.Data.EventData
	ev.Data = m
	return json.Marshal(ServerFrame{Type: "event", Data: ev})
}

// FrameTarget tells, from an encoded `event` frame, which message it is
// about: for a message.posted the message it creates (posted true), for an
// edit or delete the message it changes (the fact itself is returned to
// fold). Other frames answer id 0.
func FrameTarget(frame []byte) (id uint64, posted bool, change Stored, err error) {
	var f struct {
		Data struct {
			Room string          `json:"room"`
			Seq  uint64          `json:"seq"`
			ID   uint64          `json:"id"`
			Kind string          `json:"kind"`
			User string          `json:"user"`
			At   time.Time       `json:"at"`
			Data json.RawMessage `json:"data"`
		} `json:"data"`
	}
	if err := json.Unmarshal(frame, &f); err != nil {
		return 0, false, Stored{}, fmt.Errorf("frame target: %w", err)
	}
	d := f.Data
	switch d.Kind {
	case MessagePosted:
		return d.ID, true, Stored{}, nil
	case MessageEdited, MessageDeleted:
		var t struct {
			ID uint64 `json:"id"`
		}
		if err := json.Unmarshal(d.Data, &t); err != nil {
			return 0, false, Stored{}, fmt.Errorf("frame target seq %d: %w", d.Seq, err)
		}
		s := Stored{ID: d.ID, Fact: Fact{Type: d.Kind, Room: d.Room, Seq: d.Seq, User: d.User, At: d.At, Data: d.Data}}
		return t.ID, false, s, nil
	}
	return 0, false, Stored{}, nil
}
