package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/chillin-chat/chillin/events"
	"github.com/chillin-chat/chillin/events/media"
)

// Bounds of a frame's fields that no later check covers (docs/protocol.md,
// "Validation"). The validator decides what a text or an emoji may be; the
// edge only bounds their size, so no value can form a bad subject, key or
// reply.
const (
	maxRefLen        = 64  // a frame's ref, echoed in its answers
	maxRoomPassword  = 256 // as at room creation
	maxFieldBytes    = 256 // an attachment's key, name and content type
	maxHeartbeatEcho = 64  // heartbeat `t`, echoed back
	maxLimit         = 1e6 // a `limit` above its page's bound is clamped, not refused
	maxMessageID     = 1<<53 - 1
)

// frameFields is every field a client frame's data may carry. Each frame's
// data is decoded into it and checked by checkFrame before any handler
// sees the frame: the one place where a client's frame fields are checked.
type frameFields struct {
	Room        *string             `json:"room"`
	Password    *string             `json:"password"`
	After       *uint64             `json:"after"`
	Limit       *int64              `json:"limit"`
	ClientID    *string             `json:"clientId"`
	Text        *string             `json:"text"`
	Attachments []events.Attachment `json:"attachments"`
	ReplyTo     *uint64             `json:"replyTo"`
	ID          *uint64             `json:"id"`
	Emoji       *string             `json:"emoji"`
	Status      *string             `json:"status"`
	Seq         *uint64             `json:"seq"`
	T           json.RawMessage     `json:"t"`
}

// frameRequired lists, by frame type, the fields its data must carry; a
// type listed with none may come without data. Every type frameHandlers
// serves is here (TestFrameSpecsCoverHandlers).
var frameRequired = map[string][]string{
	"room:join":       {"room"},
	"room:leave":      {"room"},
	"room:sync":       {"room", "after"},
	"message:send":    {"room", "clientId", "text"},
	"message:edit":    {"room", "id", "text"},
	"message:delete":  {"room", "id"},
	"reaction:add":    {"room", "id", "emoji"},
	"reaction:remove": {"room", "id", "emoji"},
	"heartbeat":       nil,
	"typing:start":    {"room"},
	"typing:stop":     {"room"},
	"presence:set":    {"status"},
	"room:read":       {"room", "seq"},
}

// badField is the error of one field of a frame.
func badField(field, format string, args ...any) *events.Error {
	return events.Errorf(events.CodeBadFrame, "%s: %s", field, fmt.Sprintf(format, args...))
}

// checkRef bounds a frame's ref, which its answers echo.
func checkRef(ref string) *events.Error {
	if len(ref) > maxRefLen {
		return badField("ref", "at most %d bytes", maxRefLen)
	}
	return nil
}

// checkFrame checks the data of a frame of a known type: it decodes, every
// field it carries has its type and bounds, and every field the type needs
// is there. Room ids outside the slug grammar are INVALID_ROOM, anything
// else BAD_FRAME naming the field.
func checkFrame(typ string, data json.RawMessage) *events.Error {
	_, e := decodeFrame(typ, data)
	return e
}

// decodeFrame is checkFrame returning the fields it decoded.
func decodeFrame(typ string, data json.RawMessage) (frameFields, *events.Error) {
	var f frameFields
	required := frameRequired[typ]
	data = bytes.TrimSpace(data)
	if len(data) == 0 || bytes.Equal(data, []byte("null")) {
		if len(required) > 0 {
			return f, badField("data", "required")
		}
		return f, nil
	}
	if err := json.Unmarshal(data, &f); err != nil {
		return f, decodeProblem(err)
	}
	if e := f.check(); e != nil {
		return f, e
	}
	for _, name := range required {
		if !f.has(name) {
			return f, badField(name, "required")
		}
	}
	return f, nil
}

// decodeProblem names what is wrong with data that does not decode, without
// echoing the client's bytes.
func decodeProblem(err error) *events.Error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return badField(te.Field, "not a %s", te.Type.String())
	}
	return badField("data", "not a JSON object of the frame's fields")
}

func (f *frameFields) has(name string) bool {
	switch name {
	case "room":
		return f.Room != nil
	case "after":
		return f.After != nil
	case "clientId":
		return f.ClientID != nil
	case "text":
		return f.Text != nil
	case "id":
		return f.ID != nil
	case "emoji":
		return f.Emoji != nil
	case "status":
		return f.Status != nil
	case "seq":
		return f.Seq != nil
	}
	panic("gateway: frameRequired names an unknown field " + strconv.Quote(name))
}

