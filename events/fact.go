package events

import (
	"encoding/json"
	"fmt"
	"time"
)

// Fact types. A type is never renamed or reused; a new shape is a new version.
const (
	// Room facts, on RoomSubject, each carrying the next room seq.
	RoomCreated     = "room.created"
	MemberJoined    = "member.joined"
	MemberLeft      = "member.left"
	MessagePosted   = "message.posted"
	MessageEdited   = "message.edited"
	MessageDeleted  = "message.deleted"
	ReactionAdded   = "reaction.added"
	ReactionRemoved = "reaction.removed"
	// RoomPasswordUpgraded replaces an imported room's legacy SHA-256
	// password with argon2id, at the first join that proved it.
	RoomPasswordUpgraded = "room.password_upgraded"

	// User facts, on UserSubject.
	UserRegistered = "user.registered"
	// UserImported is a user brought over from the original Chillin-Chatroom
	// (chillin-replay import-legacy), perhaps with a legacy SHA-256 credential.
	UserImported = "user.imported"
	// UserPasswordUpgraded replaces a user's credential with argon2id (the
	// legacy SHA-256 one, at the first login that proved it).
	UserPasswordUpgraded = "user.password_upgraded"
	// UserAvatarChanged sets a user's avatar: an object in media storage
	// that was checked (an image of the allowed types and size) first.
	UserAvatarChanged = "user.avatar_changed"

	// Session facts, on SessionSubject.
	SessionStarted   = "session.started"
	SessionRefreshed = "session.refreshed"
	SessionRevoked   = "session.revoked"

	// ReadMarked is how far a member has read a room (ReadMarkedData), on
	// ReadPosSubject of the reader and the room. It is not a room fact: it
	// takes no room seq, and the room's history does not show it.
	ReadMarked = "read.marked"

	// Rejections, on RejSubject of CHAT_REJ (RejectedSubject of CHAT_EVT in
	// logs from before CHAT_REJ).
	CommandRejected = "command.rejected"
)

// Fact is one entry of CHAT_EVT. Its id is its stream sequence, assigned by
// the log, so it is not part of the encoded fact; see Stored.
type Fact struct {
	Type string          `json:"type"`
	V    int             `json:"v"`
	Room string          `json:"room,omitempty"`
	Seq  uint64          `json:"seq,omitempty"` // room seq, for room facts
	User string          `json:"user"`          // the actor
	At   time.Time       `json:"at"`
	Cmd  string          `json:"cmd,omitempty"` // the command that caused it
	Data json.RawMessage `json:"data"`
}

// Stored is a fact as read from the log, with its id (stream sequence).
type Stored struct {
	ID uint64
	Fact
}

// Fact payloads. The struct is the latest version; older versions are
// upgraded to it by Upgrade.
type (
	RoomCreatedData struct {
		Name         string `json:"name"`
		Description  string `json:"description"`
		IsPrivate    bool   `json:"isPrivate"`
		PasswordHash string `json:"passwordHash,omitempty"` // argon2id, PHC string; never sent to clients
		// LegacyPasswordSHA256 (v2) is an imported room's password as the
		// original app kept it: unsalted SHA-256, lowercase hex. Set only
		// when PasswordHash is empty; never sent to clients; replaced by
		// room.password_upgraded at the first join that proves it.
		LegacyPasswordSHA256 string `json:"legacyPasswordSha256,omitempty"`
	}
	RoomPasswordUpgradedData struct {
		PasswordHash string `json:"passwordHash"` // argon2id, PHC string; never sent to clients
	}
	MemberJoinedData  struct{}
	MemberLeftData    struct{}
	MessagePostedData struct {
		Text        string       `json:"text"`
		ClientID    string       `json:"clientId"`
		Attachments []Attachment `json:"attachments,omitempty"`
		ReplyTo     uint64       `json:"replyTo,omitempty"`
	}
	MessageEditedData struct {
		ID   uint64 `json:"id"`
		Text string `json:"text"`
	}
	MessageDeletedData struct {
		ID uint64 `json:"id"`
	}
	ReactionData struct {
		ID    uint64 `json:"id"`
		Emoji string `json:"emoji"`
	}
	UserRegisteredData struct {
		Username     string `json:"username"`
		DisplayName  string `json:"displayName"`
		PasswordHash string `json:"passwordHash"` // argon2id, PHC string
	}
	UserImportedData struct {
		Username    string `json:"username"` // the Chillin id, as on the subject
		DisplayName string `json:"displayName"`
		LegacyName  string `json:"legacyName"` // the name in the original data, as written there
		// LegacySHA256 is the original app's credential: unsalted SHA-256
		// of the password, lowercase hex; empty for a name that only wrote
		// messages (it cannot log in). Verified once at login, then replaced
		// by user.password_upgraded; never sent to clients or exported.
		LegacySHA256 string `json:"legacySha256,omitempty"`
		Email        string `json:"email,omitempty"`
		AvatarURL    string `json:"avatarUrl,omitempty"`
	}
	UserPasswordUpgradedData struct {
		PasswordHash string `json:"passwordHash"` // argon2id, PHC string
	}
	UserAvatarChangedData struct {
		Key string `json:"key"` // object key in media storage (events/media)
	}
	// ReadMarkedData is the room seq its reader has read up to (the fact's
	// Room and User name the room and the reader). Facts of one reader and
	// room only ever move forward.
	ReadMarkedData struct {
		Seq uint64 `json:"seq"`
	}
	SessionData struct {
		Session   string    `json:"session"` // hex SHA-256 of the token; the token itself is never stored
		ExpiresAt time.Time `json:"expiresAt,omitzero"`
	}
	CommandRejectedData struct {
		Command      string `json:"command"` // the command type
		Room         string `json:"room,omitempty"`
		ClientID     string `json:"clientId,omitempty"`
		Ref          string `json:"ref,omitempty"`
		Conn         string `json:"conn,omitempty"`
		Code         string `json:"code"`
		Message      string `json:"message"`
		RetryAfterMs int64  `json:"retryAfterMs,omitempty"`
	}
)

