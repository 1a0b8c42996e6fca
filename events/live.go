package events

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// EncodeLiveRoom is the payload published on a RoomChannel: the room seq in
// decimal, one space, then the encoded `event` frame. Gateways read the seq
// without decoding the frame, and write the frame bytes to sockets as is.
func EncodeLiveRoom(seq uint64, frame []byte) []byte {
	b := make([]byte, 0, len(frame)+21)
	b = strconv.AppendUint(b, seq, 10)
	b = append(b, ' ')
	return append(b, frame...)
}

// DecodeLiveRoom splits a RoomChannel payload.
func DecodeLiveRoom(b []byte) (seq uint64, frame []byte, err error) {
	i := bytes.IndexByte(b, ' ')
	if i <= 0 {
		return 0, nil, fmt.Errorf("live room payload: no seq")
	}
	seq, err = strconv.ParseUint(string(b[:i]), 10, 64)
	if err != nil || seq == 0 {
		return 0, nil, fmt.Errorf("live room payload: bad seq %q", b[:i])
	}
	return seq, b[i+1:], nil
}

// UserLive is the payload published on a UserChannel (JSON). Exactly one of
// Frame (with the Conn it is for, or All) and Revoke is set.
type UserLive struct {
	// Conn is the gateway connection id the frame is addressed to.
	Conn string `json:"conn,omitempty"`
	// All: the frame is for every socket of the user, on every gateway
	// (the user's rooms and read positions, which each tab shows).
	All bool `json:"all,omitempty"`
	// Frame is a complete client frame, written to that connection only.
	Frame json.RawMessage `json:"frame,omitempty"`
	// Revoke is a session id whose sockets must close with 4001.
	Revoke string `json:"revoke,omitempty"`
}

// RejectedData is the data of a `rejected` client frame.
type RejectedData struct {
	ClientID     string `json:"clientId,omitempty"`
	Ref          string `json:"ref,omitempty"`
	Room         string `json:"room,omitempty"`
	Code         string `json:"code"`
	Message      string `json:"message"`
	RetryAfterMs int64  `json:"retryAfterMs,omitempty"`
}

// RejectedFrame encodes the `rejected` frame of a rejection fact.
func RejectedFrame(d CommandRejectedData) ([]byte, error) {
	return json.Marshal(ServerFrame{Type: "rejected", Ref: d.Ref, Data: RejectedData{
		ClientID: d.ClientID, Ref: d.Ref, Room: d.Room, Code: d.Code, Message: d.Message, RetryAfterMs: d.RetryAfterMs,
	}})
}

// AnsweredByReply reports whether a command type is answered through the
// gateway that waits for its Outcome (a `reply` frame for room membership,
// the HTTP answer for the REST commands) rather than by its fact or a
// `rejected` frame.
func AnsweredByReply(cmdType string) bool {
	return cmdType == CmdRoomJoin || cmdType == CmdRoomLeave || cmdType == CmdRoomCreate || IsUserCommand(cmdType)
}
