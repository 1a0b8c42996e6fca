package decide

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/chillin-chat/chillin/events"
)

// RecentCommands is how many command ids a room remembers at least, to
// recognise a redelivered command whose fact is already in the log. A room
// also remembers every command of its facts of the last CommandHorizon,
// however many: a command is redelivered at most AckWait (30 s) after its
// delivery, and JetStream's own dedup window (2 min) is the backstop.
const RecentCommands = 4096

// CommandHorizon is how long a room remembers a command id at least, by the
// time of its fact.
const CommandHorizon = 5 * time.Minute

// DefaultMessageWindow is how many of its most recent messages a room keeps
// by default (SetMessageWindow). An older message is looked up in the log
// when a command names it (Decision.Lookup).
const DefaultMessageWindow = 10_000

// DefaultDigestWindow is how many idempotency digests (one per message
// posted with a clientId) a room keeps by default (SetDigestWindow): some
// 21 bytes each in a snapshot, so that a room past it still fits one. A
// message.send whose clientId is not among them, in a room that dropped
// some, is looked up in the archive (Decision.Archive).
const DefaultDigestWindow = 20_000

// Reaction is one user's reaction with one emoji.
type Reaction struct {
	User  string
	Emoji string
}

// Message is what the validator needs to know about a posted message.
type Message struct {
	Author  string
	Deleted bool
}

// message is a Message as a room keeps it: its author as an index into the
// room's authors.
type message struct {
	author  uint32
	deleted bool
}

// digest is the first 16 bytes of the SHA-256 of the strings it stands for,
// joined by zero bytes: a room keeps digests, not strings, so that the
// garbage collector has nothing to scan in what it keeps per command.
type digest [16]byte

func digestOf(parts ...string) digest {
	var buf [192]byte // user ids, clientIds and command ids are short; append grows if not
	b := buf[:0]
	for i, p := range parts {
		if i > 0 {
			b = append(b, 0)
		}
		b = append(b, p...)
	}
	sum := sha256.Sum256(b)
	return digest(sum[:16])
}

// Room is the state of one room folded from its facts. The zero Head means no
// fact has been applied (the room does not exist as far as this value knows).
type Room struct {
	ID           string
	Exists       bool
	Name         string
	IsPrivate    bool
	PasswordHash string
	// LegacySHA256 is an imported room's password as the original app kept
	// it (unsalted SHA-256, hex), until a join proves it and it is replaced
	// by PasswordHash (room.password_upgraded).
	LegacySHA256 string
	Members      map[string]struct{}
	// Head is the room seq of the last applied fact.
	Head uint64
	// LastID is the stream sequence of the last applied fact: the expected
	// last subject sequence of the next append.
	LastID uint64

	// A room keeps its most recent window messages (order, oldest first);
	// what it keeps per message is small and holds no pointers, so the
	// garbage collector never scans messages, posted or order. Of a message
	// older than the window it keeps nothing: whether it was deleted, and
	// its reactions, are looked up with it (Decision.Lookup).
	window   int
	messages map[uint64]message
	order    fifo[windowed]
	// floor is the id of the newest message that left the window (0: none
	// did): a message with a smaller id is looked up in the log.
	floor    uint64
	authors  []string          // the users who posted, by message.author
	authorOf map[string]uint32 // the index of each in authors
	// reactions holds the reactions of the messages of the window that have
	// any; nReactions counts them.
	reactions  map[uint64]map[Reaction]struct{}
	nReactions int
	// emojis counts, per message that has reactions, the users of each
	// distinct emoji on it.
	emojis map[uint64]map[string]int
	// posted is the message each (user, clientId) posted, for the newest
	// digests messages posted with a clientId (postedOrder, oldest first).
	// A client may resend a message's clientId at any later time (its
	// outbox survives a reload) and must get the original back. The older
	// digests are dropped: archivedThrough is the newest message whose
	// digest was (0: none was), and archived a filter of them. A clientId
	// not held that archived may hold is looked up among the messages up to
	// archivedThrough (ArchiveQuery).
	digests         int
	posted          map[digest]uint64
	postedOrder     fifo[digest]
	archivedThrough uint64
	archived        filter

	// recent and ring hold the ids of the recent commands, oldest first in
	// ring (see RecentCommands).
	recent map[digest]struct{}
	ring   fifo[command]
}

