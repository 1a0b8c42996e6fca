package events

import (
	"regexp"
	"strings"
)

var (
	roomIDRe   = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,63}$`)
	usernameRe = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{1,31}$`)
	clientIDRe = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,64}$`)
)

// MaxClientIDLen bounds a message's clientId, in bytes.
const MaxClientIDLen = 64

// ValidRoomID reports whether id is a room id: a lowercase slug of at most 64
// characters that is also a single subject token.
func ValidRoomID(id string) bool { return roomIDRe.MatchString(id) }

// ValidUsername reports whether name is a user id: 2 to 32 characters of
// lowercase letters, digits, '_' and '-', starting with a letter or digit.
func ValidUsername(name string) bool { return usernameRe.MatchString(name) }

// ValidClientID reports whether id is a clientId a client may choose: 1 to
// MaxClientIDLen characters of ASCII letters, digits, '.', '_', ':' and '-'
// (enough for a UUID, a ULID or a counter).
func ValidClientID(id string) bool { return clientIDRe.MatchString(id) }

// NormalizeUsername lowercases and trims a username as typed by a person.
func NormalizeUsername(name string) string {
	return strings.ToLower(strings.TrimSpace(name))
}

// RoomIDFromName derives a room id from a room's display name: lowercased,
// each run of characters outside [a-z0-9] becomes '-', leading and trailing
// '-' dropped, at most 64 characters. It returns "" when nothing is left.
func RoomIDFromName(name string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(name) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
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
	if len(id) > 64 {
		id = strings.TrimRight(id[:64], "-")
	}
	return id
}
