package decide

import (
	"encoding/json"
	"time"
	"unicode/utf8"

	"github.com/chillin-chat/chillin/events"
	"github.com/chillin-chat/chillin/events/media"
	"github.com/chillin-chat/chillin/events/password"
)

// MaxClientIDBytes bounds a message's clientId.
const MaxClientIDBytes = 128

// Input is everything Decide looks at besides the room.
type Input struct {
	Cmd events.Command
	// Session is the directory's entry for Cmd.Session; SessionKnown is false
	// when the log has no such session.
	Session      Session
	SessionKnown bool
	// Target is the directory's entry for the session a session.end names
	// (SessionTarget); TargetKnown is false when the log has no such
	// session. Only DecideUser looks at them.
	Target      Session
	TargetKnown bool
	Now         time.Time
	// MaxTextRunes bounds a message's length in code points.
	MaxTextRunes int
	// Media: media storage is configured, so messages may have attachments.
	Media bool
	// Uploads holds what the caller looked up about the attachments Decide
	// asked for (Decision.Inspect), by key; nil before that.
	Uploads map[string]Upload
	// Logged holds what the caller looked up about the messages older than
	// the room's window that Decide asked for (Decision.Lookup), by id.
	Logged map[uint64]OldMessage
	// Archived holds what the caller looked up in the archive for the
	// queries Decide asked (Decision.Archive): the id of the message the
	// query's user posted in the room with its clientId, among the
	// messages up to its Through, 0 if none; nil before that.
	Archived map[ArchiveQuery]uint64
	// ReadSeq is the reader's current read position in the room (the seq of
	// their last read.marked there, 0 for none); only room.read looks at it.
	ReadSeq uint64
}

// Decision is what to do with a command. At most one of Fact, Reject,
// Resend, Upgrade, Inspect, Lookup and Archive is set; none set means the command changes
// nothing (it is acked, and a waiting gateway is told it succeeded).
type Decision struct {
	// Fact is the room fact to append, carrying seq room.Head+1.
	Fact *events.Fact
	// Reject is why the command is refused.
	Reject *events.Error
	// Resend is the id of the message.posted fact that the command repeats
	// (same user and clientId): nothing is appended, the sender gets the
	// original back.
	Resend uint64
	// RateLimit: Fact is to be appended only if the rate limiter admits the
	// command (its kind, per user; a refusal becomes RateLimited's
	// rejection). Every command that would append a fact is limited.
	RateLimit bool
	// Confirm: the decision rests on the room's state and appends nothing to
	// the room, so the caller must make sure the state is current (another
	// instance may have appended meanwhile) and decide again if it was not.
	Confirm bool
	// Upgrade: a join proved an imported room's legacy SHA-256 password.
	// The caller hashes the join's password with argon2id, appends
	// PasswordUpgrade's fact, and decides the command again (which then
	// appends the member.joined). Nothing else is set with it.
	Upgrade bool
	// Inspect lists the attachment keys of a message whose uploads the
	// caller must look up (the upload records and the objects in storage)
	// before deciding again with Input.Uploads set. Nothing else is set
	// with it.
	Inspect []string
	// Lookup is the id of a message older than the room's window that the
	// caller must look up (OldMessage) before deciding again with
	// Input.Logged set. Nothing else is set with it.
	Lookup uint64
	// Archive asks the caller to look up whether a message.send's
	// clientId is one of a message the room no longer holds the digest of,
	// before deciding again with Input.Archived set. Nothing else is set
	// with it.
	Archive *ArchiveQuery
	// Claim lists the attachment keys of Fact (a message.posted) that the
	// caller must claim for Claimant (media.Claimant), after the rate
	// limiter admitted the message and before appending it: a key already
	// claimed by another message turns the decision into
	// AttachmentTaken's rejection.
	Claim    []string
	Claimant string
}

// Decide decides one command against the room's current state. The checks
// run in the protocol's order: session; room and membership; for a message,
// resend, text, reply target and attachments (the rate limit is last, done by
// the caller when RateLimit is set).
func Decide(r *Room, in Input) Decision {
	d := decide(r, in)
	d.RateLimit = d.Fact != nil
	return d
}