// windowed is a message in the window.
type windowed struct {
	id uint64
}

// command is a remembered command id and the time of its fact (Unix ns).
type command struct {
	id digest
	at int64
}

// fifo is a queue that reuses its slice.
type fifo[T any] struct {
	items []T
	head  int
}

func (q *fifo[T]) len() int { return len(q.items) - q.head }
func (q *fifo[T]) push(v T) { q.items = append(q.items, v) }
func (q *fifo[T]) peek() T  { return q.items[q.head] }
func (q *fifo[T]) pop() T {
	v := q.items[q.head]
	q.head++
	if q.head >= 1024 && q.head*2 >= len(q.items) {
		n := copy(q.items, q.items[q.head:])
		q.items = q.items[:n]
		q.head = 0
	}
	return v
}

// NewRoom returns the empty state of room id.
func NewRoom(id string) *Room {
	return &Room{
		ID:        id,
		Members:   map[string]struct{}{},
		window:    DefaultMessageWindow,
		digests:   DefaultDigestWindow,
		messages:  map[uint64]message{},
		authorOf:  map[string]uint32{},
		reactions: map[uint64]map[Reaction]struct{}{},
		emojis:    map[uint64]map[string]int{},
		posted:    map[digest]uint64{},
		recent:    map[digest]struct{}{},
	}
}

// SetMessageWindow sets how many recent messages the room keeps (at least
// 1), before any fact is applied.
func (r *Room) SetMessageWindow(n int) {
	r.window = max(n, 1)
}

// SetDigestWindow sets how many idempotency digests the room keeps (at
// least 1). Set on a room that holds more, it drops the oldest: a room
// restored from a snapshot taken with another setting gets this one.
func (r *Room) SetDigestWindow(n int) {
	r.digests = max(n, 1)
	r.trimDigests()
}

// trimDigests drops the oldest digests beyond the room's digest window.
func (r *Room) trimDigests() {
	for r.postedOrder.len() > r.digests {
		d := r.postedOrder.pop()
		r.archivedThrough = max(r.archivedThrough, r.posted[d])
		r.archived.add(d)
		delete(r.posted, d)
	}
}

// ArchivedThrough is the id of the newest message whose idempotency
// digest the room dropped, 0 if it dropped none: a clientId not held may
// be one of a message up to it.
func (r *Room) ArchivedThrough() uint64 { return r.archivedThrough }

// Old reports whether message id, not in the room's window, may be one of
// its older messages: only the log can tell (Decision.Lookup).
func (r *Room) Old(id uint64) bool {
	_, in := r.messages[id]
	return !in && id != 0 && id <= r.floor
}

// Size estimates the bytes the room state holds, to bound a cache of rooms.
func (r *Room) Size() int {
	const (
		base       = 1024
		perMember  = 64
		perAuthor  = 64
		perMessage = 64 // messages and order
		perPosted  = 64 // posted and postedOrder
		perReact   = 96
		// A message with reactions has two small maps of its own (reactions
		// and emojis): some 700 bytes of heap measured (BenchmarkRoomFlood).
		perReacted = 600
		perCommand = 56 // recent and ring
	)
	n := base + len(r.Name) + len(r.PasswordHash) + len(r.LegacySHA256)
	for m := range r.Members {
		n += perMember + len(m)
	}
	return n + perAuthor*len(r.authors) + perMessage*len(r.messages) + perPosted*len(r.posted) +
		perReact*r.nReactions + perReacted*len(r.reactions) + perCommand*r.ring.len() + 8*len(r.archived)
}

// IsMember reports whether user is a member of the room.
func (r *Room) IsMember(user string) bool {
	_, ok := r.Members[user]
	return ok
}

// HasCommand reports whether a fact caused by command id is among the room's
// recent facts.
func (r *Room) HasCommand(id string) bool {
	_, ok := r.recent[digestOf(id)]
	return ok
}

