package cache

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/chillin-chat/chillin/events"
)

// Op kinds: the first of an op's fields, telling the apply script what the
// fact does.
const (
	opCreated  = "c"  // room.created: name, description, private
	opJoined   = "j"  // member.joined
	opLeft     = "l"  // member.left
	opPosted   = "p"  // message.posted: text, clientId, attachments JSON, replyTo
	opEdited   = "e"  // message.edited: message id, text
	opDeleted  = "d"  // message.deleted: message id
	opReactAdd = "ra" // reaction.added: message id, emoji
	opReactDel = "rr" // reaction.removed: message id, emoji
	opHead     = "h"  // any other room fact: only the room's head moves
)

// opFields is how many script arguments one op takes: kind, fact id, room,
// room seq, actor, time (µs), and four that depend on the kind.
const opFields = 10

// Skip is a fact left out because its payload cannot be read.
type Skip struct {
	Seq  uint64
	Type string
	Err  error
}

// Plan is what a run of facts does to the cache: the apply script's fact
// arguments, opFields per room fact, in log order, and the facts skipped as
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
func fold(f events.Stored) ([opFields]any, error) {
	op := [opFields]any{opHead, strconv.FormatUint(f.ID, 10), f.Room, strconv.FormatUint(f.Seq, 10), f.User, micros(f), "", "", "", ""}
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
		op[0], op[6], op[7], op[8] = opCreated, d.Name, d.Description, private

	case events.MemberJoined:
		op[0] = opJoined

	case events.MemberLeft:
		op[0] = opLeft

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
		op[0], op[6], op[7], op[8], op[9] = opPosted, d.Text, d.ClientID, string(b), reply

	case events.MessageEdited:
		d, err := events.DecodeData[events.MessageEditedData](f.Fact)
		if err != nil {
			return op, err
		}
		op[0], op[6], op[7] = opEdited, strconv.FormatUint(d.ID, 10), d.Text

	case events.MessageDeleted:
		d, err := events.DecodeData[events.MessageDeletedData](f.Fact)
		if err != nil {
			return op, err
		}
		op[0], op[6] = opDeleted, strconv.FormatUint(d.ID, 10)

	case events.ReactionAdded, events.ReactionRemoved:
		d, err := events.DecodeData[events.ReactionData](f.Fact)
		if err != nil {
			return op, err
		}
		op[0] = opReactAdd
		if f.Type == events.ReactionRemoved {
			op[0] = opReactDel
		}
		op[6], op[7] = strconv.FormatUint(d.ID, 10), d.Emoji
	}
	return op, nil
}