func decide(r *Room, in Input) Decision {
	cmd := in.Cmd
	if e := CheckSession(in.Session, in.SessionKnown, cmd.User, in.Now); e != nil {
		return reject(e)
	}
	if r.ID != cmd.Room {
		return reject(events.Errorf(events.CodeInternal, "command for room %q decided against room %q", cmd.Room, r.ID))
	}
	switch cmd.Type {
	case events.CmdMessageSend:
		return decideSend(r, in)
	case events.CmdMessageEdit:
		return decideEdit(r, in)
	case events.CmdMessageDelete:
		return decideDelete(r, in)
	case events.CmdReactionAdd, events.CmdReactionRemove:
		return decideReaction(r, in)
	case events.CmdRoomJoin:
		return decideJoin(r, in)
	case events.CmdRoomLeave:
		return decideLeave(r, in)
	case events.CmdRoomCreate:
		return decideCreate(r, in)
	case events.CmdRoomRead:
		return decideRead(r, in)
	}
	return reject(events.Errorf(events.CodeBadRequest, "unknown command %q", cmd.Type))
}

func decideSend(r *Room, in Input) Decision {
	p, d, ok := payload[events.MessageSend](in.Cmd)
	if !ok {
		return d
	}
	if p.ClientID == "" || len(p.ClientID) > MaxClientIDBytes {
		return reject(events.Errorf(events.CodeBadRequest, "clientId must be 1 to %d bytes", MaxClientIDBytes))
	}
	if e := roomMember(r, in.Cmd.User); e != nil {
		return reject(e)
	}
	if id, ok := r.PostedBy(in.Cmd.User, p.ClientID); ok {
		return Decision{Resend: id}
	}
	if q, ok := r.archiveQuery(in.Cmd.User, p.ClientID); ok {
		id, answered := in.Archived[q]
		if !answered {
			return Decision{Archive: &q}
		}
		if id != 0 && id <= q.Through {
			return Decision{Resend: id}
		}
	}
	// A message with attachments may have no text at all.
	if p.Text != "" || len(p.Attachments) == 0 {
		if e := checkPayloadText(in, p.Text); e != nil {
			return reject(e)
		}
	}
	if p.ReplyTo != 0 {
		_, _, ok, lookup := findMessage(r, in, p.ReplyTo)
		if lookup {
			return Decision{Lookup: p.ReplyTo}
		}
		if !ok {
			return reject(events.Errorf(events.CodeNoSuchMessage, "no message %d in room %s to reply to", p.ReplyTo, r.ID))
		}
	}
	var atts []events.Attachment
	if len(p.Attachments) > 0 {
		var e *events.Error
		if atts, e = attachmentsOf(in, p); e != nil {
			return reject(e)
		}
		if atts == nil {
			keys := make([]string, len(p.Attachments))
			for i, a := range p.Attachments {
				keys[i] = a.Key
			}
			return Decision{Inspect: keys}
		}
	}
	d = appendFact(r, in, events.MessagePosted, events.MessagePostedData{Text: p.Text, ClientID: p.ClientID, Attachments: atts, ReplyTo: p.ReplyTo})
	if d.Fact != nil && len(atts) > 0 {
		d.Claimant = media.Claimant(in.Cmd.Room, in.Cmd.User, p.ClientID)
		for _, a := range atts {
			d.Claim = append(d.Claim, a.Key)
		}
	}
	return d
}

func decideEdit(r *Room, in Input) Decision {
	p, d, ok := payload[events.MessageEdit](in.Cmd)
	if !ok {
		return d
	}
	if d, done := ownMessage(r, in, p.ID); done {
		return d
	}
	if e := checkPayloadText(in, p.Text); e != nil {
		return reject(e)
	}
	return appendFact(r, in, events.MessageEdited, events.MessageEditedData{ID: p.ID, Text: p.Text})
}

func decideDelete(r *Room, in Input) Decision {
	p, d, ok := payload[events.MessageDelete](in.Cmd)
	if !ok {
		return d
	}
	if d, done := ownMessage(r, in, p.ID); done {
		return d
	}
	return appendFact(r, in, events.MessageDeleted, events.MessageDeletedData{ID: p.ID})
}

