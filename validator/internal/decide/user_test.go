package decide

import (
	"strings"
	"testing"
	"time"

	"github.com/chillin-chat/chillin/events"
	"github.com/chillin-chat/chillin/events/media"
)

// userOf folds facts of typ (with data) into a fresh User, at stream ids
// 10, 20, ...
func userOf(tb testing.TB, id string, facts ...events.Fact) *User {
	tb.Helper()
	u := &User{ID: id}
	for i, f := range facts {
		if err := u.Apply(events.Stored{ID: uint64(10 * (i + 1)), Fact: f}); err != nil {
			tb.Fatal(err)
		}
	}
	return u
}

func userFactOf(tb testing.TB, typ, user, cmd string, data any) events.Fact {
	tb.Helper()
	f, err := events.NewFact(typ, "", 0, user, cmd, now, data)
	if err != nil {
		tb.Fatal(err)
	}
	return f
}

func sessionID(c byte) string { return strings.Repeat(string(c), 64) }

func TestDecideRoomCreate(t *testing.T) {
	fx := newFixture(t)
	hash := hashPassword(t, "open sesame")
	for _, tc := range []struct {
		name string
		sess string
		room *Room
		data any
		want want
	}{
		{"a new room", "s-alice", NewRoom("tea-room"), events.RoomCreate{Name: "Tea room", Description: "brewing"}, want{fact: events.RoomCreated}},
		{"a new private room", "s-alice", NewRoom("vault"), events.RoomCreate{Name: "Vault", IsPrivate: true, PasswordHash: hash}, want{fact: events.RoomCreated}},
		{"a room that exists", "s-bob", fx.room, events.RoomCreate{Name: "Lobby"}, want{code: events.CodeRoomExists}},
		{"a name that gives another id", "s-alice", NewRoom("tea-room"), events.RoomCreate{Name: "Coffee room"}, want{code: events.CodeInvalidRoomName}},
		{"a name with a bidi override", "s-alice", NewRoom("tea-room"), events.RoomCreate{Name: "Tea\u202eroom"}, want{code: events.CodeInvalidRoomName}},
		{"a description with NUL", "s-alice", NewRoom("tea-room"), events.RoomCreate{Name: "Tea room", Description: "a\x00b"}, want{code: events.CodeInvalidName}},
		{"private without a hash", "s-alice", NewRoom("vault"), events.RoomCreate{Name: "Vault", IsPrivate: true}, want{code: events.CodeInvalidPassword}},
		{"a hash for a public room", "s-alice", NewRoom("vault"), events.RoomCreate{Name: "Vault", PasswordHash: hash}, want{code: events.CodeInvalidPassword}},
		{"a hash that is no argon2id hash", "s-alice", NewRoom("vault"), events.RoomCreate{Name: "Vault", IsPrivate: true, PasswordHash: "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8"}, want{code: events.CodeInvalidPassword}},
		{"a revoked session", "s-revoked", NewRoom("tea-room"), events.RoomCreate{Name: "Tea room"}, want{code: events.CodeUnauthenticated}},
		{"no session", "", NewRoom("tea-room"), events.RoomCreate{Name: "Tea room"}, want{code: events.CodeUnauthenticated}},
		{"a malformed payload", "s-alice", NewRoom("tea-room"), rawJSON(`{"name":7}`), want{code: events.CodeBadRequest}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			user := "alice"
			if s, ok := sessions[tc.sess]; ok {
				user = s.User
			}
			d := Decide(tc.room, input(t, events.CmdRoomCreate, user, tc.sess, tc.room.ID, tc.data))
			check(t, d, tc.want, tc.room, "the-cmd")
			if d.Fact == nil {
				return
			}
			got, err := events.DecodeData[events.RoomCreatedData](*d.Fact)
			if err != nil {
				t.Fatal(err)
			}
			p := tc.data.(events.RoomCreate)
			if got.Name != p.Name || got.Description != p.Description || got.IsPrivate != p.IsPrivate || got.PasswordHash != p.PasswordHash || d.Fact.User != user {
				t.Fatalf("room.created %+v by %s, asked %+v by %s", got, d.Fact.User, p, user)
			}
		})
	}
}

