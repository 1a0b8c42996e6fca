package pg

import (
	"fmt"
	"slices"
	"time"

	"github.com/chillin-chat/chillin/events"
)

// Stmt is one SQL statement of a plan with its arguments.
type Stmt struct {
	SQL  string
	Args []any
}

// Skip is a fact the plan leaves out because its payload cannot be read.
type Skip struct {
	Seq  uint64
	Type string
	Err  error
}

// Plan is what a batch of facts does to the tables: statements to run in
// order inside one transaction, and the facts skipped as unreadable.
type Plan struct {
	Stmts   []Stmt
	Skipped []Skip
}

// The statements of the fold. Inserts are ON CONFLICT DO NOTHING and updates
// are guarded, so running a fact a second time changes nothing.
const (
	sqlInsertUser = `INSERT INTO users (id, display_name, password_hash, created_at, fact_id)
VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`

	// A credential upgrade replaces whatever the row held: facts arrive in
	// log order, so the last one applied is the current credential.
	sqlSetUserPassword = `UPDATE users SET password_hash = $2 WHERE id = $1`

	// Like a credential, the last avatar applied is the current one.
	sqlSetUserAvatar = `UPDATE users SET avatar_key = $2 WHERE id = $1`

	sqlInsertRoom = `INSERT INTO rooms (id, name, description, is_private, password_hash, created_by, created_at, head_seq, last_fact_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING`

	sqlSetRoomPassword = `UPDATE rooms SET password_hash = $2 WHERE id = $1`

	sqlInsertMember = `INSERT INTO room_members (room_id, user_id, joined_at)
VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`

	sqlDeleteMember = `DELETE FROM room_members WHERE room_id = $1 AND user_id = $2`

	// The message.posted facts of a batch are one statement. Attachments are
	// inserted only for messages this statement inserted, so a replayed post
	// of a since-deleted message does not bring its attachments back.
	sqlInsertMessages = `WITH ins AS (
	INSERT INTO messages (id, room_id, seq, user_id, client_id, text, reply_to, created_at)
	SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::bigint[], $8::timestamptz[])
	ON CONFLICT DO NOTHING
	RETURNING id
)
INSERT INTO attachments (message_id, position, key, name, content_type, size)
SELECT a.message_id, a.position, a.key, a.name, a.content_type, a.size
FROM unnest($9::bigint[], $10::int[], $11::text[], $12::text[], $13::text[], $14::bigint[])
	AS a(message_id, position, key, name, content_type, size)
WHERE a.message_id IN (SELECT id FROM ins)
ON CONFLICT DO NOTHING`

	sqlEditMessage = `UPDATE messages SET text = $3, edited_at = $4
WHERE id = $1 AND room_id = $2 AND deleted_at IS NULL`

	// Deleting leaves a tombstone row (the room seq and id stay taken) and
	// removes what hangs off the message.
	sqlDeleteMessage = `WITH m AS (
	UPDATE messages SET text = '', deleted_at = COALESCE(deleted_at, $3)
	WHERE id = $1 AND room_id = $2
	RETURNING id
), r AS (
	DELETE FROM reactions WHERE message_id IN (SELECT id FROM m)
)
DELETE FROM attachments WHERE message_id IN (SELECT id FROM m)`

	sqlAddReaction = `INSERT INTO reactions (message_id, user_id, emoji, created_at)
SELECT $1::bigint, $2::text, $3::text, $4::timestamptz
WHERE EXISTS (SELECT 1 FROM messages WHERE id = $1 AND room_id = $5 AND deleted_at IS NULL)
ON CONFLICT DO NOTHING`

	sqlRemoveReaction = `DELETE FROM reactions WHERE message_id = $1 AND user_id = $2 AND emoji = $3`

	sqlStartSession = `INSERT INTO sessions (id, user_id, created_at, expires_at)
VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`

	sqlRefreshSession = `UPDATE sessions SET expires_at = $3 WHERE id = $1 AND user_id = $2`

	sqlRevokeSession = `UPDATE sessions SET revoked_at = COALESCE(revoked_at, $3) WHERE id = $1 AND user_id = $2`

	// One statement per batch moves every touched room's head forward.
	sqlAdvanceHeads = `UPDATE rooms AS r
SET head_seq = GREATEST(r.head_seq, h.seq), last_fact_id = GREATEST(r.last_fact_id, h.fact_id)
FROM unnest($1::text[], $2::bigint[], $3::bigint[]) AS h(id, seq, fact_id)
WHERE r.id = h.id`
)

// Credentials as the password_hash columns hold them: an argon2id PHC string,
// or one of these markers. Neither marker is a PHC string any argon2id
// verifier accepts, so a legacy credential can never be taken for one.
const (
	// LegacyCredential prefixes the original app's unsalted SHA-256 (hex) of
	// an imported user or room that has not logged in or been joined since.
	LegacyCredential = "$legacy-sha256$"
	// NoCredential is an imported name that only wrote messages: no
	// password logs in as it.
	NoCredential = "!"
)

