package live

import (
	"encoding/json"
	"fmt"

	"github.com/chillin-chat/chillin/events"
)

// Frames every socket of a user receives about the user's own rooms, on
// every gateway (events.UserLive.All): the user's room list and read
// positions are the account's, the same in each tab and on each device.
const (
	// FrameRoomJoined: the user became a member of a room (joined it, or
	// created it); data {room, seq}.
	FrameRoomJoined = "room:joined"
	// FrameRoomLeft: the user left a room; data {room, seq}.
	FrameRoomLeft = "room:left"
	// FrameRoomRead: the user's read position in a room moved; data
	// {room, seq}.
	FrameRoomRead = "room:read"
)

// selfData is the data of the frames above.
type selfData struct {
	Room string `json:"room"`
	Seq  uint64 `json:"seq"`
}

// self is the publish, if any, that tells every socket of a fact's actor
// about it: membership changes and read positions.
func self(prefix string, f events.Stored) (Pub, bool, error) {
	var typ string
	seq := f.Seq
	switch f.Type {
	case events.RoomCreated, events.MemberJoined:
		typ = FrameRoomJoined
	case events.MemberLeft:
		typ = FrameRoomLeft
	case events.ReadMarked:
		d, err := events.DecodeData[events.ReadMarkedData](f.Fact)
		if err != nil {
			return Pub{}, false, err
		}
		typ, seq = FrameRoomRead, d.Seq
	default:
		return Pub{}, false, nil
	}
	if f.User == "" || f.Room == "" || seq == 0 {
		return Pub{}, false, fmt.Errorf("%s without user, room or seq", f.Type)
	}
	frame, err := json.Marshal(events.ServerFrame{Type: typ, Data: selfData{Room: f.Room, Seq: seq}})
	if err != nil {
		return Pub{}, false, err
	}
	return userPub(prefix, f.User, events.UserLive{All: true, Frame: frame})
}
