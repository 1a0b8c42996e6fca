package decide

// ArchiveQuery asks whether User posted a message with ClientID in Room
// among its messages with an id up to Through: the messages whose
// idempotency digests the room dropped (Room.ArchivedThrough).
type ArchiveQuery struct {
	Room     string
	User     string
	ClientID string
	Through  uint64
}

// archiveQuery is the query a message.send of user with clientID needs
// when the room does not hold its digest: none if the room dropped no
// digest, so that every clientId it posted is held.
func (r *Room) archiveQuery(user, clientID string) (ArchiveQuery, bool) {
	if r.archivedThrough == 0 {
		return ArchiveQuery{}, false
	}
	return ArchiveQuery{Room: r.ID, User: user, ClientID: clientID, Through: r.archivedThrough}, true
}