// postRun collects the message.posted facts of a batch as column arrays.
type postRun struct {
	ids, seqs                []int64
	rooms, users, cids, text []string
	replyTo                  []*int64
	at                       []time.Time

	attMsg, attSize          []int64
	attPos                   []int32
	attKey, attName, attType []string
}

func (r *postRun) add(f events.Stored, d events.MessagePostedData) {
	r.ids = append(r.ids, int64(f.ID))
	r.rooms = append(r.rooms, f.Room)
	r.seqs = append(r.seqs, int64(f.Seq))
	r.users = append(r.users, f.User)
	r.cids = append(r.cids, d.ClientID)
	r.text = append(r.text, d.Text)
	var reply *int64
	if d.ReplyTo != 0 {
		v := int64(d.ReplyTo)
		reply = &v
	}
	r.replyTo = append(r.replyTo, reply)
	r.at = append(r.at, f.At)
	for i, a := range d.Attachments {
		r.attMsg = append(r.attMsg, int64(f.ID))
		r.attPos = append(r.attPos, int32(i))
		r.attKey = append(r.attKey, a.Key)
		r.attName = append(r.attName, a.Name)
		r.attType = append(r.attType, a.ContentType)
		r.attSize = append(r.attSize, a.Size)
	}
}

func (r *postRun) stmt() Stmt {
	return Stmt{SQL: sqlInsertMessages, Args: []any{
		r.ids, r.rooms, r.seqs, r.users, r.cids, r.text, r.replyTo, r.at,
		nonNil(r.attMsg), nonNil(r.attPos), nonNil(r.attKey), nonNil(r.attName), nonNil(r.attType), nonNil(r.attSize),
	}}
}

// nonNil makes an empty column an empty array rather than NULL.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

type head struct{ seq, factID uint64 }

// plan folds a batch of facts, in log order, into the statements that apply
// them. It does no I/O. Facts must be in stream order and not yet applied;
// the caller filters by checkpoint.
//
// Statements run in log order, with two exceptions that cannot change the
// outcome. Every message.posted of the batch goes into one multi-row insert
// at the place of the first: a messages row is only ever written by facts
// that come after its post (edits, deletes and reactions name a message id,
// which is the id of its earlier post), so inserting a later post earlier is
// invisible to every statement in between. And room heads move once, at the
// end, to the highest seq seen (GREATEST makes it order-free).
func plan(facts []events.Stored) Plan {
	var (
		p     Plan
		run   *postRun
		at    int // index of the messages insert in p.Stmts
		heads = map[string]head{}
	)
	emit := func(sql string, args ...any) { p.Stmts = append(p.Stmts, Stmt{SQL: sql, Args: args}) }
	skip := func(f events.Stored, err error) {
		p.Skipped = append(p.Skipped, Skip{Seq: f.ID, Type: f.Type, Err: err})
	}

	for _, f := range facts {
		if events.IsRoomFact(f.Type) {
			h := heads[f.Room]
			heads[f.Room] = head{max(h.seq, f.Seq), max(h.factID, f.ID)}
		}
		if err := fold(f, emit, func() *postRun {
			if run == nil {
				// The batch's one insert of messages takes the place of its
				// first post; later posts join it (see plan).
				run = &postRun{}
				emit(sqlInsertMessages)
				at = len(p.Stmts) - 1
			}
			return run
		}); err != nil {
			skip(f, err)
		}
	}
	if run != nil {
		p.Stmts[at] = run.stmt()
	}

	if len(heads) > 0 {
		rooms := make([]string, 0, len(heads))
		for r := range heads {
			rooms = append(rooms, r)
		}
		slices.Sort(rooms)
		seqs := make([]int64, len(rooms))
		ids := make([]int64, len(rooms))
		for i, r := range rooms {
			seqs[i], ids[i] = int64(heads[r].seq), int64(heads[r].factID)
		}
		emit(sqlAdvanceHeads, rooms, seqs, ids)
	}
	return p
}

