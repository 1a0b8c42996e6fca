package cachelayout

// Op kinds: the first of an op's fields, telling ApplyScript what the fact
// does. The script matches these strings; a writer builds ops with them.
const (
	OpCreated  = "c"  // room.created: name, description, private
	OpJoined   = "j"  // member.joined
	OpLeft     = "l"  // member.left
	OpPosted   = "p"  // message.posted: text, clientId, attachments JSON, replyTo
	OpEdited   = "e"  // message.edited: message id, text
	OpDeleted  = "d"  // message.deleted: message id
	OpReactAdd = "ra" // reaction.added: message id, emoji
	OpReactDel = "rr" // reaction.removed: message id, emoji
	OpHead     = "h"  // any other room fact: only the room's head moves
)

// OpFields is how many ApplyScript arguments one op takes: kind, fact id,
// room, room seq, actor, time (µs), and four that depend on the kind.
const OpFields = 10