// PostedBy returns the id of the message user posted with clientID, if any.
func (r *Room) PostedBy(user, clientID string) (uint64, bool) {
	id, ok := r.posted[digestOf(user, clientID)]
	return id, ok
}

// Message returns message id of the room, deleted or not.
func (r *Room) Message(id uint64) (Message, bool) {
	m, ok := r.messages[id]
	if !ok {
		return Message{}, false
	}
	return Message{Author: r.authors[m.author], Deleted: m.deleted}, true
}

// Emojis reports how many distinct emoji message id carries, and whether
// emoji is one of them.
func (r *Room) Emojis(id uint64, emoji string) (distinct int, has bool) {
	es := r.emojis[id]
	return len(es), es[emoji] > 0
}

// react adds (on) or removes reaction rc of message id. Adding one already
// there, or removing one that is not, changes nothing.
func (r *Room) react(id uint64, rc Reaction, on bool) {
	rs := r.reactions[id]
	if _, has := rs[rc]; has == on {
		return
	}
	if on {
		if rs == nil {
			rs = map[Reaction]struct{}{}
			r.reactions[id] = rs
			r.emojis[id] = map[string]int{}
		}
		rs[rc] = struct{}{}
		r.nReactions++
		r.emojis[id][rc.Emoji]++
		return
	}
	delete(rs, rc)
	r.nReactions--
	es := r.emojis[id]
	if es[rc.Emoji]--; es[rc.Emoji] == 0 {
		delete(es, rc.Emoji)
	}
	if len(rs) == 0 {
		delete(r.reactions, id)
		delete(r.emojis, id)
	}
}

// Reacted reports whether message id carries reaction rc.
func (r *Room) Reacted(id uint64, rc Reaction) bool {
	_, ok := r.reactions[id][rc]
	return ok
}

// author returns the index of user in r.authors, adding it if new.
func (r *Room) author(user string) uint32 {
	i, ok := r.authorOf[user]
	if !ok {
		i = uint32(len(r.authors))
		r.authors = append(r.authors, user)
		r.authorOf[user] = i
	}
	return i
}

// Apply folds the next fact of the room into the state. A fact already
// applied (by stream sequence) is skipped; a fact that does not carry the next
// room seq is an error, and the state must then be thrown away.
func (r *Room) Apply(s events.Stored) error {
	if s.Room != r.ID {
		return fmt.Errorf("room %s: fact %d belongs to room %q", r.ID, s.ID, s.Room)
	}
	if s.ID != 0 && s.ID <= r.LastID {
		return nil
	}
	if s.Seq != r.Head+1 {
		return fmt.Errorf("room %s: fact %d has seq %d where %d was due", r.ID, s.ID, s.Seq, r.Head+1)
	}
	switch s.Type {
	case events.RoomCreated:
		d, err := events.DecodeData[events.RoomCreatedData](s.Fact)
		if err != nil {
			return fmt.Errorf("room %s seq %d: %w", r.ID, s.Seq, err)
		}
		r.Exists, r.Name, r.IsPrivate, r.PasswordHash = true, d.Name, d.IsPrivate, d.PasswordHash
		if d.PasswordHash == "" {
			r.LegacySHA256 = d.LegacyPasswordSHA256
		}
		r.Members[s.User] = struct{}{}
	case events.RoomPasswordUpgraded:
		d, err := events.DecodeData[events.RoomPasswordUpgradedData](s.Fact)
		if err != nil {
			return fmt.Errorf("room %s seq %d: %w", r.ID, s.Seq, err)
		}
		r.PasswordHash, r.LegacySHA256 = d.PasswordHash, ""
	case events.MemberJoined:
		r.Members[s.User] = struct{}{}
	case events.MemberLeft:
		delete(r.Members, s.User)
	case events.MessagePosted:
		d, err := events.DecodeData[events.MessagePostedData](s.Fact)
		if err != nil {
			return fmt.Errorf("room %s seq %d: %w", r.ID, s.Seq, err)
		}
		r.messages[s.ID] = message{author: r.author(s.User)}
		if d.ClientID != "" {
			r.post(digestOf(s.User, d.ClientID), s.ID)
		}
		r.order.push(windowed{id: s.ID})
		for r.order.len() > r.window {
			r.forget(r.order.pop())
		}
	case events.MessageEdited:
		// The text is not needed to decide anything.
	case events.MessageDeleted:
		d, err := events.DecodeData[events.MessageDeletedData](s.Fact)
		if err != nil {
			return fmt.Errorf("room %s seq %d: %w", r.ID, s.Seq, err)
		}
		if m, ok := r.messages[d.ID]; ok {
			m.deleted = true
			r.messages[d.ID] = m
			r.dropReactions(d.ID)
		}
	case events.ReactionAdded, events.ReactionRemoved:
		d, err := events.DecodeData[events.ReactionData](s.Fact)
		if err != nil {
			return fmt.Errorf("room %s seq %d: %w", r.ID, s.Seq, err)
		}
		if _, ok := r.messages[d.ID]; ok {
			r.react(d.ID, Reaction{s.User, d.Emoji}, s.Type == events.ReactionAdded)
		}
	default:
		return fmt.Errorf("room %s seq %d: %s is not a room fact", r.ID, s.Seq, s.Type)
	}
	r.Head, r.LastID = s.Seq, s.ID
	if s.Type != events.RoomPasswordUpgraded {
		// An upgrade is a step of a room.join, not its outcome: the join's
		// own fact follows it, so its command is not done yet.
		r.remember(s.Cmd, s.At)
	}
	return nil
}

