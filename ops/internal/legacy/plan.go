package legacy

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/chillin-chat/chillin/events"
)

// Limits of Chillin's room names and descriptions (POST /api/rooms) and
// display names.
const (
	maxRoomName    = 100
	maxDescription = 500
	maxDisplayName = 64
)

// anonymous is the creator the original app recorded when it knew none.
const anonymous = "anonymous"

// Plan is what an import does, worked out from the files alone: the same
// files always give the same plan, which is what makes a re-run recognise
// what an earlier run appended. Only the final ids depend on the log (see
// Candidate and Import).
type Plan struct {
	// Users are the legacy names that become Chillin users, in the order in
	// which they claim ids: names from users.json that are valid Chillin
	// usernames as written, then the other users.json names, each group by
	// (createdAt, name); then names that only appear as message authors or
	// room creators, in order of first appearance.
	Users []Identity
	// Rooms in the order in which they claim ids: rooms.json names that are
	// valid room ids as written, then the others, by (createdAt, name); then
	// rooms that only appear in messages.json, by name.
	Rooms []PlannedRoom
	// Skipped are legacy records that will not be imported, with why.
	Skipped []Skipped
	// EmptyRooms counts the messages.json lists skipped as rooms: no
	// messages and no rooms.json record.
	EmptyRooms int
	// Notes are changes the import makes to what it brings over.
	Notes []string
}

// Identity is one legacy name that becomes one Chillin user.
type Identity struct {
	Name string // as written in the files
	Base string // UsernameBase(Name): the id it asks for
	Cmd  string
	At   time.Time
	// Data is the user.imported payload, without Username (set once the id
	// is known).
	Data events.UserImportedData
	// Listed: the name has a users.json record (and perhaps a credential);
	// otherwise it only wrote messages or created rooms, and cannot log in.
	Listed bool
}

// PlannedRoom is one room to import with its messages.
type PlannedRoom struct {
	Name     string // the legacy name
	Base     string // RoomBase(Name)
	Cmd      string
	Creator  int // index into Plan.Users
	At       time.Time
	Data     events.RoomCreatedData
	Messages []PlannedMessage
}

// PlannedMessage is one message to import.
type PlannedMessage struct {
	Index  int // position in the room's list in messages.json
	Author int // index into Plan.Users
	Text   string
	At     time.Time
}

// Skipped is a legacy record left out, and why.
type Skipped struct {
	Where  string `json:"where"`
	Reason string `json:"reason"`
}

