package gateway

import (
	"slices"

	"github.com/chillin-chat/chillin/events"
)

// A socket's rooms. A frame whose data names a room acts in that room
// (typing, read reports, syncs, message and reaction commands), except the
// frames that change what the socket is in (room:join, room:leave). Such a
// frame is served only on a socket that is in its room: handle checks it
// once, before any handler, so no frame type can skip it.
//
// A socket is in a room from its room:join until its room:leave or close,
// unless its user left the room elsewhere since it joined (another tab,
// another device): the hub then dropped it (conn.go, leftElsewhere), and
// from then on the socket is one that never joined the room.

// membershipFrames change the socket's rooms; they act in no room.
var membershipFrames = map[string]bool{"room:join": true, "room:leave": true}

// roomScoped reports whether frames of typ act in the room their data
// names (checkFrame has made sure they name one).
func roomScoped(typ string) bool {
	return !membershipFrames[typ] && slices.Contains(frameRequired[typ], "room")
}

// inRoom reports whether the socket is in room. A room the hub dropped it
// from is forgotten here, as its room:leave would have, and the socket's
// typing there ends. Reader only.
func (c *conn) inRoom(room string) bool {
	if !c.rooms[room] {
		return false
	}
	if c.s.hub.Joined(room, c) {
		return true
	}
	delete(c.rooms, room)
	c.stopTyping(room)
	return false
}

// notMember is why a frame acting in a room the socket is not in is refused.
func notMember() *events.Error {
	return events.Errorf(events.CodeNotMember, "join the room on this connection first")
}

// refuseNotMember answers a room-scoped frame on a socket not in its room
// the way the frame's type is answered (docs/protocol.md): a message or
// reaction command by `rejected`, room:sync by a failed reply, room:read by
// a failed reply when it has a ref (else not at all), any other by an
// `error` frame.
func (c *conn) refuseNotMember(typ, ref string, d frameFields) {
	room := *d.Room
	switch typ {
	case "message:send", "message:edit", "message:delete", "reaction:add", "reaction:remove":
		clientID := ""
		if d.ClientID != nil {
			clientID = *d.ClientID
		}
		c.reject(ref, room, clientID, notMember())
	case "room:sync":
		c.replyError(ref, notMember())
	case "room:read":
		if ref != "" {
			c.replyError(ref, notMember())
		}
	default:
		e := notMember()
		c.frameError(ref, e.Code, e.Message)
	}
}