// post records that message id was posted with digest dg, dropping the
// oldest digest beyond the room's digest window.
func (r *Room) post(dg digest, id uint64) {
	if _, ok := r.posted[dg]; !ok {
		r.postedOrder.push(dg)
	}
	r.posted[dg] = id
	r.trimDigests()
}

// forget drops a message that left the window, and its reactions: a
// command naming it looks it up (its clientId's digest stays until the
// digest window drops it).
func (r *Room) forget(w windowed) {
	delete(r.messages, w.id)
	r.dropReactions(w.id)
	r.floor = w.id
}

// dropReactions drops the reactions of message id.
func (r *Room) dropReactions(id uint64) {
	r.nReactions -= len(r.reactions[id])
	delete(r.reactions, id)
	delete(r.emojis, id)
}

// verifyLegacy checks a join's password against the room's legacy SHA-256
// credential: the hex digests are compared in constant time. A room without
// a well-formed legacy credential never verifies.
func verifyLegacy(legacyHex, pw string) bool {
	if len(legacyHex) != sha256.Size*2 {
		return false
	}
	sum := sha256.Sum256([]byte(pw))
	got := hex.EncodeToString(sum[:])
	return subtle.ConstantTimeCompare([]byte(got), []byte(strings.ToLower(legacyHex))) == 1
}

// PasswordUpgrade is the room.password_upgraded fact that replaces the
// room's legacy credential with hash (argon2id, of the password the join
// proved), caused by the join command of in. Decide asks for it with
// Decision.Upgrade; the caller hashes (which needs randomness) and appends.
func PasswordUpgrade(r *Room, in Input, hash string) (events.Fact, error) {
	return events.NewFact(events.RoomPasswordUpgraded, r.ID, r.Head+1, in.Cmd.User, in.Cmd.ID, in.Now,
		events.RoomPasswordUpgradedData{PasswordHash: hash})
}

// remember adds a command id, of a fact of time at, to the recent ones,
// forgetting the oldest beyond RecentCommands that are older than
// CommandHorizon.
func (r *Room) remember(id string, at time.Time) {
	if id == "" {
		return
	}
	d := digestOf(id)
	if _, ok := r.recent[d]; ok {
		return
	}
	t := at.UnixNano()
	r.ring.push(command{id: d, at: t})
	r.recent[d] = struct{}{}
	for r.ring.len() > RecentCommands && r.ring.peek().at < t-int64(CommandHorizon) {
		delete(r.recent, r.ring.pop().id)
	}
}
