package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chillin-chat/chillin/events"
	"github.com/chillin-chat/chillin/events/password"
	"github.com/chillin-chat/chillin/ops/internal/legacy"
)

// Digests in the example data set (ops/testdata/legacy): what the original
// app stored, unsalted SHA-256 of the passwords its README lists.
const (
	aliceDigest = "17a96502d336e4c18a43182a353d7f0a38414c6fc4daf678acae834a819cecee" // "alice-password"
	bobDigest   = "76880d60191af3b3f803a656b7716f0179928357fc32421ced973ed265e15718" // "hunter2hunter2"
	lairDigest  = "41ef4bb0b23661e66301aac36066912dac037827b4ae63a7b1165a5aa93ed4eb" // "open sesame"
)

// importExample imports the example data set into s and returns what it did.
func (s *system) importExample() *legacy.Summary {
	s.t.Helper()
	d, err := legacy.Load(os.DirFS("../testdata/legacy"))
	if err != nil {
		s.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sum, err := legacy.Import(ctx, s.js, d, legacy.Options{Dir: "ops/testdata/legacy"})
	if err != nil {
		s.t.Fatal(err)
	}
	return sum
}

// login answers a login with its status and token.
func (s *system) login(user, pw string) (int, string) {
	s.t.Helper()
	var a authAnswer
	code := s.api("POST", "/api/auth/login", "", map[string]string{"username": user, "password": pw}, &a)
	return code, a.Token
}

// subjectFacts reads every fact on a subject of CHAT_EVT.
func (s *system) subjectFacts(subject string) []events.Stored {
	s.t.Helper()
	ctx := context.Background()
	evt, err := s.js.Stream(ctx, events.EvtStream)
	if err != nil {
		s.t.Fatal(err)
	}
	last, ok, err := events.LastOnSubject(ctx, evt, subject)
	if err != nil || !ok {
		s.t.Fatalf("%s: %v (found %v)", subject, err, ok)
	}
	facts, err := events.ReadSubject(ctx, s.js, subject, 0, last.ID, 0)
	if err != nil {
		s.t.Fatal(err)
	}
	return facts
}

func (s *system) lastSeq() uint64 {
	s.t.Helper()
	evt, err := s.js.Stream(context.Background(), events.EvtStream)
	if err != nil {
		s.t.Fatal(err)
	}
	info, err := evt.Info(context.Background())
	if err != nil {
		s.t.Fatal(err)
	}
	return info.State.LastSeq
}

// pgCredential is a password_hash column as the pg projection holds it.
func (s *system) pgCredential(table, id string) string {
	s.t.Helper()
	var h *string
	if err := s.pool.QueryRow(context.Background(), `SELECT password_hash FROM `+table+` WHERE id = $1`, id).Scan(&h); err != nil {
		return "(" + err.Error() + ")"
	}
	if h == nil {
		return "(null)"
	}
	return *h
}

// dumpTables is the pg projection's state, row by row.
func (s *system) dumpTables() string {
	s.t.Helper()
	var b strings.Builder
	for _, q := range []string{
		`SELECT id, display_name, password_hash, created_at, fact_id FROM users ORDER BY id`,
		`SELECT id, name, description, is_private, COALESCE(password_hash, ''), created_by, created_at, head_seq, last_fact_id FROM rooms ORDER BY id`,
		`SELECT room_id, user_id, joined_at FROM room_members ORDER BY room_id, user_id`,
		`SELECT id, room_id, seq, user_id, client_id, text, created_at FROM messages ORDER BY id`,
	} {
		rows, err := s.pool.Query(context.Background(), q)
		if err != nil {
			s.t.Fatal(err)
		}
		for rows.Next() {
			vals, err := rows.Values()
			if err != nil {
				s.t.Fatal(err)
			}
			fmt.Fprintln(&b, vals...)
		}
		rows.Close()
	}
	return b.String()
}

// legacyMessage is what a client sees of an imported message.
type legacyMessage struct {
	ID        uint64    `json:"id"`
	Seq       uint64    `json:"seq"`
	User      string    `json:"user"`
	Text      string    `json:"text"`
	ClientID  string    `json:"clientId"`
	CreatedAt time.Time `json:"createdAt"`
}

func (m legacyMessage) String() string {
	return fmt.Sprintf("%s %q %s %s", m.User, m.Text, m.ClientID, m.CreatedAt.Format(time.RFC3339Nano))
}

// generalHistory is the example's "general" room as Chillin shows it: the
// importable messages in their original order, each with its original time,
// its author mapped to a Chillin id, and its text exactly as it was.
var generalHistory = []string{
	`alice "Welcome to the new general room!" legacy-0 2023-01-05T09:06:00Z`,
	`bob-smith "hi all" legacy-1 2023-01-06T10:20:00Z`,
	`alice "<b>bold</b> & <script>alert('hi')</script>" legacy-3 2023-01-06T10:21:00Z`,
	`guest-42 "just passing through\nbye" legacy-4 2023-01-06T10:22:00Z`,
	`zo "Grüße aus Köln 👋" legacy-5 2023-02-01T12:30:00Z`,
	`alice-2 "I am the other Alice." legacy-8 2023-02-02T08:00:00Z`,
}

func TestLegacyImport(t *testing.T) {
	s := newSystem(t)
	sum := s.importExample()
	if sum.Users.Imported != 7 || sum.Rooms.Imported != 6 || sum.Messages.Imported != 12 || sum.Messages.Skipped != 3 {
		t.Fatalf("import: %+v", sum)
	}
	s.waitPG("general", 6)
	eventually(t, 20*time.Second, "the other rooms in postgres", func() bool {
		return len(s.pgMessages("random")) == 2 && len(s.pgMessages("book-club-2")) == 1
	})

	// Imported again: the log and every table stay as they were.
	tables, head := s.dumpTables(), s.lastSeq()
	again := s.importExample()
	if again.Users.Present != 7 || again.Rooms.Present != 6 || again.Messages.Present != 12 ||
		again.Users.Imported+again.Rooms.Imported+again.Messages.Imported+again.Joins != 0 {
		t.Fatalf("second import: %+v", again)
	}
	if s.lastSeq() != head || s.dumpTables() != tables {
		t.Fatal("the second import changed the log or the tables")
	}

	code, token := s.login("alice", "alice-password")
	if code != http.StatusOK {
		t.Fatalf("alice's first login: %d", code)
	}

	t.Run("history over REST", func(t *testing.T) {
		var out struct {
			Messages []legacyMessage `json:"messages"`
			HasMore  bool            `json:"hasMore"`
		}
		if code := s.api("GET", "/api/rooms/general/messages", token, nil, &out); code != http.StatusOK {
			t.Fatalf("history: %d", code)
		}
		var got []string
		for i, m := range out.Messages {
			got = append(got, m.String())
			if i > 0 && m.ID <= out.Messages[i-1].ID {
				t.Errorf("message %d has id %d after %d", i, m.ID, out.Messages[i-1].ID)
			}
		}
		if strings.Join(got, "\n") != strings.Join(generalHistory, "\n") || out.HasMore {
			t.Fatalf("history:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(generalHistory, "\n"))
		}
	})

	t.Run("history over a WebSocket join", func(t *testing.T) {
		c := s.dial(token)
		_, evs := c.join("general", nil)
		var kinds, got []string
		for _, ev := range evs {
			kinds = append(kinds, ev.Kind+":"+ev.User)
			if ev.Kind == events.MessagePosted {
				var m legacyMessage
				if err := json.Unmarshal(ev.Data, &m); err != nil {
					t.Fatal(err)
				}
				if m.ID != ev.ID || m.Seq != ev.Seq {
					t.Fatalf("message %+v in event %+v", m, ev)
				}
				got = append(got, m.String())
			}
		}
		if strings.Join(got, "\n") != strings.Join(generalHistory, "\n") {
			t.Fatalf("joined and saw:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(generalHistory, "\n"))
		}
		want := "room.created:alice message.posted:alice member.joined:bob-smith message.posted:bob-smith message.posted:alice " +
			"member.joined:guest-42 message.posted:guest-42 member.joined:zo message.posted:zo member.joined:alice-2 message.posted:alice-2"
		if strings.Join(kinds, " ") != want {
			t.Fatalf("events %s\nwant   %s", strings.Join(kinds, " "), want)
		}
	})

	t.Run("legacy logins are upgraded once", func(t *testing.T) {
		// alice has logged in once: her legacy digest is gone for argon2id.
		facts := s.subjectFacts(events.UserSubject("alice"))
		if len(facts) != 2 || facts[0].Type != events.UserImported || facts[1].Type != events.UserPasswordUpgraded {
			var types []string
			for _, f := range facts {
				types = append(types, f.Type)
			}
			t.Fatalf("alice's facts after her first login: %v, want user.imported and user.password_upgraded", types)
		}
		up, err := events.DecodeData[events.UserPasswordUpgradedData](facts[1].Fact)
		if err != nil {
			t.Fatal(err)
		}
		if ok, err := password.Verify("alice-password", up.PasswordHash); err != nil || !ok || !strings.HasPrefix(up.PasswordHash, "$argon2id$") {
			t.Fatalf("upgraded credential %q: %v %v", up.PasswordHash, ok, err)
		}
		eventually(t, 20*time.Second, "alice's argon2id hash in postgres", func() bool {
			return s.pgCredential("users", "alice") == up.PasswordHash
		})
		for _, tc := range []struct {
			user, pw string
			want     int
		}{
			{"alice", "alice-password", http.StatusOK}, // argon2id from now on
			{"alice", "Alice-password", http.StatusUnauthorized},
			{"alice", aliceDigest, http.StatusUnauthorized},
		} {
			if code, _ := s.login(tc.user, tc.pw); code != tc.want {
				t.Errorf("login %s with %q: %d, want %d", tc.user, tc.pw, code, tc.want)
			}
		}
		if n := len(s.subjectFacts(events.UserSubject("alice"))); n != 2 {
			t.Fatalf("alice has %d facts after more logins, want 2: one upgrade only", n)
		}

		// bob has not logged in: postgres holds his digest, marked so that
		// nothing takes it for argon2id; wrong passwords change nothing.
		if got := s.pgCredential("users", "bob-smith"); got != "$legacy-sha256$"+bobDigest {
			t.Fatalf("bob's credential in postgres: %q", got)
		}
		for _, pw := range []string{"hunter2", bobDigest, "$legacy-sha256$" + bobDigest} {
			if code, _ := s.login("bob-smith", pw); code != http.StatusUnauthorized {
				t.Errorf("bob logged in with %q: %d", pw, code)
			}
		}
		if n := len(s.subjectFacts(events.UserSubject("bob-smith"))); n != 1 {
			t.Fatalf("failed logins appended to bob's facts: %d", n)
		}

		for _, tc := range []struct {
			user, pw string
			want     int
		}{
			{"bob-smith", "hunter2hunter2", http.StatusOK},
			{"bob smith", "hunter2hunter2", http.StatusUnauthorized}, // the legacy name is no username
			{"alice-2", "Wonderland!", http.StatusOK},                // the other Alice, renamed
			{"alice-2", "alice-password", http.StatusUnauthorized},
			{"zo", "ünïcödé-pass", http.StatusOK},
			{"dave", "anything-at-all", http.StatusUnauthorized}, // no password in the old app
			{"guest-42", "anything-at-all", http.StatusUnauthorized},
		} {
			if code, _ := s.login(tc.user, tc.pw); code != tc.want {
				t.Errorf("login %s with %q: %d, want %d", tc.user, tc.pw, code, tc.want)
			}
		}
		// A name that only wrote messages still cannot register anew.
		var a authAnswer
		if code := s.api("POST", "/api/auth/register", "", map[string]string{"username": "guest-42", "password": "password-guest"}, &a); code != http.StatusConflict {
			t.Fatalf("registering an imported name: %d", code)
		}
	})

	t.Run("a legacy room password is upgraded at the first join", func(t *testing.T) {
		eventually(t, 20*time.Second, "secret-lair in postgres", func() bool {
			return s.pgCredential("rooms", "secret-lair") == "$legacy-sha256$"+lairDigest
		})
		_, bob := s.login("bob-smith", "hunter2hunter2")
		_, zo := s.login("zo", "ünïcödé-pass")
		cb, cz := s.dial(bob), s.dial(zo)
		for _, pw := range []string{"", "open", lairDigest} {
			reply, _ := cb.request("room:join", map[string]any{"room": "secret-lair", "password": pw})
			if reply["ok"] != false || !strings.Contains(fmt.Sprint(reply["error"]), events.CodeWrongPassword) {
				t.Fatalf("join with %q: %v", pw, reply)
			}
		}
		joinWith := func(c *client, pw string) []eventData {
			t.Helper()
			reply, _ := c.request("room:join", map[string]any{"room": "secret-lair", "password": pw})
			if reply["ok"] != true {
				t.Fatalf("%s joins with the room's password: %v", c.user, reply)
			}
			var evs []eventData
			for range int(reply["headSeq"].(float64)) {
				evs = append(evs, c.event())
			}
			return evs
		}
		evs := joinWith(cb, "open sesame")
		evs = append(evs, joinWith(cz, "open sesame")...)

		facts := s.subjectFacts(events.RoomSubject("secret-lair"))
		var kinds []string
		for _, f := range facts {
			kinds = append(kinds, f.Type+":"+f.User)
		}
		if got := strings.Join(kinds, " "); got != "room.created:alice message.posted:alice room.password_upgraded:bob-smith member.joined:bob-smith member.joined:zo" {
			t.Fatalf("secret-lair: %s", got)
		}
		up, err := events.DecodeData[events.RoomPasswordUpgradedData](facts[2].Fact)
		if err != nil {
			t.Fatal(err)
		}
		if ok, err := password.Verify("open sesame", up.PasswordHash); err != nil || !ok {
			t.Fatalf("upgraded room credential: %v %v", ok, err)
		}
		eventually(t, 20*time.Second, "secret-lair's argon2id hash in postgres", func() bool {
			return s.pgCredential("rooms", "secret-lair") == up.PasswordHash
		})

		// Clients learn that the upgrade happened (its seq), never a hash.
		raw, _ := json.Marshal(evs)
		for _, secret := range []string{lairDigest, "argon2id", "passwordHash", "legacyPasswordSha256"} {
			if strings.Contains(string(raw), secret) {
				t.Fatalf("a frame carries %q: %s", secret, raw)
			}
		}
	})

	t.Run("no API answer carries a legacy credential", func(t *testing.T) {
		for _, path := range []string{"/api/auth/me", "/api/rooms", "/api/rooms/secret-lair", "/api/rooms/general/members", "/api/rooms/general/messages"} {
			var raw json.RawMessage
			if code := s.api("GET", path, token, nil, &raw); code != http.StatusOK {
				t.Fatalf("%s: %d", path, code)
			}
			for _, secret := range []string{aliceDigest, bobDigest, lairDigest, "legacy-sha256", "argon2id"} {
				if strings.Contains(string(raw), secret) {
					t.Fatalf("%s carries %q: %s", path, secret, raw)
				}
			}
		}
	})
}
