package audit

import (
	"bufio"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/chillin-chat/chillin/events"
)

// Point is a moment in a room's history: after the fact with room seq Seq,
// or (Seq 0) after every fact with a time at or before Time.
type Point struct {
	Seq  uint64
	Time time.Time
}

// ParsePoint reads a room seq (a positive integer) or an RFC 3339 time.
func ParsePoint(s string) (Point, error) {
	if n, err := strconv.ParseUint(s, 10, 64); err == nil {
		if n == 0 {
			return Point{}, fmt.Errorf("point %q: room seqs start at 1", s)
		}
		return Point{Seq: n}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return Point{}, fmt.Errorf("point %q: want a room seq or an RFC 3339 time", s)
	}
	return Point{Time: t.UTC()}, nil
}

// includes reports whether the fact happened at or before p.
func (p Point) includes(s events.Stored) bool {
	if p.Seq != 0 {
		return s.Seq <= p.Seq
	}
	return !s.At.After(p.Time)
}

// RoomState is a room as it was at a point.
type RoomState struct {
	Room        string    `json:"room"`
	Seq         uint64    `json:"seq"` // room seq of the last fact folded
	At          time.Time `json:"at,omitzero"`
	Name        string    `json:"name,omitempty"`
	Description string    `json:"description,omitempty"`
	IsPrivate   bool      `json:"isPrivate"`
	CreatedBy   string    `json:"createdBy,omitempty"`
	Members     []string  `json:"members"`  // sorted
	Messages    []Message `json:"messages"` // in posting order, deleted ones left out
}

// Message is a message as it was at the point.
type Message struct {
	ID          uint64     `json:"id"` // stream seq of message.posted
	Seq         uint64     `json:"seq"`
	Author      string     `json:"author"`
	At          time.Time  `json:"at"`
	Text        string     `json:"text"`
	EditedAt    time.Time  `json:"editedAt,omitzero"`
	ReplyTo     uint64     `json:"replyTo,omitempty"`
	Attachments int        `json:"attachments,omitempty"`
	Reactions   []Reaction `json:"reactions,omitempty"` // by emoji
}

// Reaction is one emoji on a message and who put it there.
type Reaction struct {
	Emoji string   `json:"emoji"`
	Users []string `json:"users"` // sorted
}