// fold emits the statements of one fact.
func fold(f events.Stored, emit func(string, ...any), posts func() *postRun) error {
	id := int64(f.ID)
	switch f.Type {
	case events.UserRegistered:
		d, err := events.DecodeData[events.UserRegisteredData](f.Fact)
		if err != nil {
			return err
		}
		if f.User == "" {
			return fmt.Errorf("user.registered without user")
		}
		name := d.DisplayName
		if name == "" {
			name = d.Username
		}
		emit(sqlInsertUser, f.User, name, d.PasswordHash, f.At, id)

	case events.UserImported:
		d, err := events.DecodeData[events.UserImportedData](f.Fact)
		if err != nil {
			return err
		}
		if f.User == "" {
			return fmt.Errorf("user.imported without user")
		}
		name := d.DisplayName
		if name == "" {
			name = d.Username
		}
		cred := NoCredential
		if d.LegacySHA256 != "" {
			cred = LegacyCredential + d.LegacySHA256
		}
		emit(sqlInsertUser, f.User, name, cred, f.At, id)

	case events.UserPasswordUpgraded:
		d, err := events.DecodeData[events.UserPasswordUpgradedData](f.Fact)
		if err != nil {
			return err
		}
		if f.User == "" || d.PasswordHash == "" {
			return fmt.Errorf("user.password_upgraded without user or hash")
		}
		emit(sqlSetUserPassword, f.User, d.PasswordHash)

	case events.UserAvatarChanged:
		d, err := events.DecodeData[events.UserAvatarChangedData](f.Fact)
		if err != nil {
			return err
		}
		if f.User == "" || d.Key == "" {
			return fmt.Errorf("user.avatar_changed without user or key")
		}
		emit(sqlSetUserAvatar, f.User, d.Key)

	case events.RoomCreated:
		d, err := events.DecodeData[events.RoomCreatedData](f.Fact)
		if err != nil {
			return err
		}
		var hash *string
		switch {
		case d.PasswordHash != "":
			hash = &d.PasswordHash
		case d.LegacyPasswordSHA256 != "":
			legacy := LegacyCredential + d.LegacyPasswordSHA256
			hash = &legacy
		}
		emit(sqlInsertRoom, f.Room, d.Name, d.Description, d.IsPrivate, hash, f.User, f.At, int64(f.Seq), id)
		emit(sqlInsertMember, f.Room, f.User, f.At)
		emit(sqlReadUpTo, f.User, f.Room, int64(f.Seq))
		emitRoomEvent(f, emit)

	case events.RoomPasswordUpgraded:
		d, err := events.DecodeData[events.RoomPasswordUpgradedData](f.Fact)
		if err != nil {
			return err
		}
		if d.PasswordHash == "" {
			return fmt.Errorf("room.password_upgraded without hash")
		}
		emit(sqlSetRoomPassword, f.Room, d.PasswordHash)

	case events.MemberJoined:
		emit(sqlInsertMember, f.Room, f.User, f.At)
		emit(sqlReadUpTo, f.User, f.Room, int64(f.Seq))
		emitRoomEvent(f, emit)

	case events.ReadMarked:
		return foldRead(f, emit)

	case events.MemberLeft:
		emit(sqlDeleteMember, f.Room, f.User)
		emitRoomEvent(f, emit)

	case events.MessagePosted:
		d, err := events.DecodeData[events.MessagePostedData](f.Fact)
		if err != nil {
			return err
		}
		posts().add(f, d)

	case events.MessageEdited:
		d, err := events.DecodeData[events.MessageEditedData](f.Fact)
		if err != nil {
			return err
		}
		emit(sqlEditMessage, int64(d.ID), f.Room, d.Text, f.At)

	case events.MessageDeleted:
		d, err := events.DecodeData[events.MessageDeletedData](f.Fact)
		if err != nil {
			return err
		}
		emit(sqlDeleteMessage, int64(d.ID), f.Room, f.At)

	case events.ReactionAdded, events.ReactionRemoved:
		d, err := events.DecodeData[events.ReactionData](f.Fact)
		if err != nil {
			return err
		}
		if f.Type == events.ReactionAdded {
			emit(sqlAddReaction, int64(d.ID), f.User, d.Emoji, f.At, f.Room)
		} else {
			emit(sqlRemoveReaction, int64(d.ID), f.User, d.Emoji)
		}

	case events.SessionStarted, events.SessionRefreshed, events.SessionRevoked:
		d, err := events.DecodeData[events.SessionData](f.Fact)
		if err != nil {
			return err
		}
		if d.Session == "" || f.User == "" {
			return fmt.Errorf("%s without session or user", f.Type)
		}
		switch f.Type {
		case events.SessionStarted:
			if d.ExpiresAt.IsZero() {
				return fmt.Errorf("session.started without expiresAt")
			}
			emit(sqlStartSession, d.Session, f.User, f.At, d.ExpiresAt)
		case events.SessionRefreshed:
			if d.ExpiresAt.IsZero() {
				return fmt.Errorf("session.refreshed without expiresAt")
			}
			emit(sqlRefreshSession, d.Session, f.User, d.ExpiresAt)
		case events.SessionRevoked:
			emit(sqlRevokeSession, d.Session, f.User, f.At)
		}

	case events.CommandRejected:
		// Rejections matter live only; no table holds them.
	}
	return nil
}
