package events

import (
	"encoding/json"
	"fmt"
	"time"
)

// Command types: what a user asks for. The gateway stamps each with the
// authenticated user and session; the validator decides it.
const (
	CmdMessageSend    = "message.send"
	CmdMessageEdit    = "message.edit"
	CmdMessageDelete  = "message.delete"
	CmdReactionAdd    = "reaction.add"
	CmdReactionRemove = "reaction.remove"
	CmdRoomJoin       = "room.join"
	CmdRoomLeave      = "room.leave"
)

// Command is one request on CHAT_CMD. ID is unique per attempt (the gateway
// draws it for every frame it receives) and is published as Nats-Msg-Id;
// idempotency across resends comes from the payload (a message's clientId),
// not from ID.
type Command struct {
	Type    string    `json:"type"`
	V       int       `json:"v"`
	ID      string    `json:"id"`
	User    string    `json:"user"`
	Session string    `json:"session"`
	Room    string    `json:"room,omitempty"`
	Conn    string    `json:"conn,omitempty"`  // gateway connection that sent it, for routing the answer
	Ref     string    `json:"ref,omitempty"`   // client's frame ref, echoed in rejections
	Reply   string    `json:"reply,omitempty"` // core NATS subject for the command's Outcome
	At      time.Time `json:"at"`
	// Deadline, if set, is when the command stops being decided: a
	// validator that reaches it later drops it, and drops its fact if the
	// deadline passes before the fact is written. Its gateway can then
	// answer, once the deadline and AnswerGrace have passed, that it was
	// not decided and never will be.
	Deadline time.Time       `json:"deadline,omitzero"`
	Data     json.RawMessage `json:"data"`
}

// Command payloads, version 1.
type (
	MessageSend struct {
		Text        string       `json:"text"`
		ClientID    string       `json:"clientId"`
		Attachments []Attachment `json:"attachments,omitempty"`
		ReplyTo     uint64       `json:"replyTo,omitempty"`
	}
	MessageEdit struct {
		ID   uint64 `json:"id"`
		Text string `json:"text"`
	}
	MessageDelete struct {
		ID uint64 `json:"id"`
	}
	ReactionChange struct {
		ID    uint64 `json:"id"`
		Emoji string `json:"emoji"`
	}
	RoomJoin struct {
		Password string `json:"password,omitempty"`
	}
	RoomLeave struct{}
)

// Attachment references an object in media storage.
type Attachment struct {
	Key         string `json:"key"`
	Name        string `json:"name"`
	ContentType string `json:"contentType"`
	Size        int64  `json:"size"`
}

// CommandLifetime is how long a gateway gives a command to be decided: its
// Deadline is this long after the gateway received it.
const CommandLifetime = 15 * time.Second

// AnswerGrace is how long after a command's deadline its gateway waits for
// an outcome before answering for it. It covers a fact whose write began
// just before the deadline (a validator's write gives up after 5 s) and
// clocks of gateways and validators that disagree by a few seconds.
const AnswerGrace = 15 * time.Second

// Expired reports whether the command's deadline has passed at now.
func (c Command) Expired(now time.Time) bool {
	return !c.Deadline.IsZero() && now.After(c.Deadline)
}

// NewCommand builds a version-1 command with an encoded payload.
func NewCommand(typ, id, user, session, room string, at time.Time, data any) (Command, error) {
	raw, err := json.Marshal(data)
	if err != nil {
		return Command{}, fmt.Errorf("encode %s: %w", typ, err)
	}
	return Command{Type: typ, V: 1, ID: id, User: user, Session: session, Room: room, At: at.UTC(), Data: raw}, nil
}

// DecodeCommand parses a command and checks its envelope.
func DecodeCommand(b []byte) (Command, error) {
	var c Command
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("decode command: %w", err)
	}
	switch {
	case c.Type == "":
		return c, fmt.Errorf("decode command: missing type")
	case c.V != 1:
		return c, fmt.Errorf("decode command %s: unknown version %d", c.Type, c.V)
	case c.ID == "" || c.User == "":
		return c, fmt.Errorf("decode command %s: missing id or user", c.Type)
	}
	return c, nil
}

// Outcome is what a validator publishes on a command's Reply subject once the
// command is decided and its facts are in the log. It is a courtesy to the
// waiting gateway (core NATS, at most once); the log stays the truth.
type Outcome struct {
	Cmd string `json:"cmd"`
	// Expired says the command was dropped undecided: its deadline had
	// passed. Nothing of it is in the log, nor ever will be.
	Expired bool   `json:"expired,omitempty"`
	Error   *Error `json:"error,omitempty"`
	HeadSeq uint64 `json:"headSeq"`
	// Frame is set when a resent message was recognised: the client frame of
	// the original message.posted fact, to be returned to the sender.
	Frame json.RawMessage `json:"frame,omitempty"`
}
