package events

import (
	"encoding/json"
	"fmt"
	"time"
)

// Message is the client's view of a message (PROTOCOL.md `message` object).
type Message struct {
	ID          uint64              `json:"id"`
	Room        string              `json:"room"`
	Seq         uint64              `json:"seq"`
	User        string              `json:"user"`
	Text        string              `json:"text"`
	ClientID    string              `json:"clientId"`
	Attachments []MessageAttachment `json:"attachments"`
	ReplyTo     *uint64             `json:"replyTo"`
	CreatedAt   time.Time           `json:"createdAt"`
	EditedAt    *time.Time          `json:"editedAt"`
	Deleted     bool                `json:"deleted"`
	Reactions   map[string][]string `json:"reactions"`
}

// MessageAttachment is an attachment as clients see it in a message: the
// fields of Attachment plus `url`, the path the gateway serves the file at.
// The url is derived from the key when encoding; it is never stored.
type MessageAttachment Attachment

// MarshalJSON encodes the attachment with its url.
func (a MessageAttachment) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Attachment
		URL string `json:"url"`
	}{Attachment(a), FileURL(a.Key)})
}

// FileURL is the path at which the gateway serves the media object key.
func FileURL(key string) string { return "/api/files/" + key }

// EventData is the data of an `event` frame: one room fact as clients see it.
type EventData struct {
	Room string    `json:"room"`
	Seq  uint64    `json:"seq"`
	ID   uint64    `json:"id"`
	Kind string    `json:"kind"`
	User string    `json:"user"`
	At   time.Time `json:"at"`
	Data any       `json:"data"`
}

// ServerFrame is a frame the gateway writes to a socket.
type ServerFrame struct {
	Type string `json:"type"`
	Ref  string `json:"ref,omitempty"`
	Data any    `json:"data"`
}

// PostedMessage builds the Message of a message.posted fact.
func PostedMessage(s Stored, d MessagePostedData) Message {
	m := Message{
		ID: s.ID, Room: s.Room, Seq: s.Seq, User: s.User, Text: d.Text, ClientID: d.ClientID,
		Attachments: make([]MessageAttachment, len(d.Attachments)), CreatedAt: s.At, Reactions: map[string][]string{},
	}
	for i, a := range d.Attachments {
		m.Attachments[i] = MessageAttachment(a)
	}
	if d.ReplyTo != 0 {
		r := d.ReplyTo
		m.ReplyTo = &r
	}
	return m
}

// EventFrame encodes a stored room fact as the `event` frame clients receive.
// Secrets in facts (room password hashes) never reach the frame.
func EventFrame(s Stored) ([]byte, error) {
	ev, err := ClientEvent(s)
	if err != nil {
		return nil, err
	}
	return json.Marshal(ServerFrame{Type: "event", Data: ev})
}

// ClientEvent is the client's view of a stored room fact.
func ClientEvent(s Stored) (EventData, error) {
	if !IsRoomFact(s.Type) {
		return EventData{}, fmt.Errorf("event frame: %s is not a room fact", s.Type)
	}
	ev := EventData{Room: s.Room, Seq: s.Seq, ID: s.ID, Kind: s.Type, User: s.User, At: s.At}
	switch s.Type {
	case MessagePosted:
		d, err := DecodeData[MessagePostedData](s.Fact)
		if err != nil {
			return ev, err
		}
		ev.Data = PostedMessage(s, d)
	case RoomCreated:
		d, err := DecodeData[RoomCreatedData](s.Fact)
		if err != nil {
			return ev, err
		}
		ev.Data = struct {
			Name        string `json:"name"`
			Description string `json:"description"`
			IsPrivate   bool   `json:"isPrivate"`
		}{d.Name, d.Description, d.IsPrivate}
	case MessageEdited:
		d, err := DecodeData[MessageEditedData](s.Fact)
		if err != nil {
			return ev, err
		}
		ev.Data = struct {
			ID       uint64    `json:"id"`
			Text     string    `json:"text"`
			EditedAt time.Time `json:"editedAt"`
		}{d.ID, d.Text, s.At}
	case RoomPasswordUpgraded:
		// Clients learn only that it happened (the seq must reach them);
		// the new hash stays in the log.
		ev.Data = struct{}{}
	default:
		// The remaining room facts carry nothing secret: pass their data on.
		ev.Data = s.Data
	}
	return ev, nil
}
