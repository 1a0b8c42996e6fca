package legacy

import (
	"errors"
	"io/fs"
	"os"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

// example is the hand-written data set in ops/testdata/legacy (see its README).
func example(tb testing.TB) *Data {
	tb.Helper()
	d, err := Load(os.DirFS("../../testdata/legacy"))
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

func TestLoadExample(t *testing.T) {
	d := example(t)
	if len(d.Users) != 5 || len(d.Rooms) != 4 || len(d.Messages) != 6 {
		t.Fatalf("read %d users, %d rooms, %d message lists", len(d.Users), len(d.Rooms), len(d.Messages))
	}
	users := map[string]User{}
	for _, u := range d.Users {
		users[u.Name] = u
	}
	if a := users["Alice"]; a.SHA256 != "5f73c5aa825f89a6c6d25228946a3fda640e01f290e928bc6f7ffea0f35bfa15" ||
		!a.CreatedAt.Equal(time.Date(2022, 11, 30, 18, 20, 0, 0, time.UTC)) || a.Pos.String() != "users.json:10:12" {
		t.Fatalf("Alice read as %+v", a)
	}
	if dave := users["dave"]; dave.SHA256 != "" || dave.Email != "" {
		t.Fatalf("dave read as %+v", dave)
	}
	lair := d.Rooms[2]
	if lair.Name != "secret lair" || !lair.IsPrivate || lair.SHA256 == "" || lair.Creator != "alice" {
		t.Fatalf("secret lair read as %+v", lair)
	}
	general := d.Messages[0]
	if general.Room != "general" || len(general.Messages) != 9 {
		t.Fatalf("general read as %+v", general)
	}
	m := general.Messages[4]
	if m.User != "guest 42" || m.Text != "just passing through\nbye" ||
		!m.At.Equal(time.Date(2023, 1, 6, 10, 22, 0, 0, time.UTC)) || m.Pos.String() != "messages.json:23:5" {
		t.Fatalf("message 4 read as %+v", m)
	}
	if got := general.Messages[7].Text; got != "ring \a ring" {
		t.Fatalf("message 7 text %q", got)
	}
}

// A file that cannot be read as the original app wrote it stops the import
// with the file, line, column and record; nothing of it is returned.
func TestParseErrors(t *testing.T) {
	const digest = `"17a96502d336e4c18a43182a353d7f0a38414c6fc4daf678acae834a819cecee"`
	for _, tc := range []struct {
		name, file, in, want string
	}{
		{"truncated", UsersFile, "{\n  \"alice\": {\"username\": \"alice\", \"pass",
			"users.json:2:39: the file ends in the middle of a value (truncated?)"},
		{"truncated after a record", MessagesFile, "{\"general\": [\n  {\"user\": \"a\", \"text\": \"hi\", \"timestamp\": \"2023-01-01T00:00:00Z\"},\n",
			"messages.json:3:1: the file ends in the middle of a value (truncated?)"},
		{"not JSON", RoomsFile, "{\"general\": }",
			"rooms.json:1:13: invalid character '}' looking for beginning of value"},
		{"empty file", UsersFile, "",
			"users.json:1:1: the file ends in the middle of a value (truncated?)"},
		{"password of the wrong type", UsersFile, "{\n  \"alice\": {\n    \"password\": 5\n  }\n}",
			`users.json:3:5: "alice".password: want a string, found a number`},
		{"createdAt of the wrong type", UsersFile, `{"bob": {"createdAt": {"at": 1}}}`,
			`users.json:1:10: "bob".createdAt: want a string, found an object`},
		{"isPrivate of the wrong type", RoomsFile, "{\"vault\": {\"isPrivate\": \"yes, please\"}}",
			`rooms.json:1:12: "vault".isPrivate: want true or false, found a string`},
		{"text of the wrong type", MessagesFile, "{\"general\": [\n  {\"user\": \"a\", \"timestamp\": \"2023-01-01T00:00:00Z\"},\n  {\"user\": \"b\", \"text\": [\"hi\"], \"timestamp\": \"2023-01-01T00:00:01Z\"}\n]}",
			`messages.json:3:17: "general"[1].text: want a string, found an array`},
		{"a message that is not an object", MessagesFile, `{"general": ["hi"]}`,
			`messages.json:1:14: "general"[0]: want an object, found a string`},
		{"a message list that is not a list", MessagesFile, `{"general": {"user": "x"}}`,
			`messages.json:1:13: "general": want an array of messages, found an object`},
		{"a user record that is null", UsersFile, `{"alice": null}`,
			`users.json:1:11: "alice": want an object, found null`},
		{"a list of users", UsersFile, `[{"username": "alice"}]`,
			`users.json:1:1: want an object, found an array`},
		{"a duplicate key", UsersFile, "{\"alice\": {},\n \"alice\": {}}",
			`users.json:2:11: "alice": the key appears twice`},
		{"a password that is not a SHA-256", UsersFile, `{"alice": {"password": "hunter2"}}`,
			`users.json:1:11: "alice".password: not a SHA-256 digest (64 hex digits) as the original app stored passwords`},
		{"a room password that is not a SHA-256", RoomsFile, `{"vault": {"isPrivate": true, "password": "` + strings.Repeat("z", 64) + `"}}`,
			`rooms.json:1:11: "vault".password: not a SHA-256 digest`},
		{"a timestamp that is not a time", MessagesFile, `{"general": [{"user": "a", "text": "x", "timestamp": "yesterday"}]}`,
			`messages.json:1:14: "general"[0].timestamp: "yesterday" is not an ISO 8601 time`},
		{"a message without timestamp", MessagesFile, `{"general": [{"user": "a", "text": "x"}]}`,
			`messages.json:1:14: "general"[0].timestamp: a message needs its timestamp`},
		{"a message without author", MessagesFile, `{"general": [{"user": " ", "text": "x", "timestamp": "2023-01-01T00:00:00Z"}]}`,
			`messages.json:1:14: "general"[0].user: a message needs its author`},
		{"a createdAt that is not a time", RoomsFile, `{"general": {"createdAt": "2023-13-01"}}`,
			`rooms.json:1:13: "general".createdAt: "2023-13-01" is not an ISO 8601 time`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			switch tc.file {
			case UsersFile:
				var v []User
				v, err = ParseUsers([]byte(tc.in))
				if v != nil {
					t.Fatalf("records returned with an error: %+v", v)
				}
			case RoomsFile:
				_, err = ParseRooms([]byte(tc.in))
			case MessagesFile:
				_, err = ParseMessages([]byte(tc.in))
			}
			var fe *FileError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v (%T), want a *FileError", err, err)
			}
			if !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("error\n %s\nwant it to start with\n %s", err, tc.want)
			}
		})
	}
	if _, err := ParseUsers([]byte(`{"alice": {"password": ` + digest + `}}`)); err != nil {
		t.Fatalf("a good record: %v", err)
	}
}

func TestParseAcceptsWhatTheOriginalWrote(t *testing.T) {
	for name, in := range map[string]string{
		"a fresh install's empty object": "{}",
		"an empty array":                 " [ ]\n",
		"null fields and extra fields":   `{"alice": {"username": "alice", "password": null, "email": null, "memberCount": 3, "updatedAt": "2023-01-01T00:00:00.000Z"}}`,
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := ParseUsers([]byte(in)); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestLoadNamesEveryBadFile(t *testing.T) {
	fsys := fstest.MapFS{
		UsersFile:    {Data: []byte(`{"alice": {"password": 1}}`)},
		MessagesFile: {Data: []byte(`{"general": [`)},
	}
	d, err := Load(fsys)
	if d != nil || err == nil {
		t.Fatalf("Load = %v, %v", d, err)
	}
	for _, want := range []string{"users.json:1:12", "rooms.json: open rooms.json: file does not exist", "messages.json:1:14"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the missing file is not reported as missing: %v", err)
	}
}