// check bounds every field that is present.
func (f *frameFields) check() *events.Error {
	switch {
	case f.Room != nil && !events.ValidRoomID(*f.Room):
		return events.Errorf(events.CodeInvalidRoom, "room: not a room id (1 to 64 of a-z, 0-9 and '-', starting with a letter or digit)")
	case f.Password != nil && len(*f.Password) > maxRoomPassword:
		return badField("password", "at most %d bytes", maxRoomPassword)
	case f.Limit != nil && (*f.Limit < 0 || *f.Limit > maxLimit):
		return badField("limit", "a number from 0 to %d", int64(maxLimit))
	case f.ClientID != nil && !events.ValidClientID(*f.ClientID):
		return badField("clientId", "1 to %d of A-Z, a-z, 0-9, '.', '_', ':' and '-'", events.MaxClientIDLen)
	case f.ID != nil && (*f.ID == 0 || *f.ID > maxMessageID):
		return badField("id", "a message id")
	case f.Seq != nil && (*f.Seq == 0 || *f.Seq > maxMessageID):
		return badField("seq", "a room seq")
	case f.ReplyTo != nil && *f.ReplyTo > maxMessageID:
		return badField("replyTo", "a message id")
	case f.Emoji != nil && (*f.Emoji == "" || len(*f.Emoji) > events.MaxEmojiBytes):
		return badField("emoji", "1 to %d bytes", events.MaxEmojiBytes)
	case f.Status != nil && !statuses[*f.Status]:
		return badField("status", "online, away or busy")
	case len(f.T) > maxHeartbeatEcho:
		return badField("t", "at most %d bytes", maxHeartbeatEcho)
	case len(f.Attachments) > media.MaxAttachments:
		return badField("attachments", "at most %d", media.MaxAttachments)
	}
	for i, a := range f.Attachments {
		field := fmt.Sprintf("attachments[%d]", i)
		if len(a.Key) > maxFieldBytes || len(a.Name) > maxFieldBytes || len(a.ContentType) > maxFieldBytes || a.Size < 0 {
			return badField(field, "key, name and contentType are at most %d bytes", maxFieldBytes)
		}
		if e := events.CheckName(field+".name", a.Name, maxFieldBytes); e != nil {
			return e
		}
	}
	return nil
}

// Bounds of REST query parameters (docs/protocol.md, "Validation").
const (
	maxPageLimit = 1000 // the largest page any list serves
	maxQueryLen  = 100  // a search's q, in code points
)

// checkRequest checks what an authenticated REST request carries besides
// its body: the {room} path value and the query parameters the routes read.
// Each route decides its own page bounds within these; none sees a value
// that fails here.
func checkRequest(r *http.Request) *events.Error {
	if room := r.PathValue("room"); room != "" && !events.ValidRoomID(room) {
		return events.Errorf(events.CodeInvalidRoom, "room: not a room id (1 to 64 of a-z, 0-9 and '-', starting with a letter or digit)")
	}
	q := r.URL.Query()
	for key, vals := range q {
		if len(vals) > 1 {
			return events.Errorf(events.CodeBadRequest, "%s: given more than once", truncate(key, 32))
		}
	}
	if v, ok := q["limit"]; ok {
		if n, err := strconv.Atoi(v[0]); err != nil || n < 1 || n > maxPageLimit {
			return events.Errorf(events.CodeBadRequest, "limit: a number from 1 to %d", maxPageLimit)
		}
	}
	if v, ok := q["before"]; ok {
		if n, err := strconv.ParseInt(v[0], 10, 64); err != nil || n < 1 {
			return events.Errorf(events.CodeBadRequest, "before: a message id")
		}
	}
	if v, ok := q["cursor"]; ok && !events.ValidRoomID(v[0]) && !events.ValidUsername(v[0]) {
		return events.Errorf(events.CodeBadRequest, "cursor: not a cursor this server gave")
	}
	if v, ok := q["q"]; ok {
		if e := events.CheckName("q", v[0], maxQueryLen); e != nil {
			e.Code = events.CodeBadRequest
			return e
		}
	}
	return nil
}