// Two creators of one room decide on the same empty room and both get a
// fact; the log takes the first (expected last sequence 0), and the second,
// decided again on the room as it now is, is refused.
func TestDecideRoomCreateRace(t *testing.T) {
	r := NewRoom("tea-room")
	first := Decide(r, input(t, events.CmdRoomCreate, "alice", "s-alice", r.ID, events.RoomCreate{Name: "Tea room"}))
	second := Decide(r, input(t, events.CmdRoomCreate, "carol", "s-carol", r.ID, events.RoomCreate{Name: "Tea Room!"}))
	if first.Fact == nil || second.Fact == nil || r.LastID != 0 {
		t.Fatalf("on an empty room both create it, expecting sequence 0: %+v %+v", first, second)
	}
	if err := r.Apply(events.Stored{ID: 7, Fact: *first.Fact}); err != nil {
		t.Fatal(err)
	}
	again := Decide(r, input(t, events.CmdRoomCreate, "carol", "s-carol", r.ID, events.RoomCreate{Name: "Tea Room!"}))
	check(t, again, want{code: events.CodeRoomExists}, r, "the-cmd")
}

func TestDecideUser(t *testing.T) {
	hash := hashPassword(t, "correct horse")
	registered := func(cmd string) *User {
		return userOf(t, "alice", userFactOf(t, events.UserRegistered, "alice", cmd,
			events.UserRegisteredData{Username: "alice", DisplayName: "Alice", PasswordHash: hash}))
	}
	imported := userOf(t, "alice", userFactOf(t, events.UserImported, "alice", "",
		events.UserImportedData{Username: "alice", LegacySHA256: sha256Hex("pw")}))
	upgraded := userOf(t, "alice",
		userFactOf(t, events.UserImported, "alice", "", events.UserImportedData{Username: "alice", LegacySHA256: sha256Hex("pw")}),
		userFactOf(t, events.UserPasswordUpgraded, "alice", "", events.UserPasswordUpgradedData{PasswordHash: hash}))
	messagesOnly := userOf(t, "alice", userFactOf(t, events.UserImported, "alice", "", events.UserImportedData{Username: "alice"}))
	fresh := &User{ID: "alice"}
	avatar := media.NewAvatarKey("alice")
	live := sessionID('a')
	sess := func(s Session) func(*Input) { return func(in *Input) { in.Session, in.SessionKnown = s, true } }
	target := func(s Session) func(*Input) { return func(in *Input) { in.Target, in.TargetKnown = s, true } }
	aliceLive := Session{User: "alice", ExpiresAt: now.Add(time.Hour)}

	for _, tc := range []struct {
		name    string
		typ     string
		session string
		u       *User
		data    any
		with    []func(*Input)
		code    string // rejection; "" for none
		fact    string // the fact appended; "" for none
	}{
		{"register a new name", events.CmdUserRegister, "", fresh, events.UserRegister{DisplayName: "Alice", PasswordHash: hash}, nil, "", events.UserRegistered},
		{"register a taken name", events.CmdUserRegister, "", registered("another"), events.UserRegister{DisplayName: "Alice", PasswordHash: hash}, nil, events.CodeUsernameTaken, ""},
		{"register an imported name", events.CmdUserRegister, "", messagesOnly, events.UserRegister{DisplayName: "Alice", PasswordHash: hash}, nil, events.CodeUsernameTaken, ""},
		{"register again, the same command", events.CmdUserRegister, "", registered("the-cmd"), events.UserRegister{DisplayName: "Alice", PasswordHash: hash}, nil, "", ""},
		{"register a name with any fact", events.CmdUserRegister, "", &User{ID: "alice", LastID: 3}, events.UserRegister{DisplayName: "Alice", PasswordHash: hash}, nil, events.CodeUsernameTaken, ""},
		{"register without a hash", events.CmdUserRegister, "", fresh, events.UserRegister{DisplayName: "Alice", PasswordHash: "hunter22"}, nil, events.CodeInvalidPassword, ""},
		{"register a blank display name", events.CmdUserRegister, "", fresh, events.UserRegister{DisplayName: " ", PasswordHash: hash}, nil, events.CodeInvalidName, ""},
		{"register a display name with NUL", events.CmdUserRegister, "", fresh, events.UserRegister{DisplayName: "Al\x00ice", PasswordHash: hash}, nil, events.CodeInvalidName, ""},

		{"upgrade a legacy credential", events.CmdUserUpgradePassword, "", imported, events.UserUpgradePassword{PasswordHash: hash}, nil, "", events.UserPasswordUpgraded},
		{"upgrade one upgraded already", events.CmdUserUpgradePassword, "", upgraded, events.UserUpgradePassword{PasswordHash: hash}, nil, events.CodeInvalidCredentials, ""},
		{"upgrade a registered user's", events.CmdUserUpgradePassword, "", registered("x"), events.UserUpgradePassword{PasswordHash: hash}, nil, events.CodeInvalidCredentials, ""},
		{"upgrade an unknown user's", events.CmdUserUpgradePassword, "", fresh, events.UserUpgradePassword{PasswordHash: hash}, nil, events.CodeInvalidCredentials, ""},
		{"upgrade to a malformed hash", events.CmdUserUpgradePassword, "", imported, events.UserUpgradePassword{PasswordHash: "x"}, nil, events.CodeInvalidPassword, ""},

		{"set one's avatar", events.CmdUserSetAvatar, "s-alice", registered("x"), events.UserSetAvatar{Key: avatar}, nil, "", events.UserAvatarChanged},
		{"wear another's avatar", events.CmdUserSetAvatar, "s-alice", registered("x"), events.UserSetAvatar{Key: media.NewAvatarKey("bob")}, nil, events.CodeBadAttachment, ""},
		{"an avatar that is no avatar key", events.CmdUserSetAvatar, "s-alice", registered("x"), events.UserSetAvatar{Key: "../etc/passwd"}, nil, events.CodeBadAttachment, ""},
		{"set an avatar from a revoked session", events.CmdUserSetAvatar, "s-revoked", registered("x"), events.UserSetAvatar{Key: avatar}, nil, events.CodeUnauthenticated, ""},
		{"set an avatar from bob's session", events.CmdUserSetAvatar, "s-bob", registered("x"), events.UserSetAvatar{Key: avatar}, nil, events.CodeUnauthenticated, ""},

		{"start a session", events.CmdSessionStart, live, registered("x"), events.SessionStart{ExpiresAt: now.Add(time.Hour)}, nil, "", events.SessionStarted},
		{"start a session of an imported user", events.CmdSessionStart, live, imported, events.SessionStart{ExpiresAt: now.Add(time.Hour)}, nil, "", events.SessionStarted},
		{"start a session of nobody", events.CmdSessionStart, live, fresh, events.SessionStart{ExpiresAt: now.Add(time.Hour)}, nil, events.CodeUnauthenticated, ""},
		{"start a session already expired", events.CmdSessionStart, live, registered("x"), events.SessionStart{ExpiresAt: now}, nil, events.CodeBadRequest, ""},
		{"start a session with a bad id", events.CmdSessionStart, "not-a-hash", registered("x"), events.SessionStart{ExpiresAt: now.Add(time.Hour)}, nil, events.CodeBadRequest, ""},
		{"start bob's session as alice", events.CmdSessionStart, live, registered("x"), events.SessionStart{ExpiresAt: now.Add(time.Hour)}, []func(*Input){sess(Session{User: "bob"})}, events.CodeBadRequest, ""},
		{"start a revoked session again", events.CmdSessionStart, live, registered("x"), events.SessionStart{ExpiresAt: now.Add(time.Hour)}, []func(*Input){sess(Session{User: "alice", Revoked: true})}, events.CodeBadRequest, ""},
		{"start a session recorded already", events.CmdSessionStart, live, registered("x"), events.SessionStart{ExpiresAt: now.Add(time.Hour)}, []func(*Input){sess(aliceLive)}, "", ""},

		{"refresh a live session", events.CmdSessionRefresh, live, registered("x"), events.SessionRefresh{ExpiresAt: now.Add(2 * time.Hour)}, []func(*Input){sess(aliceLive)}, "", events.SessionRefreshed},
		{"refresh to an earlier expiry", events.CmdSessionRefresh, live, registered("x"), events.SessionRefresh{ExpiresAt: now.Add(time.Minute)}, []func(*Input){sess(aliceLive)}, "", ""},
		{"refresh a revoked session", events.CmdSessionRefresh, "s-revoked", registered("x"), events.SessionRefresh{ExpiresAt: now.Add(2 * time.Hour)}, nil, events.CodeUnauthenticated, ""},
		{"refresh an unknown session", events.CmdSessionRefresh, live, registered("x"), events.SessionRefresh{ExpiresAt: now.Add(2 * time.Hour)}, nil, events.CodeUnauthenticated, ""},

		{"end one's own session", events.CmdSessionEnd, live, registered("x"), events.SessionEnd{Session: live}, []func(*Input){sess(aliceLive), target(aliceLive)}, "", events.SessionRevoked},
		{"end another session of one's own", events.CmdSessionEnd, live, registered("x"), events.SessionEnd{Session: sessionID('b')}, []func(*Input){sess(aliceLive), target(aliceLive)}, "", events.SessionRevoked},
		{"end a session ended already", events.CmdSessionEnd, live, registered("x"), events.SessionEnd{Session: live}, []func(*Input){sess(Session{User: "alice", Revoked: true}), target(Session{User: "alice", Revoked: true})}, "", ""},
		{"end bob's session", events.CmdSessionEnd, live, registered("x"), events.SessionEnd{Session: sessionID('b')}, []func(*Input){sess(aliceLive), target(Session{User: "bob"})}, events.CodeNotFound, ""},
		{"end an unknown session", events.CmdSessionEnd, live, registered("x"), events.SessionEnd{Session: sessionID('b')}, []func(*Input){sess(aliceLive)}, events.CodeNotFound, ""},
		{"end a session from a revoked one", events.CmdSessionEnd, live, registered("x"), events.SessionEnd{Session: sessionID('b')}, []func(*Input){sess(Session{User: "alice", Revoked: true}), target(aliceLive)}, events.CodeUnauthenticated, ""},
		{"end a session with a bad id", events.CmdSessionEnd, live, registered("x"), events.SessionEnd{Session: "x"}, []func(*Input){sess(aliceLive)}, events.CodeBadRequest, ""},

		{"an unknown user command", "user.paint", "", registered("x"), struct{}{}, nil, events.CodeBadRequest, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := input(t, tc.typ, "alice", tc.session, "", tc.data)
			for _, f := range tc.with {
				f(&in)
			}
			d := DecideUser(tc.u, in)
			gotCode, gotFact := "", ""
			if d.Reject != nil {
				gotCode = d.Reject.Code
			}
			if d.Fact != nil {
				gotFact = d.Fact.Type
			}
			if gotCode != tc.code || gotFact != tc.fact || d.Confirm || d.Resend != 0 {
				t.Fatalf("decision = {code %q fact %q}, want {code %q fact %q} (reject: %v)", gotCode, gotFact, tc.code, tc.fact, d.Reject)
			}
			if d.Fact == nil {
				return
			}
			if f := d.Fact; f.User != "alice" || f.Room != "" || f.Seq != 0 || f.Cmd != "the-cmd" || !f.At.Equal(now) {
				t.Fatalf("fact envelope %+v", f)
			}
			if _, err := events.DecodeFact(mustEncode(t, *d.Fact)); err != nil {
				t.Fatalf("the fact does not read back: %v", err)
			}
		})
	}
}

