package events

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/chillin-chat/chillin/events/password"
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
	// CmdRoomRead moves the user's read position in a room forward
	// (read.marked). Gateways send it coalesced, never one per frame.
	CmdRoomRead = "room.read"
)

// Command types of the REST API, answered by the validator like the others:
// the gateway only asks, and the facts they cause are appended by the
// validator. Room creation goes on the room's command subject, the others
// on the user's (UserCmdSubject).
const (
	// CmdRoomCreate creates a room (room.created) if no room has its id.
	CmdRoomCreate = "room.create"
	// CmdUserRegister takes a username (user.registered) if it was never
	// taken. The command's user is the username; it has no session.
	CmdUserRegister = "user.register"
	// CmdUserUpgradePassword replaces an imported user's legacy credential
	// with an argon2id hash (user.password_upgraded), at the login that
	// proved it. It has no session.
	CmdUserUpgradePassword = "user.upgrade_password"
	// CmdUserSetAvatar sets the user's avatar (user.avatar_changed).
	CmdUserSetAvatar = "user.set_avatar"
	// CmdSessionStart records a session of the user (session.started), at
	// the login or registration that proved the user's password. The
	// command's session is the new one.
	CmdSessionStart = "session.start"
	// CmdSessionRefresh moves the recorded expiry of the command's session
	// forward (session.refreshed).
	CmdSessionRefresh = "session.refresh"
	// CmdSessionEnd revokes a session of the user (session.revoked): the
	// command's own or, for "log out everywhere", another of the same user.
	CmdSessionEnd = "session.end"
)

// IsUserCommand reports whether typ is a command about a user rather than
// a room: appended on UserCmdSubject, decided against the user's facts.
func IsUserCommand(typ string) bool {
	switch typ {
	case CmdUserRegister, CmdUserUpgradePassword, CmdUserSetAvatar,
		CmdSessionStart, CmdSessionRefresh, CmdSessionEnd:
		return true
	}
	return false
}

// CommandSubject is the CHAT_CMD subject of cmd: its user's for a user
// command, its room's for the others. It is "" when the id that would go
// into the subject is not a valid one, so that no client value can form a
// subject.
func CommandSubject(cmd Command) string {
	if IsUserCommand(cmd.Type) {
		if !ValidUsername(cmd.User) {
			return ""
		}
		return UserCmdSubject(cmd.User)
	}
	if !ValidRoomID(cmd.Room) {
		return ""
	}
	return RoomCmdSubject(cmd.Room)
}

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
	// RoomRead is the room seq the user has read up to.
	RoomRead struct {
		Seq uint64 `json:"seq"`
	}

	// RoomCreate is a room as its creator asks for it. PasswordHash is the
	// argon2id hash of a private room's password, computed by the gateway.
	RoomCreate struct {
		Name         string `json:"name"`
		Description  string `json:"description,omitempty"`
		IsPrivate    bool   `json:"isPrivate,omitempty"`
		PasswordHash string `json:"passwordHash,omitempty"`
	}
	// UserRegister is a registration; the username is the command's user.
	UserRegister struct {
		DisplayName  string `json:"displayName"`
		PasswordHash string `json:"passwordHash"`
	}
	// UserUpgradePassword carries the argon2id hash of the password that
	// matched an imported user's legacy credential.
	UserUpgradePassword struct {
		PasswordHash string `json:"passwordHash"`
	}
	// UserSetAvatar names the avatar upload (an object key in media storage).
	UserSetAvatar struct {
		Key string `json:"key"`
	}
	// SessionStart and SessionRefresh carry the session's expiry, as the
	// gateway's session policy sets it.
	SessionStart struct {
		ExpiresAt time.Time `json:"expiresAt"`
	}
	SessionRefresh struct {
		ExpiresAt time.Time `json:"expiresAt"`
	}
	// SessionEnd names the session to revoke (hex SHA-256 of its token).
	SessionEnd struct {
		Session string `json:"session"`
	}
)

// Bounds of the names a person gives, in code points.
const (
	MaxDisplayName     = 64
	MaxRoomName        = 100
	MaxRoomDescription = 500
)

// Check validates a room creation for the room id it is appended for: a
// name that is a valid name and gives that id, a valid description, and a
// well-formed argon2id hash exactly when the room is private.
func (p RoomCreate) Check(room string) *Error {
	if e := CheckName("name", p.Name, MaxRoomName); e != nil {
		e.Code = CodeInvalidRoomName
		return e
	}
	if room == "" || RoomIDFromName(p.Name) != room {
		return Errorf(CodeInvalidRoomName, "the room name %q does not give the room id %q", p.Name, room)
	}
	if e := CheckName("description", p.Description, MaxRoomDescription); e != nil {
		return e
	}
	if p.IsPrivate != (p.PasswordHash != "") {
		return Errorf(CodeInvalidPassword, "a room has a password exactly when it is private")
	}
	if p.PasswordHash != "" && !password.WellFormed(p.PasswordHash) {
		return Errorf(CodeInvalidPassword, "the room password hash is not an argon2id hash")
	}
	return nil
}

// Check validates a registration: a display name (not blank) and a
// well-formed argon2id hash.
func (p UserRegister) Check() *Error {
	if e := CheckName("displayName", p.DisplayName, MaxDisplayName); e != nil {
		return e
	}
	if strings.TrimSpace(p.DisplayName) == "" {
		return Errorf(CodeInvalidName, "displayName is blank")
	}
	if !password.WellFormed(p.PasswordHash) {
		return Errorf(CodeInvalidPassword, "the password hash is not an argon2id hash")
	}
	return nil
}

// Check validates a credential upgrade: a well-formed argon2id hash.
func (p UserUpgradePassword) Check() *Error {
	if !password.WellFormed(p.PasswordHash) {
		return Errorf(CodeInvalidPassword, "the password hash is not an argon2id hash")
	}
	return nil
}

// ValidSessionID reports whether id is a session id: the lowercase hex
// SHA-256 of a token.
func ValidSessionID(id string) bool {
	if len(id) != 64 {
		return false
	}
	for _, c := range []byte(id) {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// Attachment references an object in media storage.
type Attachment struct {
	Key         string `json:"key"`
	Name        string `json:"name"`
	ContentType string `json:"contentType"`
	Size        int64  `json:"size"`
}

// CommandLifetime is how long a gateway gives a command to be decided: its
// Deadline is this long after the gateway received it.
const CommandLifetime = 30 * time.Second

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
