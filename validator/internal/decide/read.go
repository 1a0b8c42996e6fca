package decide

import "github.com/chillin-chat/chillin/events"

// decideRead decides a room.read: a member of the room moves their read
// position forward, to a seq the room has reached. A position at or behind
// the current one (Input.ReadSeq) changes nothing: reads from several tabs
// arrive in any order, and only progress becomes a fact. The fact goes on
// the reader's subject (events.ReadPosSubject), not the room's: it takes no
// room seq.
func decideRead(r *Room, in Input) Decision {
	p, d, ok := payload[events.RoomRead](in.Cmd)
	if !ok {
		return d
	}
	if p.Seq == 0 {
		return reject(events.Errorf(events.CodeBadRequest, "seq must be at least 1"))
	}
	if e := roomMember(r, in.Cmd.User); e != nil {
		return reject(e)
	}
	if p.Seq > r.Head {
		return reject(events.Errorf(events.CodeNoSuchMessage, "room %s has no seq %d yet", r.ID, p.Seq))
	}
	if p.Seq <= in.ReadSeq {
		return Decision{}
	}
	f, err := events.NewFact(events.ReadMarked, r.ID, 0, in.Cmd.User, in.Cmd.ID, in.Now, events.ReadMarkedData{Seq: p.Seq})
	if err != nil {
		return Decision{Reject: events.Errorf(events.CodeInternal, "could not record the read position")}
	}
	return Decision{Fact: &f}
}
