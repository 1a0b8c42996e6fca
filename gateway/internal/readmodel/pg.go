package readmodel

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/chillin-chat/chillin/events"
)

// The gateway's SQL: every query it runs on the Postgres projection.

const roomSelect = `SELECT r.id, r.name, r.description, r.is_private, r.head_seq, r.created_by, r.created_at,
	(SELECT count(*) FROM room_members m WHERE m.room_id = r.id),
	COALESCE((SELECT array_agg(m.user_id) FROM room_members m WHERE m.room_id = r.id), '{}')
	FROM rooms r`

func scanRooms(rows pgx.Rows) ([]Room, error) {
	defer rows.Close()
	var out []Room
	for rows.Next() {
		var r Room
		if err := rows.Scan(&r.ID, &r.Name, &r.Description, &r.IsPrivate, &r.HeadSeq, &r.CreatedBy, &r.CreatedAt, &r.MemberCount, &r.Members); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// likePattern is a LIKE pattern matching q anywhere, q's own wildcards escaped.
func likePattern(q string) string {
	return "%" + strings.NewReplacer(`\`, `\\`, "%", `\%`, "_", `\_`).Replace(q) + "%"
}

// pgRooms reads at most limit rooms in creation order after the room id
// cursor, those whose name or id contains q when given.
func (m *Model) pgRooms(ctx context.Context, q, cursor string, limit int) ([]Room, error) {
	pattern := ""
	if q != "" {
		pattern = likePattern(q)
	}
	rows, err := m.pg.Query(ctx, roomSelect+`
		WHERE ($1 = '' OR r.name ILIKE $1 OR r.id LIKE lower($1))
		AND ($2 = '' OR (r.created_at, r.id) > (SELECT c.created_at, c.id FROM rooms c WHERE c.id = $2))
		ORDER BY r.created_at, r.id LIMIT $3`, pattern, cursor, limit)
	if err != nil {
		return nil, err
	}
	return scanRooms(rows)
}

// pgRoom reads one room; ok is false when Postgres does not have it or
// cannot be read.
func (m *Model) pgRoom(ctx context.Context, id string) (Room, bool) {
	rows, err := m.pg.Query(ctx, roomSelect+` WHERE r.id = $1`, id)
	if err != nil {
		return Room{}, false
	}
	rooms, err := scanRooms(rows)
	if err != nil || len(rooms) != 1 {
		return Room{}, false
	}
	return rooms[0], true
}

func (m *Model) pgIsMember(ctx context.Context, room, user string) (bool, error) {
	var one int
	err := m.pg.QueryRow(ctx, `SELECT 1 FROM room_members WHERE room_id = $1 AND user_id = $2`, room, user).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// pgHistory returns the newest limit messages of a room with id < before,
// oldest first.
func (m *Model) pgHistory(ctx context.Context, room string, before int64, limit int) ([]events.Message, bool, error) {
	rows, err := m.pg.Query(ctx, `
		SELECT m.id, m.seq, m.user_id, m.text, m.client_id, m.reply_to, m.created_at, m.edited_at, m.deleted_at IS NOT NULL,
			COALESCE((SELECT json_agg(json_build_object('key', a.key, 'name', a.name, 'contentType', a.content_type, 'size', a.size) ORDER BY a.position)
				FROM attachments a WHERE a.message_id = m.id), '[]'),
			COALESCE((SELECT json_object_agg(e.emoji, e.users) FROM
				(SELECT emoji, json_agg(user_id ORDER BY created_at, user_id) AS users FROM reactions WHERE message_id = m.id GROUP BY emoji) e), '{}')
		FROM messages m WHERE m.room_id = $1 AND m.id < $2 ORDER BY m.id DESC LIMIT $3`, room, before, limit+1)
	if err != nil {
		return nil, false, err
	}
	defer rows.Close()
	msgs := []events.Message{}
	for rows.Next() {
		msg := events.Message{Room: room}
		var replyTo *int64
		var atts, reactions []byte
		if err := rows.Scan(&msg.ID, &msg.Seq, &msg.User, &msg.Text, &msg.ClientID, &replyTo, &msg.CreatedAt, &msg.EditedAt, &msg.Deleted, &atts, &reactions); err != nil {
			return nil, false, err
		}
		if replyTo != nil {
			id := uint64(*replyTo)
			msg.ReplyTo = &id
		}
		if err := json.Unmarshal(atts, &msg.Attachments); err != nil {
			return nil, false, err
		}
		if err := json.Unmarshal(reactions, &msg.Reactions); err != nil {
			return nil, false, err
		}
		msgs = append(msgs, msg)
	}
	if err := rows.Err(); err != nil {
		return nil, false, err
	}
	more := len(msgs) > limit
	if more {
		msgs = msgs[:limit]
	}
	for i, j := 0, len(msgs)-1; i < j; i, j = i+1, j-1 {
		msgs[i], msgs[j] = msgs[j], msgs[i]
	}
	return msgs, more, nil
}

func (m *Model) pgMembers(ctx context.Context, room, cursor string, limit int) ([]Member, error) {
	rows, err := m.pg.Query(ctx, `SELECT m.user_id, COALESCE(u.display_name, m.user_id), u.avatar_key
		FROM room_members m LEFT JOIN users u ON u.id = m.user_id WHERE m.room_id = $1 AND m.user_id > $2
		ORDER BY m.user_id LIMIT $3`, room, cursor, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Member{}
	for rows.Next() {
		var mb Member
		var avatar *string
		if err := rows.Scan(&mb.User, &mb.DisplayName, &avatar); err != nil {
			return nil, err
		}
		if avatar != nil {
			mb.AvatarKey = *avatar
		}
		out = append(out, mb)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// RoomsOf returns the rooms user is a member of, as far as it could read
// them (a failed read returns those read before it and the error).
func (m *Model) RoomsOf(ctx context.Context, user string) ([]string, error) {
	rows, err := m.pg.Query(ctx, `SELECT room_id FROM room_members WHERE user_id = $1`, user)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var rooms []string
	for rows.Next() {
		var room string
		if err := rows.Scan(&room); err != nil {
			return rooms, err
		}
		rooms = append(rooms, room)
	}
	return rooms, rows.Err()
}

// Profile is a user's profile as Postgres holds it.
type Profile struct {
	DisplayName string
	AvatarKey   string // "" for none
	CreatedAt   time.Time
}

// Profile reads a user's profile; an error also when Postgres does not have
// the user (yet).
func (m *Model) Profile(ctx context.Context, id string) (Profile, error) {
	var p Profile
	var avatar *string
	if err := m.pg.QueryRow(ctx, `SELECT display_name, avatar_key, created_at FROM users WHERE id = $1`, id).
		Scan(&p.DisplayName, &avatar, &p.CreatedAt); err != nil {
		return Profile{}, err
	}
	if avatar != nil {
		p.AvatarKey = *avatar
	}
	return p, nil
}

// Session is a session as Postgres holds it.
type Session struct {
	User      string
	StartedAt time.Time
	ExpiresAt time.Time
	Revoked   bool
}

// Session reads a session; found is false for one Postgres does not have.
func (m *Model) Session(ctx context.Context, id string) (s Session, found bool, err error) {
	var revoked *time.Time
	err = m.pg.QueryRow(ctx, `SELECT user_id, created_at, expires_at, revoked_at FROM sessions WHERE id = $1`, id).
		Scan(&s.User, &s.StartedAt, &s.ExpiresAt, &revoked)
	if errors.Is(err, pgx.ErrNoRows) {
		return Session{}, false, nil
	}
	if err != nil {
		return Session{}, false, fmt.Errorf("session from postgres: %w", err)
	}
	s.Revoked = revoked != nil
	return s, true, nil
}

// Attachment is what Postgres shows of a file attached to a message.
type Attachment struct {
	ContentType string
	Name        string
	Member      bool // the reader is a member of the message's room
}

// Attachment reads the attachment under key of a message not deleted,
// preferring one in a room reader is a member of; found is false when no
// such message holds it.
func (m *Model) Attachment(ctx context.Context, key, reader string) (a Attachment, found bool, err error) {
	err = m.pg.QueryRow(ctx, `SELECT a.content_type, a.name,
		EXISTS (SELECT 1 FROM room_members rm WHERE rm.room_id = m.room_id AND rm.user_id = $2)
		FROM attachments a JOIN messages m ON m.id = a.message_id
		WHERE a.key = $1 AND m.deleted_at IS NULL
		ORDER BY 3 DESC LIMIT 1`, key, reader).Scan(&a.ContentType, &a.Name, &a.Member)
	switch {
	case err == nil:
		return a, true, nil
	case errors.Is(err, pgx.ErrNoRows):
		return Attachment{}, false, nil
	}
	return Attachment{}, false, err
}

// Claimed tells of the message an upload was claimed for (room, its poster
// by, its client id): whether Postgres shows it deleted, and whether reader
// is a member of the room.
func (m *Model) Claimed(ctx context.Context, room, by, clientID, reader string) (deleted, inRoom bool, err error) {
	err = m.pg.QueryRow(ctx, `SELECT
		EXISTS (SELECT 1 FROM messages WHERE room_id = $1 AND user_id = $2 AND client_id = $3 AND deleted_at IS NOT NULL),
		EXISTS (SELECT 1 FROM room_members WHERE room_id = $1 AND user_id = $4)`,
		room, by, clientID, reader).Scan(&deleted, &inRoom)
	return deleted, inRoom, err
}

// Fates returns what became of the given messages of a room as far as the
// Postgres projection knows: the deleted ones and the edited ones with
// their current text.
func (m *Model) Fates(ctx context.Context, room string, ids []uint64) (events.Fates, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	keys := make([]int64, len(ids))
	for i, id := range ids {
		keys[i] = int64(id)
	}
	rows, err := m.pg.Query(ctx, `SELECT id, text, edited_at, deleted_at IS NOT NULL FROM messages
		WHERE room_id = $1 AND id = ANY($2) AND (deleted_at IS NOT NULL OR edited_at IS NOT NULL)`, room, keys)
	if err != nil {
		return nil, fmt.Errorf("message fates of %s: %w", room, err)
	}
	defer rows.Close()
	fates := events.Fates{}
	for rows.Next() {
		var (
			id       int64
			text     string
			editedAt *time.Time
			deleted  bool
		)
		if err := rows.Scan(&id, &text, &editedAt, &deleted); err != nil {
			return nil, fmt.Errorf("message fates of %s: %w", room, err)
		}
		switch {
		case deleted:
			fates[uint64(id)] = events.Fate{Deleted: true}
		case editedAt != nil:
			fates[uint64(id)] = events.Fate{Edited: true, Text: text, EditedAt: *editedAt}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("message fates of %s: %w", room, err)
	}
	return fates, nil
}
