package legacy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// The files of the original app's data folder (server/data).
const (
	UsersFile    = "users.json"
	RoomsFile    = "rooms.json"
	MessagesFile = "messages.json"
)

// Data is what a legacy data folder holds, read and checked. Records are in
// file order.
type Data struct {
	Users    []User
	Rooms    []Room
	Messages []RoomMessages
}

// Pos is where a record starts in its file (1-based line and column).
type Pos struct {
	File      string
	Line, Col int
}

func (p Pos) String() string { return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col) }

// User is one entry of users.json. The original app looked users up by the
// key, so the key is the user's name.
type User struct {
	Name      string
	SHA256    string // the password's unsalted SHA-256, lowercase hex; "" if none
	Email     string
	Avatar    string
	CreatedAt time.Time // zero when the record has none
	Pos       Pos
}

// Room is one entry of rooms.json, keyed by the room's name.
type Room struct {
	Name        string
	Description string
	Creator     string
	IsPrivate   bool
	SHA256      string // the room password's unsalted SHA-256, lowercase hex; "" if none
	CreatedAt   time.Time
	Pos         Pos
}

// RoomMessages is one entry of messages.json: a room's last messages, oldest
// first, as the original app appended them.
type RoomMessages struct {
	Room     string
	Messages []Message
	Pos      Pos
}

// Message is one legacy message. User is the name its author joined the
// room with; Text may be anything the original app let through.
type Message struct {
	User string
	Text string
	At   time.Time
	Pos  Pos
}

// FileError is a file that cannot be imported: where, and what is wrong.
type FileError struct {
	Pos
	Path string // the record and field, e.g. `"bob".password`; "" for the file as a whole
	Err  error
}

func (e *FileError) Error() string {
	if e.Path == "" {
		return fmt.Sprintf("%s: %v", e.Pos, e.Err)
	}
	return fmt.Sprintf("%s: %s: %v", e.Pos, e.Path, e.Err)
}

func (e *FileError) Unwrap() error { return e.Err }

// Load reads and checks the three files of a legacy data folder. Any error
// names the file and the position in it; nothing is returned with it, so a
// caller imports all of the data or none.
func Load(fsys fs.FS) (*Data, error) {
	var d Data
	read := func(name string, parse func([]byte) error) error {
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		return parse(b)
	}
	err := errors.Join(
		read(UsersFile, func(b []byte) (err error) { d.Users, err = ParseUsers(b); return }),
		read(RoomsFile, func(b []byte) (err error) { d.Rooms, err = ParseRooms(b); return }),
		read(MessagesFile, func(b []byte) (err error) { d.Messages, err = ParseMessages(b); return }),
	)
	if err != nil {
		return nil, err
	}
	return &d, nil
}

