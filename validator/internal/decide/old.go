package decide

// OldMessage is what the caller looked up about a message older than the
// room's window (Decision.Lookup), as of the room's fact AsOf (Room.LastID
// when it was looked up: an answer as of another fact is asked again).
type OldMessage struct {
	// Author is the user of the message.posted fact of that id in this
	// room, "" when that id is no message of the room.
	Author  string
	Deleted bool
	// Reactions are the message's reactions, in any order.
	Reactions []Reaction
	AsOf      uint64
}

func (m *OldMessage) reacted(_ uint64, rc Reaction) bool {
	for _, r := range m.Reactions {
		if r == rc {
			return true
		}
	}
	return false
}

func (m *OldMessage) emojis(_ uint64, emoji string) (distinct int, has bool) {
	seen := map[string]bool{}
	for _, r := range m.Reactions {
		seen[r.Emoji] = true
	}
	return len(seen), seen[emoji]
}