func decideReaction(r *Room, in Input) Decision {
	p, d, ok := payload[events.ReactionChange](in.Cmd)
	if !ok {
		return d
	}
	_, old, d, done := liveMessage(r, in, p.ID)
	if done {
		return d
	}
	if e := events.CheckEmoji(p.Emoji); e != nil {
		return reject(e)
	}
	reacted, emojis := r.Reacted, r.Emojis
	if old != nil {
		reacted, emojis = old.reacted, old.emojis
	}
	has := reacted(p.ID, Reaction{in.Cmd.User, p.Emoji})
	data := events.ReactionData{ID: p.ID, Emoji: p.Emoji}
	switch {
	case in.Cmd.Type == events.CmdReactionAdd && !has:
		// Only adding checks the emoji set: a reaction recorded before the
		// rule can still be taken back.
		if e := CheckEmoji(p.Emoji); e != nil {
			return reject(e)
		}
		if n, on := emojis(p.ID, p.Emoji); !on && n >= MaxReactionEmojis {
			return reject(events.Errorf(events.CodeTooManyReactions, "message %d carries %d different emoji, the most it may", p.ID, MaxReactionEmojis))
		}
		return appendFact(r, in, events.ReactionAdded, data)
	case in.Cmd.Type == events.CmdReactionRemove && has:
		return appendFact(r, in, events.ReactionRemoved, data)
	}
	return Decision{Confirm: true}
}

func decideJoin(r *Room, in Input) Decision {
	p, d, ok := payload[events.RoomJoin](in.Cmd)
	if !ok {
		return d
	}
	if !r.Exists {
		return reject(noSuchRoom(r))
	}
	if r.IsMember(in.Cmd.User) {
		return Decision{Confirm: true}
	}
	if r.IsPrivate && r.PasswordHash == "" && p.Password != "" && verifyLegacy(r.LegacySHA256, p.Password) {
		return Decision{Upgrade: true}
	}
	if r.IsPrivate && (p.Password == "" || !verifyPassword(r.PasswordHash, p.Password)) {
		return reject(events.Errorf(events.CodeWrongPassword, "wrong password for room %s", r.ID))
	}
	return appendFact(r, in, events.MemberJoined, events.MemberJoinedData{})
}

func decideLeave(r *Room, in Input) Decision {
	if _, d, ok := payload[events.RoomLeave](in.Cmd); !ok {
		return d
	}
	if !r.Exists {
		return reject(noSuchRoom(r))
	}
	if !r.IsMember(in.Cmd.User) {
		return Decision{Confirm: true}
	}
	return appendFact(r, in, events.MemberLeft, events.MemberLeftData{})
}

// decideCreate creates the room if it has no fact yet. The room.created
// fact is appended with the room's expected last sequence 0, so of two
// creators deciding at once (on two instances, say) one wins and the other,
// deciding again on the reloaded room, is told ROOM_EXISTS.
func decideCreate(r *Room, in Input) Decision {
	p, d, ok := payload[events.RoomCreate](in.Cmd)
	if !ok {
		return d
	}
	if e := p.Check(r.ID); e != nil {
		return reject(e)
	}
	if r.Head > 0 {
		// Facts are forever: a room that has one exists for good.
		return reject(events.Errorf(events.CodeRoomExists, "a room with that name exists"))
	}
	return appendFact(r, in, events.RoomCreated, events.RoomCreatedData{
		Name: p.Name, Description: p.Description, IsPrivate: p.IsPrivate, PasswordHash: p.PasswordHash,
	})
}

// verifyPassword checks a room password against the room's argon2id PHC
// string, in constant time. A malformed hash never verifies.
func verifyPassword(phc, pw string) bool {
	ok, err := password.Verify(pw, phc)
	return err == nil && ok
}

// RateLimited is the rejection of a command of type cmdType the rate
// limiter refused.
func RateLimited(cmdType string, retryAfter time.Duration) *events.Error {
	ms := retryAfter.Milliseconds()
	if ms < 1 {
		ms = 1
	}
	e := events.Errorf(events.CodeRateLimited, "too many %s; retry in %d ms", limitedWhat(cmdType), ms)
	e.RetryAfterMs = ms
	return e
}

// limitedWhat names what a command type does, for RateLimited's message.
func limitedWhat(cmdType string) string {
	switch cmdType {
	case events.CmdMessageEdit:
		return "edits"
	case events.CmdMessageDelete:
		return "deletions"
	case events.CmdReactionAdd, events.CmdReactionRemove:
		return "reactions"
	case events.CmdRoomJoin, events.CmdRoomLeave:
		return "joins and leaves"
	}
	return "messages"
}

// Rejection is the command.rejected fact recording that cmd was refused with
// e, for the sender's rejection subject.
func Rejection(cmd events.Command, e *events.Error, now time.Time) (events.Fact, error) {
	d := events.CommandRejectedData{
		Command: cmd.Type, Room: cmd.Room, Ref: cmd.Ref, Conn: cmd.Conn,
		Code: e.Code, Message: e.Message, RetryAfterMs: e.RetryAfterMs,
	}
	if cmd.Type == events.CmdMessageSend {
		var p events.MessageSend
		if json.Unmarshal(cmd.Data, &p) == nil {
			d.ClientID = p.ClientID
		}
	}
	return events.NewFact(events.CommandRejected, "", 0, cmd.User, cmd.ID, now, d)
}

