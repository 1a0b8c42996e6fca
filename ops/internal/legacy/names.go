package legacy

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"

	"github.com/chillin-chat/chillin/events"
)

// Id lengths of Chillin (events.ValidUsername, events.ValidRoomID).
const (
	maxUsername = 32
	maxRoomID   = 64
)

// UsernameBase is the Chillin user id a legacy name asks for: lowercased,
// each run of characters other than a-z, 0-9 and '_' becomes one '-',
// leading '-' and '_' and trailing '-' dropped, at most 32 characters. A
// name that leaves fewer than 2 characters becomes "user-" and the first 8
// hex digits of the name's SHA-256. The result is always a valid username.
func UsernameBase(name string) string {
	id := slug(name, func(r rune) bool { return r == '_' }, maxUsername)
	id = strings.TrimLeft(id, "_-")
	if len(id) < 2 {
		return "user-" + shortHash(name)
	}
	return id
}

// RoomBase is the Chillin room id a legacy room name asks for: the rule of
// POST /api/rooms (events.RoomIDFromName), so an old name typed into the
// new app finds the same room. A name with no letter or digit becomes
// "room-" and the first 8 hex digits of the name's SHA-256.
func RoomBase(name string) string {
	if id := events.RoomIDFromName(name); id != "" {
		return id
	}
	return "room-" + shortHash(name)
}

// Candidate is the n-th id a name may take (n from 1): the base itself,
// then base-2, base-3, …, the base cut short so that the whole fits in max.
func Candidate(base string, n, max int) string {
	if n <= 1 {
		return base
	}
	suffix := "-" + strconv.Itoa(n)
	return strings.TrimRight(base[:min(len(base), max-len(suffix))], "-_") + suffix
}

// slug lowercases s and turns each run of characters outside [a-z0-9] (and
// those keep allows) into one '-', trimmed at both ends, at most max bytes.
func slug(s string, keep func(rune) bool, max int) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') || keep(r) {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			dash = false
			b.WriteRune(r)
			continue
		}
		dash = true
	}
	id := b.String()
	if len(id) > max {
		id = id[:max]
	}
	return strings.TrimRight(id, "-")
}

func shortHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:4])
}

// keyOf is a short, stable key of a legacy name, for the command ids of the
// facts imported from it.
func keyOf(kind, name string) string {
	sum := sha256.Sum256([]byte(kind + "\x00" + name))
	return hex.EncodeToString(sum[:8])
}

// Command ids of imported facts (the facts' `cmd` and their Nats-Msg-Id).
// They are derived from the files alone, so every run of an import computes
// the same ones and recognises the facts an earlier run appended.
func userCmd(name string) string { return "legacy:user:" + keyOf("user", name) }
func roomCmd(name string) string { return "legacy:" + keyOf("room", name) + ":room" }
func joinCmd(room string, i int) string {
	return "legacy:" + keyOf("room", room) + ":join:" + strconv.Itoa(i)
}
func messageCmd(room string, i int) string {
	return "legacy:" + keyOf("room", room) + ":msg:" + strconv.Itoa(i)
}

// ClientID is the clientId of the i-th message (from 0) of a room's list in
// messages.json.
func ClientID(i int) string { return "legacy-" + strconv.Itoa(i) }

// fold is how the original app compared names: trimmed and lowercased.
func fold(name string) string { return strings.ToLower(strings.TrimSpace(name)) }