// latest is the current version of every fact type.
var latest = map[string]int{
	RoomCreated:      2,
	MemberJoined:     1,
	MemberLeft:       1,
	MessagePosted:    1,
	MessageEdited:    1,
	MessageDeleted:   1,
	ReactionAdded:    1,
	ReactionRemoved:  1,
	UserRegistered:   1,
	SessionStarted:   1,
	SessionRefreshed: 1,
	SessionRevoked:   1,
	CommandRejected:  1,

	RoomPasswordUpgraded: 1,
	UserImported:         1,
	UserPasswordUpgraded: 1,
	UserAvatarChanged:    1,
	ReadMarked:           1,
}

type typeVersion struct {
	typ string
	v   int
}

// upgrades turns the data of (type, v) into the data of (type, v+1).
var upgrades = map[typeVersion]func(json.RawMessage) (json.RawMessage, error){
	// room.created v2 only added legacyPasswordSha256: every v1 payload is
	// a v2 payload. The version moved so that code reading only v1 refuses
	// an imported room instead of taking it for one without a password.
	{RoomCreated, 1}: func(d json.RawMessage) (json.RawMessage, error) { return d, nil },
}

// IsRoomFact reports whether typ is a room fact, carried on a room subject
// with a room seq.
func IsRoomFact(typ string) bool {
	switch typ {
	case RoomCreated, MemberJoined, MemberLeft, MessagePosted, MessageEdited,
		MessageDeleted, ReactionAdded, ReactionRemoved, RoomPasswordUpgraded:
		return true
	}
	return false
}

// Known reports whether (typ, v) is a fact version this code can read.
func Known(typ string, v int) bool {
	l, ok := latest[typ]
	return ok && v >= 1 && v <= l
}

// NewFact builds a latest-version fact with an encoded payload.
func NewFact(typ, room string, seq uint64, user, cmd string, at time.Time, data any) (Fact, error) {
	raw, err := json.Marshal(data)
	if err != nil {
		return Fact{}, fmt.Errorf("encode %s: %w", typ, err)
	}
	return Fact{Type: typ, V: latest[typ], Room: room, Seq: seq, User: user, At: at.UTC(), Cmd: cmd, Data: raw}, nil
}

// Encode returns the wire form of a fact.
func (f Fact) Encode() ([]byte, error) { return json.Marshal(f) }

// DecodeFact parses a fact of any known version and upgrades it to the latest.
func DecodeFact(b []byte) (Fact, error) {
	var f Fact
	if err := json.Unmarshal(b, &f); err != nil {
		return f, fmt.Errorf("decode fact: %w", err)
	}
	if !Known(f.Type, f.V) {
		return f, fmt.Errorf("decode fact: unknown type %q v%d", f.Type, f.V)
	}
	if IsRoomFact(f.Type) && (f.Room == "" || f.Seq == 0) {
		return f, fmt.Errorf("decode fact %s: room fact without room or seq", f.Type)
	}
	if len(f.Data) == 0 || f.Data[0] != '{' {
		return f, fmt.Errorf("decode fact %s: data is not an object", f.Type)
	}
	return Upgrade(f)
}

// Upgrade brings a fact's data to the latest version of its type.
func Upgrade(f Fact) (Fact, error) {
	for f.V < latest[f.Type] {
		up, ok := upgrades[typeVersion{f.Type, f.V}]
		if !ok {
			return f, fmt.Errorf("upgrade %s v%d: no upgrade", f.Type, f.V)
		}
		data, err := up(f.Data)
		if err != nil {
			return f, fmt.Errorf("upgrade %s v%d: %w", f.Type, f.V, err)
		}
		f.Data, f.V = data, f.V+1
	}
	return f, nil
}

// DecodeData decodes a fact's (upgraded) payload into T.
func DecodeData[T any](f Fact) (T, error) {
	var d T
	if err := json.Unmarshal(f.Data, &d); err != nil {
		return d, fmt.Errorf("decode %s data: %w", f.Type, err)
	}
	return d, nil
}