// DependsOnRoom reports whether a rejection code rests on the room's state,
// so that a stale state could have caused it.
func DependsOnRoom(code string) bool {
	switch code {
	case events.CodeNoSuchRoom, events.CodeNotMember, events.CodeNotOwner,
		events.CodeNoSuchMessage, events.CodeWrongPassword, events.CodeTooManyReactions:
		return true
	}
	return false
}

func reject(e *events.Error) Decision {
	return Decision{Reject: e, Confirm: DependsOnRoom(e.Code)}
}

func payload[T any](cmd events.Command) (T, Decision, bool) {
	var p T
	if len(cmd.Data) == 0 {
		return p, Decision{}, true
	}
	if err := json.Unmarshal(cmd.Data, &p); err != nil {
		return p, reject(events.Errorf(events.CodeBadRequest, "malformed %s payload", cmd.Type)), false
	}
	return p, Decision{}, true
}

// checkPayloadText applies the text rules to a command's text. Decoding JSON
// replaces invalid UTF-8 with U+FFFD, so the raw payload is checked first:
// text sent as invalid UTF-8 is refused, not silently rewritten.
func checkPayloadText(in Input, text string) *events.Error {
	if !utf8.Valid(in.Cmd.Data) {
		return events.Errorf(events.CodeInvalidContent, "text is not valid UTF-8")
	}
	return events.CheckText(text, in.MaxTextRunes)
}

func appendFact(r *Room, in Input, typ string, data any) Decision {
	f, err := events.NewFact(typ, r.ID, r.Head+1, in.Cmd.User, in.Cmd.ID, in.Now, data)
	if err != nil {
		// The payloads are plain structs: encoding them cannot fail, but if it
		// ever did the user is told without seeing the internal error.
		return Decision{Reject: events.Errorf(events.CodeInternal, "could not record the %s", typ)}
	}
	return Decision{Fact: &f}
}

func noSuchRoom(r *Room) *events.Error {
	return events.Errorf(events.CodeNoSuchRoom, "no room %q", r.ID)
}

func roomMember(r *Room, user string) *events.Error {
	if !r.Exists {
		return noSuchRoom(r)
	}
	if !r.IsMember(user) {
		return events.Errorf(events.CodeNotMember, "not a member of room %s", r.ID)
	}
	return nil
}

// findMessage returns message id of the room, deleted or not, and, for one
// older than the room's window, what was looked up about it. lookup is set
// when only a lookup can tell: the id is older than the room's window and
// in.Logged does not say, as of the room's last fact.
func findMessage(r *Room, in Input, id uint64) (m Message, old *OldMessage, ok, lookup bool) {
	if m, ok := r.Message(id); ok {
		return m, nil, true, false
	}
	if !r.Old(id) {
		return Message{}, nil, false, false
	}
	lm, logged := in.Logged[id]
	switch {
	case !logged || lm.AsOf != r.LastID:
		return Message{}, nil, false, true
	case lm.Author == "":
		return Message{}, nil, false, false
	}
	return Message{Author: lm.Author, Deleted: lm.Deleted}, &lm, true, false
}

// liveMessage checks room, membership and that message id exists in the room
// and is not deleted. done is set with the decision when the command goes no
// further: refused, or the message is to be looked up first.
func liveMessage(r *Room, in Input, id uint64) (Message, *OldMessage, Decision, bool) {
	if e := roomMember(r, in.Cmd.User); e != nil {
		return Message{}, nil, reject(e), true
	}
	m, old, ok, lookup := findMessage(r, in, id)
	if lookup {
		return Message{}, nil, Decision{Lookup: id}, true
	}
	if !ok || m.Deleted {
		return Message{}, nil, reject(events.Errorf(events.CodeNoSuchMessage, "no message %d in room %s", id, r.ID)), true
	}
	return m, old, Decision{}, false
}

// ownMessage is liveMessage plus: the command's user wrote it.
func ownMessage(r *Room, in Input, id uint64) (Decision, bool) {
	m, _, d, done := liveMessage(r, in, id)
	if done {
		return d, true
	}
	if m.Author != in.Cmd.User {
		return reject(events.Errorf(events.CodeNotOwner, "message %d was written by someone else", id)), true
	}
	return Decision{}, false
}