// The facts are about the command's user and session only, whatever the
// payload says.
func TestDecideUserFactsNameTheCommandsUser(t *testing.T) {
	hash := hashPassword(t, "correct horse")
	in := input(t, events.CmdUserRegister, "alice", "", "", rawJSON(`{"displayName":"Alice","passwordHash":"`+hash+`","username":"bob"}`))
	d := DecideUser(&User{ID: "alice"}, in)
	if d.Fact == nil {
		t.Fatalf("registration refused: %v", d.Reject)
	}
	reg, err := events.DecodeData[events.UserRegisteredData](*d.Fact)
	if err != nil || reg.Username != "alice" || FactSubject(*d.Fact) != events.UserSubject("alice") {
		t.Fatalf("registered %+v (%v) on %s", reg, err, FactSubject(*d.Fact))
	}

	live := sessionID('a')
	in = input(t, events.CmdSessionStart, "alice", live, "", rawJSON(`{"expiresAt":"`+now.Add(time.Hour).Format(time.RFC3339)+`","session":"`+sessionID('b')+`","user":"bob"}`))
	d = DecideUser(&User{ID: "alice", Exists: true, LastID: 4}, in)
	if d.Fact == nil {
		t.Fatalf("session start refused: %v", d.Reject)
	}
	sd, err := events.DecodeData[events.SessionData](*d.Fact)
	if err != nil || sd.Session != live || d.Fact.User != "alice" || FactSubject(*d.Fact) != events.SessionSubject("alice") {
		t.Fatalf("session fact %+v (%v) by %s on %s", sd, err, d.Fact.User, FactSubject(*d.Fact))
	}

	if d := DecideUser(&User{ID: "bob"}, in); d.Reject == nil || d.Reject.Code != events.CodeInternal {
		t.Fatalf("alice's command decided on bob: %+v", d)
	}
}

