package cache

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/chillin-chat/chillin/events"
)

// RoomEntry is a room as a generation holds it.
type RoomEntry struct {
	ID          string
	Name        string
	Description string
	IsPrivate   bool
	CreatedBy   string
	CreatedAt   time.Time
	HeadSeq     uint64
	Members     []string // sorted
	Posted      uint64   // messages ever posted
}

// ReadRoom returns a room of a generation and the messages its window
// holds, oldest first; ok is false if the generation does not hold the room.
// It reads with several commands: for tests and tools, on a generation
// nobody writes meanwhile (readers of the live cache read in one script).
func (s *Store) ReadRoom(ctx context.Context, gen uint64, room string) (RoomEntry, []events.Message, bool, error) {
	h, err := s.rdb.HGetAll(ctx, s.keys.Room(gen, room)).Result()
	if err != nil {
		return RoomEntry{}, nil, false, fmt.Errorf("read room %s: %w", room, err)
	}
	if h["name"] == "" && h["at"] == "" {
		return RoomEntry{}, nil, false, nil
	}
	e := RoomEntry{ID: room, Name: h["name"], Description: h["description"], IsPrivate: h["private"] == "1", CreatedBy: h["by"]}
	var at int64
	errs := []error{
		parseInt(h["at"], &at), parseUint(h["head"], &e.HeadSeq), parseUint(h["posted"], &e.Posted),
	}
	if err := errors.Join(errs...); err != nil {
		return RoomEntry{}, nil, false, fmt.Errorf("room %s: %w", room, err)
	}
	e.CreatedAt = time.UnixMicro(at)
	if e.Members, err = s.rdb.SMembers(ctx, s.keys.Members(gen, room)).Result(); err != nil {
		return RoomEntry{}, nil, false, fmt.Errorf("read room %s members: %w", room, err)
	}
	slices.Sort(e.Members)
	ids, err := s.rdb.ZRange(ctx, s.keys.Window(gen, room), 0, -1).Result()
	if err != nil {
		return RoomEntry{}, nil, false, fmt.Errorf("read room %s window: %w", room, err)
	}
	msgs := make([]events.Message, 0, len(ids))
	for _, id := range ids {
		n, err := strconv.ParseUint(id, 10, 64)
		if err != nil {
			return RoomEntry{}, nil, false, fmt.Errorf("room %s window: id %q", room, id)
		}
		f, err := s.rdb.HGetAll(ctx, s.keys.Message(gen, n)).Result()
		if err != nil {
			return RoomEntry{}, nil, false, fmt.Errorf("read message %d: %w", n, err)
		}
		m, err := DecodeMessage(n, f)
		if err != nil {
			return RoomEntry{}, nil, false, err
		}
		msgs = append(msgs, m)
	}
	return e, msgs, true, nil
}

// DecodeMessage builds the client's `message` object from a message hash.
// Reactions are listed per emoji in the order they were added (then by
// user), as Postgres lists them.
func DecodeMessage(id uint64, f map[string]string) (events.Message, error) {
	if len(f) == 0 {
		return events.Message{}, fmt.Errorf("message %d: not in the cache", id)
	}
	m := events.Message{ID: id, Room: f["room"], User: f["user"], Text: f["text"], ClientID: f["cid"], Reactions: map[string][]string{}}
	var at, edited, reply int64
	errs := []error{parseUint(f["seq"], &m.Seq), parseInt(f["at"], &at)}
	if v := f["edited"]; v != "" {
		errs = append(errs, parseInt(v, &edited))
	}
	if v := f["reply"]; v != "" {
		errs = append(errs, parseInt(v, &reply))
	}
	if err := errors.Join(errs...); err != nil {
		return m, fmt.Errorf("message %d: %w", id, err)
	}
	m.CreatedAt = time.UnixMicro(at)
	if f["edited"] != "" {
		t := time.UnixMicro(edited)
		m.EditedAt = &t
	}
	if reply != 0 {
		r := uint64(reply)
		m.ReplyTo = &r
	}
	m.Deleted = f["deleted"] != ""
	var atts []events.Attachment
	if err := json.Unmarshal([]byte(f["att"]), &atts); err != nil {
		return m, fmt.Errorf("message %d attachments: %w", id, err)
	}
	m.Attachments = make([]events.MessageAttachment, len(atts))
	for i, a := range atts {
		m.Attachments[i] = events.MessageAttachment(a)
	}
	type reaction struct {
		user string
		at   int64
	}
	byEmoji := map[string][]reaction{}
	for k, v := range f {
		rest, ok := strings.CutPrefix(k, "r|")
		if !ok {
			continue
		}
		user, emoji, ok := strings.Cut(rest, "|")
		if !ok {
			return m, fmt.Errorf("message %d: reaction field %q", id, k)
		}
		var t int64
		if err := parseInt(v, &t); err != nil {
			return m, fmt.Errorf("message %d reaction: %w", id, err)
		}
		byEmoji[emoji] = append(byEmoji[emoji], reaction{user, t})
	}
	for emoji, rs := range byEmoji {
		slices.SortFunc(rs, func(a, b reaction) int {
			if c := cmp.Compare(a.at, b.at); c != 0 {
				return c
			}
			return strings.Compare(a.user, b.user)
		})
		users := make([]string, len(rs))
		for i, r := range rs {
			users[i] = r.user
		}
		m.Reactions[emoji] = users
	}
	return m, nil
}

func parseUint(s string, v *uint64) error {
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return fmt.Errorf("%q is not a number", s)
	}
	*v = n
	return nil
}

func parseInt(s string, v *int64) error {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return fmt.Errorf("%q is not a number", s)
	}
	*v = n
	return nil
}