// FoldRoom applies a room's facts, in room seq order, up to and including
// the point, and returns the room as it was then. Facts after the point are
// ignored; facts of other rooms are an error, as are undecodable payloads.
func FoldRoom(room string, facts []events.Stored, at Point) (RoomState, error) {
	st := RoomState{Room: room, Members: []string{}, Messages: []Message{}}
	members := map[string]bool{}
	var order []uint64
	msgs := map[uint64]*Message{}
	reactions := map[uint64]map[string]map[string]bool{}
	for _, s := range facts {
		if s.Room != room {
			return st, fmt.Errorf("fold %s: fact %d is of room %q", room, s.ID, s.Room)
		}
		if !at.includes(s) {
			break
		}
		st.Seq, st.At = s.Seq, s.At
		var err error
		switch s.Type {
		case events.RoomCreated:
			var d events.RoomCreatedData
			if d, err = events.DecodeData[events.RoomCreatedData](s.Fact); err == nil {
				st.Name, st.Description, st.IsPrivate, st.CreatedBy = d.Name, d.Description, d.IsPrivate, s.User
			}
		case events.MemberJoined:
			members[s.User] = true
		case events.MemberLeft:
			delete(members, s.User)
		case events.MessagePosted:
			var d events.MessagePostedData
			if d, err = events.DecodeData[events.MessagePostedData](s.Fact); err == nil {
				msgs[s.ID] = &Message{ID: s.ID, Seq: s.Seq, Author: s.User, At: s.At, Text: d.Text,
					ReplyTo: d.ReplyTo, Attachments: len(d.Attachments)}
				order = append(order, s.ID)
			}
		case events.MessageEdited:
			var d events.MessageEditedData
			if d, err = events.DecodeData[events.MessageEditedData](s.Fact); err == nil {
				if m, ok := msgs[d.ID]; ok {
					m.Text, m.EditedAt = d.Text, s.At
				}
			}
		case events.MessageDeleted:
			var d events.MessageDeletedData
			if d, err = events.DecodeData[events.MessageDeletedData](s.Fact); err == nil {
				delete(msgs, d.ID)
				delete(reactions, d.ID)
			}
		case events.ReactionAdded, events.ReactionRemoved:
			var d events.ReactionData
			if d, err = events.DecodeData[events.ReactionData](s.Fact); err == nil {
				if _, ok := msgs[d.ID]; !ok {
					break
				}
				byEmoji := reactions[d.ID]
				if byEmoji == nil {
					byEmoji = map[string]map[string]bool{}
					reactions[d.ID] = byEmoji
				}
				if s.Type == events.ReactionAdded {
					if byEmoji[d.Emoji] == nil {
						byEmoji[d.Emoji] = map[string]bool{}
					}
					byEmoji[d.Emoji][s.User] = true
				} else {
					delete(byEmoji[d.Emoji], s.User)
				}
			}
		}
		if err != nil {
			return st, fmt.Errorf("fold %s seq %d: %w", room, s.Seq, err)
		}
	}
	for u := range members {
		st.Members = append(st.Members, u)
	}
	slices.Sort(st.Members)
	for _, id := range order {
		m, ok := msgs[id]
		if !ok {
			continue
		}
		for emoji, users := range reactions[id] {
			if len(users) == 0 {
				continue
			}
			r := Reaction{Emoji: emoji}
			for u := range users {
				r.Users = append(r.Users, u)
			}
			slices.Sort(r.Users)
			m.Reactions = append(m.Reactions, r)
		}
		slices.SortFunc(m.Reactions, func(a, b Reaction) int { return strings.Compare(a.Emoji, b.Emoji) })
		st.Messages = append(st.Messages, *m)
	}
	return st, nil
}

// WriteText prints the room state for a reader.
func (st RoomState) WriteText(w io.Writer) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "room %s at seq %d", st.Room, st.Seq)
	if !st.At.IsZero() {
		fmt.Fprintf(bw, " (%s)", st.At.Format(time.RFC3339))
	}
	fmt.Fprintln(bw)
	if st.Seq == 0 {
		fmt.Fprintln(bw, "no facts yet")
		return bw.Flush()
	}
	private := ""
	if st.IsPrivate {
		private = ", private"
	}
	fmt.Fprintf(bw, "name %q%s, created by %s\n", st.Name, private, st.CreatedBy)
	if st.Description != "" {
		fmt.Fprintf(bw, "description %q\n", st.Description)
	}
	fmt.Fprintf(bw, "members (%d): %s\n", len(st.Members), strings.Join(st.Members, ", "))
	fmt.Fprintf(bw, "messages (%d):\n", len(st.Messages))
	for _, m := range st.Messages {
		fmt.Fprintf(bw, "  #%d seq %d %s %s: %q", m.ID, m.Seq, m.At.Format(time.RFC3339), m.Author, m.Text)
		if !m.EditedAt.IsZero() {
			fmt.Fprintf(bw, " (edited %s)", m.EditedAt.Format(time.RFC3339))
		}
		if m.ReplyTo != 0 {
			fmt.Fprintf(bw, " (reply to #%d)", m.ReplyTo)
		}
		if m.Attachments > 0 {
			fmt.Fprintf(bw, " (%d attachments)", m.Attachments)
		}
		fmt.Fprintln(bw)
		for _, r := range m.Reactions {
			fmt.Fprintf(bw, "      %s %s\n", r.Emoji, strings.Join(r.Users, ", "))
		}
	}
	return bw.Flush()
}