// Two registrations of one name decided on the same state both take it;
// the log keeps the first (expected last sequence 0 on the user subject),
// and the second, decided again on the user as the log now holds it, is
// refused.
func TestDecideRegistrationRace(t *testing.T) {
	hash := hashPassword(t, "correct horse")
	u := &User{ID: "alice"}
	a := input(t, events.CmdUserRegister, "alice", "", "", events.UserRegister{DisplayName: "Alice", PasswordHash: hash})
	b := a
	b.Cmd.ID = "other-cmd"
	first, second := DecideUser(u, a), DecideUser(u, b)
	if first.Fact == nil || second.Fact == nil || u.LastID != 0 {
		t.Fatalf("on a free name both take it, expecting sequence 0: %+v %+v", first, second)
	}
	if err := u.Apply(events.Stored{ID: 9, Fact: *first.Fact}); err != nil {
		t.Fatal(err)
	}
	if d := DecideUser(u, b); d.Reject == nil || d.Reject.Code != events.CodeUsernameTaken {
		t.Fatalf("the second registration decided again: %+v", d)
	}
	if d := DecideUser(u, a); d.Reject != nil || d.Fact != nil {
		t.Fatalf("the first registration decided again: %+v", d)
	}
}

func TestSessionTarget(t *testing.T) {
	for _, tc := range []struct {
		typ  string
		data any
		want string
	}{
		{events.CmdSessionEnd, events.SessionEnd{Session: sessionID('c')}, sessionID('c')},
		{events.CmdSessionEnd, events.SessionEnd{Session: "chat.evt.>"}, ""},
		{events.CmdSessionEnd, rawJSON(`[1]`), ""},
		{events.CmdSessionRefresh, events.SessionEnd{Session: sessionID('c')}, ""},
	} {
		if got := SessionTarget(input(t, tc.typ, "alice", "", "", tc.data).Cmd); got != tc.want {
			t.Errorf("SessionTarget(%s %v) = %q, want %q", tc.typ, tc.data, got, tc.want)
		}
	}
}