// ParseUsers reads users.json: an object of user records by name.
func ParseUsers(b []byte) ([]User, error) {
	f := file{name: UsersFile, data: b}
	var out []User
	err := f.topObject(func(key string, raw []byte, off int) error {
		var rec struct {
			Username  string `json:"username"`
			Password  string `json:"password"`
			Email     string `json:"email"`
			Avatar    string `json:"avatar"`
			CreatedAt string `json:"createdAt"`
		}
		path := quote(key)
		if err := f.record(raw, off, path, &rec); err != nil {
			return err
		}
		u := User{Name: key, Email: rec.Email, Avatar: rec.Avatar, Pos: f.pos(off)}
		var err error
		if u.SHA256, err = digest(rec.Password); err != nil {
			return f.errAt(off, path+".password", err)
		}
		if u.CreatedAt, err = timestamp(rec.CreatedAt, false); err != nil {
			return f.errAt(off, path+".createdAt", err)
		}
		out = append(out, u)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ParseRooms reads rooms.json: an object of room records by name.
func ParseRooms(b []byte) ([]Room, error) {
	f := file{name: RoomsFile, data: b}
	var out []Room
	err := f.topObject(func(key string, raw []byte, off int) error {
		var rec struct {
			Description string `json:"description"`
			Creator     string `json:"creator"`
			CreatedAt   string `json:"createdAt"`
			IsPrivate   bool   `json:"isPrivate"`
			Password    string `json:"password"`
		}
		path := quote(key)
		if err := f.record(raw, off, path, &rec); err != nil {
			return err
		}
		r := Room{Name: key, Description: rec.Description, Creator: rec.Creator, IsPrivate: rec.IsPrivate, Pos: f.pos(off)}
		var err error
		if r.SHA256, err = digest(rec.Password); err != nil {
			return f.errAt(off, path+".password", err)
		}
		if r.CreatedAt, err = timestamp(rec.CreatedAt, false); err != nil {
			return f.errAt(off, path+".createdAt", err)
		}
		out = append(out, r)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ParseMessages reads messages.json: an object of message lists by room name.
func ParseMessages(b []byte) ([]RoomMessages, error) {
	f := file{name: MessagesFile, data: b}
	var out []RoomMessages
	err := f.topObject(func(room string, raw []byte, off int) error {
		rm := RoomMessages{Room: room, Pos: f.pos(off)}
		path := quote(room)
		err := f.array(raw, off, path, func(i int, raw []byte, off int) error {
			var rec struct {
				User      string `json:"user"`
				Text      string `json:"text"`
				Timestamp string `json:"timestamp"`
			}
			path := fmt.Sprintf("%s[%d]", path, i)
			if err := f.record(raw, off, path, &rec); err != nil {
				return err
			}
			if strings.TrimSpace(rec.User) == "" {
				return f.errAt(off, path+".user", errors.New("a message needs its author"))
			}
			at, err := timestamp(rec.Timestamp, true)
			if err != nil {
				return f.errAt(off, path+".timestamp", err)
			}
			rm.Messages = append(rm.Messages, Message{User: rec.User, Text: rec.Text, At: at, Pos: f.pos(off)})
			return nil
		})
		if err != nil {
			return err
		}
		out = append(out, rm)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// file walks one JSON file, keeping byte offsets so that every error can
// name a line and column.
type file struct {
	name string
	data []byte
}

func (f file) pos(off int) Pos {
	off = min(max(off, 0), len(f.data))
	before := f.data[:off]
	line := bytes.Count(before, []byte("\n")) + 1
	col := utf8.RuneCount(before[bytes.LastIndexByte(before, '\n')+1:]) + 1
	return Pos{File: f.name, Line: line, Col: col}
}

func (f file) errAt(off int, path string, err error) error {
	return &FileError{Pos: f.pos(off), Path: path, Err: err}
}

// topObject checks that the whole file is one JSON value, an object (or the
// empty array a fresh install of the original may leave), and calls fn for
// each member in order.
func (f file) topObject(fn func(key string, raw []byte, off int) error) error {
	var v any
	if err := json.Unmarshal(f.data, &v); err != nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			if syn.Error() == "unexpected end of JSON input" {
				return f.errAt(len(f.data), "", errors.New("the file ends in the middle of a value (truncated?)"))
			}
			// The offset is just past the offending character.
			return f.errAt(int(syn.Offset)-1, "", err)
		}
		return f.errAt(0, "", err)
	}
	if a, ok := v.([]any); ok && len(a) == 0 {
		return nil
	}
	start := len(f.data) - len(bytes.TrimLeft(f.data, " \t\r\n"))
	return f.object(bytes.TrimSpace(f.data), start, "", fn)
}

// object calls fn for each member of the JSON object raw, which starts at
// byte offset base of the file. Duplicate keys are an error: which one the
// original app saw would be a guess.
func (f file) object(raw []byte, base int, path string, fn func(key string, raw []byte, off int) error) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return f.errAt(base, path, fmt.Errorf("want an object, found %s", kind(raw)))
	}
	seen := map[string]bool{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return f.errAt(base+int(dec.InputOffset()), path, err)
		}
		key, _ := t.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return f.errAt(base+int(dec.InputOffset()), path, err)
		}
		off := base + int(dec.InputOffset()) - len(v)
		if seen[key] {
			return f.errAt(off, path+quote(key), errors.New("the key appears twice"))
		}
		seen[key] = true
		if err := fn(key, v, off); err != nil {
			return err
		}
	}
	return nil
}

// array calls fn for each element of the JSON array raw at offset base.
func (f file) array(raw []byte, base int, path string, fn func(i int, raw []byte, off int) error) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if t, err := dec.Token(); err != nil || t != json.Delim('[') {
		return f.errAt(base, path, fmt.Errorf("want an array of messages, found %s", kind(raw)))
	}
	for i := 0; dec.More(); i++ {
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return f.errAt(base+int(dec.InputOffset()), path, err)
		}
		if err := fn(i, v, base+int(dec.InputOffset())-len(v)); err != nil {
			return err
		}
	}
	return nil
}

// record decodes one record (an object) at offset off into v, reporting a
// field of the wrong type at the field's own position.
func (f file) record(raw []byte, off int, path string, v any) error {
	if raw[0] != '{' {
		return f.errAt(off, path, fmt.Errorf("want an object, found %s", kind(raw)))
	}
	err := json.Unmarshal(raw, v)
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		// te.Offset is just past the offending value; point at its key.
		at := off + int(te.Offset)
		key := regexp.MustCompile(`"` + regexp.QuoteMeta(te.Field) + `"\s*:`)
		if m := key.FindAllIndex(raw[:min(int(te.Offset), len(raw))], -1); len(m) > 0 {
			at = off + m[len(m)-1][0]
		}
		want := "a " + te.Type.String()
		switch te.Type.Kind() {
		case reflect.String:
			want = "a string"
		case reflect.Bool:
			want = "true or false"
		}
		return f.errAt(at, path+"."+te.Field, fmt.Errorf("want %s, found %s", want, article(te.Value)))
	}
	if err != nil {
		return f.errAt(off, path, err)
	}
	return nil
}

func kind(raw []byte) string {
	switch {
	case len(raw) == 0:
		return "nothing"
	case raw[0] == '{':
		return "an object"
	case raw[0] == '[':
		return "an array"
	case raw[0] == '"':
		return "a string"
	case raw[0] == 't' || raw[0] == 'f':
		return "a boolean"
	case raw[0] == 'n':
		return "null"
	}
	return "a number"
}

func article(v string) string {
	switch v {
	case "object", "array":
		return "an " + v
	case "number", "string":
		return "a " + v
	case "bool":
		return "a boolean"
	}
	return v
}

func quote(s string) string { return strconv.Quote(s) }

var hexDigest = regexp.MustCompile(`^[0-9a-fA-F]{64}$`)

// digest checks a legacy password field: empty or null (no password), or
// the 64 hex digits of an unsalted SHA-256.
func digest(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	if !hexDigest.MatchString(s) {
		return "", errors.New("not a SHA-256 digest (64 hex digits) as the original app stored passwords")
	}
	return strings.ToLower(s), nil
}

// timestamp parses an ISO 8601 time as the original app wrote them
// (Date.toISOString: 2024-03-01T10:00:00.000Z). Empty is the zero time
// unless required.
func timestamp(s string, required bool) (time.Time, error) {
	if s == "" {
		if required {
			return time.Time{}, errors.New("a message needs its timestamp")
		}
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not an ISO 8601 time such as 2024-03-01T10:00:00.000Z", s)
	}
	return t.UTC(), nil
}