// NewPlan works out the import of d. now stands in for the creation time of
// a room that records none and has no messages.
func NewPlan(d *Data, now time.Time) *Plan {
	p := &Plan{}
	byName := map[string]int{}
	byFold := map[string][]int{}
	add := func(id Identity) int {
		p.Users = append(p.Users, id)
		i := len(p.Users) - 1
		byName[id.Name] = i
		byFold[fold(id.Name)] = append(byFold[fold(id.Name)], i)
		return i
	}

	users := slices.Clone(d.Users)
	slices.SortStableFunc(users, func(a, b User) int {
		return cmp.Or(
			-cmpBool(UsernameBase(a.Name) == a.Name, UsernameBase(b.Name) == b.Name),
			cmpTime(a.CreatedAt, b.CreatedAt),
			strings.Compare(a.Name, b.Name))
	})
	recorded := map[int]bool{} // identities whose time comes from users.json
	for _, u := range users {
		recorded[len(p.Users)] = !u.CreatedAt.IsZero()
		add(Identity{
			Name: u.Name, Base: UsernameBase(u.Name), Cmd: userCmd(u.Name), At: u.CreatedAt, Listed: true,
			Data: events.UserImportedData{DisplayName: displayName(u.Name), LegacyName: u.Name,
				LegacySHA256: u.SHA256, Email: u.Email, AvatarURL: u.Avatar},
		})
	}
	// user finds the identity of a name as the files use it: the users.json
	// record of that exact name, else the first one equal to it trimmed and
	// lowercased (the original app's own comparison), else a new identity
	// for a name that has no record.
	user := func(name string, at time.Time) int {
		i, ok := byName[name]
		if !ok {
			if same := byFold[fold(name)]; len(same) > 0 {
				i, ok = same[0], true
			}
		}
		if !ok {
			return add(Identity{Name: name, Base: UsernameBase(name), Cmd: userCmd(name), At: at,
				Data: events.UserImportedData{DisplayName: displayName(name), LegacyName: name}})
		}
		// A name without a recorded time exists from its first appearance.
		if id := &p.Users[i]; !recorded[i] && !at.IsZero() && (id.At.IsZero() || at.Before(id.At)) {
			id.At = at
		}
		return i
	}

	// Match messages.json lists to rooms.json records: by exact name, then
	// the rest by trimmed, lowercased name; lists that match no record are
	// rooms of their own (the original app created rooms by joining them).
	rooms := slices.Clone(d.Rooms)
	slices.SortStableFunc(rooms, func(a, b Room) int {
		return cmp.Or(
			-cmpBool(RoomBase(a.Name) == a.Name, RoomBase(b.Name) == b.Name),
			cmpTime(a.CreatedAt, b.CreatedAt),
			strings.Compare(a.Name, b.Name))
	})
	lists := make([]*RoomMessages, len(rooms))
	var orphans []*RoomMessages
	for pass := range 2 {
		for i := range d.Messages {
			rm := &d.Messages[i]
			if slices.Contains(lists, rm) || slices.Contains(orphans, rm) {
				continue
			}
			for j, r := range rooms {
				if lists[j] == nil && (r.Name == rm.Room || (pass == 1 && fold(r.Name) == fold(rm.Room))) {
					lists[j] = rm
					break
				}
			}
			if pass == 1 && !slices.Contains(lists, rm) {
				orphans = append(orphans, rm)
			}
		}
	}
	slices.SortStableFunc(orphans, func(a, b *RoomMessages) int { return strings.Compare(a.Room, b.Room) })

	for j, r := range rooms {
		var msgs []Message
		if lists[j] != nil {
			msgs = lists[j].Messages
		}
		at := r.CreatedAt
		if at.IsZero() && len(msgs) > 0 {
			at = msgs[0].At
		}
		if at.IsZero() {
			at = now
			p.note("room %s: no creation time and no messages; created at the time of the import", quote(r.Name))
		}
		creator := r.Creator
		if strings.TrimSpace(creator) == "" {
			creator = anonymous
			p.note("room %s: no creator recorded; created by %q, as the original app showed it", quote(r.Name), anonymous)
		}
		data := events.RoomCreatedData{
			Name:        p.clip("room "+quote(r.Name)+" name", roomName(r.Name), maxRoomName),
			Description: p.clip("room "+quote(r.Name)+" description", strings.TrimSpace(r.Description), maxDescription),
		}
		switch {
		case r.IsPrivate && r.SHA256 != "":
			data.IsPrivate, data.LegacyPasswordSHA256 = true, r.SHA256
		case r.IsPrivate:
			p.note("room %s: marked private without a password; imported as public, as the original app let anyone in", quote(r.Name))
		case r.SHA256 != "":
			p.note("room %s: a password on a public room; ignored, as the original app never asked for it", quote(r.Name))
		}
		pr := PlannedRoom{Name: r.Name, Base: RoomBase(r.Name), Cmd: roomCmd(r.Name), Creator: user(creator, at), At: at, Data: data}
		pr.Messages = p.messages(lists[j], user)
		p.Rooms = append(p.Rooms, pr)
	}
	for _, rm := range orphans {
		if len(rm.Messages) == 0 {
			p.Skipped = append(p.Skipped, Skipped{Where: fmt.Sprintf("%s %s", rm.Pos, quote(rm.Room)),
				Reason: "a room with no messages and no record in rooms.json"})
			p.EmptyRooms++
			continue
		}
		first := rm.Messages[0]
		pr := PlannedRoom{Name: rm.Room, Base: RoomBase(rm.Room), Cmd: roomCmd(rm.Room), At: first.At,
			Creator: user(first.User, first.At), Data: events.RoomCreatedData{Name: p.clip("room "+quote(rm.Room)+" name", roomName(rm.Room), maxRoomName)}}
		p.note("room %s: not in rooms.json; created public, by the author of its first message, at that message's time", quote(rm.Room))
		pr.Messages = p.messages(rm, user)
		p.Rooms = append(p.Rooms, pr)
	}
	for i := range p.Users {
		if p.Users[i].At.IsZero() {
			p.Users[i].At = now
			p.note("user %s: no creation time and nothing written; registered at the time of the import", quote(p.Users[i].Name))
		}
	}
	return p
}

// messages plans the importable messages of a list and records the others.
func (p *Plan) messages(rm *RoomMessages, user func(string, time.Time) int) []PlannedMessage {
	if rm == nil {
		return nil
	}
	var out []PlannedMessage
	for i, m := range rm.Messages {
		if why := textProblem(m.Text); why != "" {
			p.Skipped = append(p.Skipped, Skipped{Where: fmt.Sprintf("%s %s[%d] by %s", m.Pos, quote(rm.Room), i, quote(m.User)), Reason: why})
			continue
		}
		out = append(out, PlannedMessage{Index: i, Author: user(m.User, m.At), Text: m.Text, At: m.At})
	}
	return out
}

// Facts counts the facts a fresh import of p appends (joins excluded: they
// depend on who is a member already).
func (p *Plan) Facts() (users, rooms, messages int) {
	for _, r := range p.Rooms {
		messages += len(r.Messages)
	}
	return len(p.Users), len(p.Rooms), messages
}

func (p *Plan) note(format string, args ...any) {
	p.Notes = append(p.Notes, fmt.Sprintf(format, args...))
}

// clip cuts s to max code points, noting it.
func (p *Plan) clip(what, s string, max int) string {
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	p.note("%s: longer than %d characters; cut short", what, max)
	return string([]rune(s)[:max])
}

func displayName(name string) string {
	name = strings.TrimSpace(name)
	if utf8.RuneCountInString(name) > maxDisplayName {
		name = string([]rune(name)[:maxDisplayName])
	}
	return name
}

func roomName(name string) string {
	if n := strings.TrimSpace(name); n != "" {
		return n
	}
	return RoomBase(name)
}

func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

// cmpTime orders known times first, earliest first.
func cmpTime(a, b time.Time) int {
	switch {
	case a.IsZero() && b.IsZero():
		return 0
	case a.IsZero():
		return 1
	case b.IsZero():
		return -1
	}
	return a.Compare(b)
}
