package events

import "fmt"

// Error codes a client may see, in REST error bodies, `reply` errors and
// `rejected` frames. They are stable: a code is never renamed or reused.
const (
	CodeUnauthenticated = "UNAUTHENTICATED"
	CodeNotMember       = "NOT_MEMBER"
	CodeNoSuchRoom      = "NO_SUCH_ROOM"
	CodeEmptyMessage    = "EMPTY_MESSAGE"
	CodeMessageTooLong  = "MESSAGE_TOO_LONG"
	CodeInvalidContent  = "INVALID_CONTENT"
	CodeRateLimited     = "RATE_LIMITED"
	CodeNotOwner        = "NOT_OWNER"
	CodeNoSuchMessage   = "NO_SUCH_MESSAGE"
	CodeBadAttachment   = "BAD_ATTACHMENT"
	CodeBadUpload       = "BAD_UPLOAD"
	// CodeStorageUnavailable: media storage is not configured or does not
	// answer; uploads and downloads wait for it, chat does not.
	CodeStorageUnavailable = "STORAGE_UNAVAILABLE"
	// CodeFileDeleted: the message holding the file was deleted; its file
	// is removed from storage and served to no one.
	CodeFileDeleted        = "FILE_DELETED"
	CodeWrongPassword      = "WRONG_PASSWORD"
	CodeUsernameTaken      = "USERNAME_TAKEN"
	CodeInvalidCredentials = "INVALID_CREDENTIALS"
	CodeInvalidUsername    = "INVALID_USERNAME"
	CodeInvalidPassword    = "INVALID_PASSWORD"
	CodeInvalidRoomName    = "INVALID_ROOM_NAME"
	CodeRoomExists         = "ROOM_EXISTS"
	CodeBadRequest         = "BAD_REQUEST"
	CodeNotFound           = "NOT_FOUND"
	CodeForbidden          = "FORBIDDEN"
	CodeUnavailable        = "UNAVAILABLE"
	CodeTimeout            = "TIMEOUT"
	CodeInternal           = "INTERNAL"
)

// Codes of the reaction rules.
const (
	// CodeInvalidEmoji: a reaction is not one emoji (one grapheme cluster
	// from the Unicode emoji set).
	CodeInvalidEmoji = "INVALID_EMOJI"
	// CodeTooManyReactions: the message carries as many distinct emoji as
	// it may; reacting with one already on it still works.
	CodeTooManyReactions = "TOO_MANY_REACTIONS"
)

// Error is a failure meant for a user: a stable code and a human message.
// Internal errors are wrapped with %w instead and never shown to clients.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	// RetryAfterMs is set with RATE_LIMITED: the time until one more is admitted.
	RetryAfterMs int64 `json:"retryAfterMs,omitempty"`
}

func (e *Error) Error() string { return fmt.Sprintf("%s: %s", e.Code, e.Message) }

// Errorf returns an *Error with the given code and formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Error codes of the checks at the edge (docs/protocol.md, "Validation").
const (
	// CodeBadFrame: a WebSocket frame that is not a JSON object with a
	// type, or a field of its data that is missing, of the wrong type or
	// out of bounds; the message names the field.
	CodeBadFrame = "BAD_FRAME"
	// CodeInvalidRoom: a room id outside the slug grammar; no room has it.
	CodeInvalidRoom = "INVALID_ROOM"
	// CodeInvalidName: a display name, room description or file name that
	// is too long or holds a control, NUL or bidi override character.
	CodeInvalidName = "INVALID_NAME"
	// CodeTooManySockets: the user already holds as many sockets, across
	// the gateways, as one user may.
	CodeTooManySockets = "TOO_MANY_SOCKETS"
)
