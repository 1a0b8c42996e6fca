package cachelayout

import (
	"cmp"
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
	Members     []string // sorted by ReadRoom; in Redis order in read answers
	Posted      uint64   // messages ever posted
}

// DecodeRoom builds a room entry, without its members, from a room hash;
// ok is false when the hash is empty (the generation does not hold the
// room). A hash without `posted` counts no posted messages.
func DecodeRoom(id string, h map[string]string) (e RoomEntry, ok bool, err error) {
	if h["name"] == "" && h["at"] == "" {
		return RoomEntry{}, false, nil
	}
	e = RoomEntry{ID: id, Name: h["name"], Description: h["description"], IsPrivate: h["private"] == "1", CreatedBy: h["by"]}
	var at int64
	errs := []error{parseInt(h["at"], &at), parseUint(h["head"], &e.HeadSeq)}
	if v := h["posted"]; v != "" {
		errs = append(errs, parseUint(v, &e.Posted))
	}
	if err := errors.Join(errs...); err != nil {
		return RoomEntry{}, false, fmt.Errorf("room %s: %w", id, err)
	}
	e.CreatedAt = time.UnixMicro(at)
	return e, true, nil
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
