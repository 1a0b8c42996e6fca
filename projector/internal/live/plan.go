package live

import (
	"encoding/json"
	"fmt"

	"github.com/chillin-chat/chillin/events"
)

// Pub is one Redis PUBLISH.
type Pub struct {
	Channel string
	Payload []byte
}

// Skip is a fact that cannot be encoded for clients.
type Skip struct {
	Seq  uint64
	Type string
	Err  error
}

// plan turns facts, in log order, into the PUBLISHes that carry them live.
// Facts no socket needs live (registrations, session starts and refreshes,
// rejections of commands answered by a reply) publish nothing. A fact about
// the actor's own rooms (membership, read position) also goes to every
// socket of the actor (self).
func plan(prefix string, facts []events.Stored) ([]Pub, []Skip) {
	var (
		pubs  []Pub
		skips []Skip
	)
	for _, f := range facts {
		pub, ok, err := one(prefix, f)
		switch {
		case err != nil:
			skips = append(skips, Skip{Seq: f.ID, Type: f.Type, Err: err})
			continue
		case ok:
			pubs = append(pubs, pub)
		}
		pub, ok, err = self(prefix, f)
		switch {
		case err != nil:
			skips = append(skips, Skip{Seq: f.ID, Type: f.Type, Err: err})
		case ok:
			pubs = append(pubs, pub)
		}
	}
	return pubs, skips
}

func one(prefix string, f events.Stored) (Pub, bool, error) {
	switch {
	case events.IsRoomFact(f.Type):
		frame, err := events.EventFrame(f)
		if err != nil {
			return Pub{}, false, err
		}
		return Pub{Channel: events.RoomChannel(prefix, f.Room), Payload: events.EncodeLiveRoom(f.Seq, frame)}, true, nil

	case f.Type == events.CommandRejected:
		d, err := events.DecodeData[events.CommandRejectedData](f.Fact)
		if err != nil {
			return Pub{}, false, err
		}
		if events.AnsweredByReply(d.Command) || d.Command == events.CmdRoomRead {
			// A refused read needs no answer: the gateway sends the next
			// progress again.
			return Pub{}, false, nil
		}
		if f.User == "" {
			return Pub{}, false, fmt.Errorf("command.rejected without user")
		}
		frame, err := events.RejectedFrame(d)
		if err != nil {
			return Pub{}, false, err
		}
		return userPub(prefix, f.User, events.UserLive{Conn: d.Conn, Frame: frame})

	case f.Type == events.SessionRevoked:
		d, err := events.DecodeData[events.SessionData](f.Fact)
		if err != nil {
			return Pub{}, false, err
		}
		if f.User == "" || d.Session == "" {
			return Pub{}, false, fmt.Errorf("session.revoked without user or session")
		}
		return userPub(prefix, f.User, events.UserLive{Revoke: d.Session})
	}
	return Pub{}, false, nil
}

func userPub(prefix, user string, msg events.UserLive) (Pub, bool, error) {
	b, err := json.Marshal(msg)
	if err != nil {
		return Pub{}, false, fmt.Errorf("encode user live message: %w", err)
	}
	return Pub{Channel: events.UserChannel(prefix, user), Payload: b}, true, nil
}
