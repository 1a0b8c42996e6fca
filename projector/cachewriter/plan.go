package cachewriter

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/chillin-chat/chillin/events"
	"github.com/chillin-chat/chillin/events/cachelayout"
)

// Skip is a fact left out because its payload cannot be read.
type Skip struct {
	Seq  uint64
	Type string
	Err  error
}

// Plan is what a run of facts does to the cache: the apply script's fact
// arguments, cachelayout.OpFields per room fact, in log order, and the facts skipped as
// unreadable. Facts that are not room facts change nothing and have no op.
type Plan struct {
	Args    []any
	Ops     int
	Skipped []Skip
}

// MakePlan folds facts, in stream order, into the apply script's arguments.
// It does no I/O.
func MakePlan(facts []events.Stored) Plan {
	var p Plan
	for _, f := range facts {
		if !events.IsRoomFact(f.Type) {
			continue
		}
		op, err := fold(f)
		if err != nil {
			p.Skipped = append(p.Skipped, Skip{Seq: f.ID, Type: f.Type, Err: err})
			continue
		}
		p.Args = append(p.Args, op[:]...)
		p.Ops++
	}
	return p
}

// micros is a time as the cache keeps it: microseconds since 1970, the
// precision of a Postgres timestamptz.
func micros(f events.Stored) string { return strconv.FormatInt(f.At.UnixMicro(), 10) }

// fold is the op of one room fact.
func fold(f events.Stored) ([cachelayout.OpFields]any, error) {
	op := [cachelayout.OpFields]any{cachelayout.OpHead, strconv.FormatUint(f.ID, 10), f.Room, strconv.FormatUint(f.Seq, 10), f.User, micros(f), "", "", "", ""}
	if f.Room == "" || f.Seq == 0 {
		return op, fmt.Errorf("room fact without room or seq")
	}
	switch f.Type {
	case events.RoomCreated:
		d, err := events.DecodeData[events.RoomCreatedData](f.Fact)
		if err != nil {
			return op, err
		}
		private := "0"
		if d.IsPrivate {
			private = "1"
		}
		op[0], op[6], op[7], op[8] = cachelayout.OpCreated, d.Name, d.Description, private

	case events.MemberJoined:
		op[0] = cachelayout.OpJoined

	case events.MemberLeft:
		op[0] = cachelayout.OpLeft

	case events.MessagePosted:
		d, err := events.DecodeData[events.MessagePostedData](f.Fact)
		if err != nil {
			return op, err
		}
		atts := d.Attachments
		if atts == nil {
			atts = []events.Attachment{}
		}
		b, err := json.Marshal(atts)
		if err != nil {
			return op, fmt.Errorf("encode attachments: %w", err)
		}
		reply := ""
		if d.ReplyTo != 0 {
			reply = strconv.FormatUint(d.ReplyTo, 10)
		}
		op[0], op[6], op[7], op[8], op[9] = cachelayout.OpPosted, d.Text, d.ClientID, string(b), reply

	case events.MessageEdited:
		d, err := events.DecodeData[events.MessageEditedData](f.Fact)
		if err != nil {
			return op, err
		}
		op[0], op[6], op[7] = cachelayout.OpEdited, strconv.FormatUint(d.ID, 10), d.Text

	case events.MessageDeleted:
		d, err := events.DecodeData[events.MessageDeletedData](f.Fact)
		if err != nil {
			return op, err
		}
		op[0], op[6] = cachelayout.OpDeleted, strconv.FormatUint(d.ID, 10)

	case events.ReactionAdded, events.ReactionRemoved:
		d, err := events.DecodeData[events.ReactionData](f.Fact)
		if err != nil {
			return op, err
		}
		op[0] = cachelayout.OpReactAdd
		if f.Type == events.ReactionRemoved {
			op[0] = cachelayout.OpReactDel
		}
		op[6], op[7] = strconv.FormatUint(d.ID, 10), d.Emoji
	}
	return op, nil
}
