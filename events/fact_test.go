package events

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// payloadOf returns a pointer to the latest payload struct of a fact type.
func payloadOf(typ string) any {
	switch typ {
	case RoomCreated:
		return &RoomCreatedData{}
	case MemberJoined:
		return &MemberJoinedData{}
	case MemberLeft:
		return &MemberLeftData{}
	case MessagePosted:
		return &MessagePostedData{}
	case MessageEdited:
		return &MessageEditedData{}
	case MessageDeleted:
		return &MessageDeletedData{}
	case ReactionAdded, ReactionRemoved:
		return &ReactionData{}
	case UserRegistered:
		return &UserRegisteredData{}
	case SessionStarted, SessionRefreshed, SessionRevoked:
		return &SessionData{}
	case CommandRejected:
		return &CommandRejectedData{}
	case RoomPasswordUpgraded:
		return &RoomPasswordUpgradedData{}
	case UserImported:
		return &UserImportedData{}
	case UserPasswordUpgraded:
		return &UserPasswordUpgradedData{}
	case UserAvatarChanged:
		return &UserAvatarChangedData{}
	case ReadMarked:
		return &ReadMarkedData{}
	}
	return nil
}

// TestGolden decodes the golden file of every (type, v) this code knows:
// replay depends on every version that was ever written decoding forever.
func TestGolden(t *testing.T) {
	for typ, last := range latest {
		for v := 1; v <= last; v++ {
			name := fmt.Sprintf("%s.v%d.json", typ, v)
			t.Run(name, func(t *testing.T) {
				b, err := os.ReadFile(filepath.Join("testdata", "golden", name))
				if err != nil {
					t.Fatalf("every fact version needs a golden file: %v", err)
				}
				f, err := DecodeFact(b)
				if err != nil {
					t.Fatalf("decode: %v", err)
				}
				if f.Type != typ || f.V != last {
					t.Fatalf("decoded %s v%d, want %s v%d", f.Type, f.V, typ, last)
				}
				p := payloadOf(typ)
				if p == nil {
					t.Fatalf("no payload type for %s", typ)
				}
				dec := json.NewDecoder(bytes.NewReader(f.Data))
				dec.DisallowUnknownFields()
				if err := dec.Decode(p); err != nil {
					t.Fatalf("payload: %v", err)
				}
				if f.At.IsZero() || f.User == "" {
					t.Fatalf("envelope incomplete: %+v", f)
				}
			})
		}
	}
}

// TestGoldenFilesAreKnown catches a golden file whose type was dropped.
func TestGoldenFilesAreKnown(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "golden", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	for _, file := range files {
		b, _ := os.ReadFile(file)
		var f Fact
		if err := json.Unmarshal(b, &f); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if want := fmt.Sprintf("%s.v%d.json", f.Type, f.V); filepath.Base(file) != want {
			t.Errorf("%s holds %s", file, want)
		}
		if !Known(f.Type, f.V) {
			t.Errorf("%s: %s v%d is no longer readable", file, f.Type, f.V)
		}
	}
}

func TestDecodeFactRejects(t *testing.T) {
	for name, in := range map[string]string{
		"not json":         `{"type":`,
		"unknown type":     `{"type":"room.exploded","v":1,"user":"a","at":"2026-11-22T10:00:00Z","data":{}}`,
		"future version":   `{"type":"member.joined","v":99,"room":"r","seq":1,"user":"a","at":"2026-11-22T10:00:00Z","data":{}}`,
		"room fact no seq": `{"type":"member.joined","v":1,"room":"r","user":"a","at":"2026-11-22T10:00:00Z","data":{}}`,
		"data not object":  `{"type":"member.joined","v":1,"room":"r","seq":1,"user":"a","at":"2026-11-22T10:00:00Z","data":3}`,
		"missing data":     `{"type":"member.joined","v":1,"room":"r","seq":1,"user":"a","at":"2026-11-22T10:00:00Z"}`,
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := DecodeFact([]byte(in)); err == nil {
				t.Fatal("decoded, want an error")
			}
		})
	}
}

func TestEventFrameHidesRoomPassword(t *testing.T) {
	f, err := NewFact(RoomCreated, "vault", 1, "alice", "c1", fixedTime, RoomCreatedData{Name: "Vault", IsPrivate: true, PasswordHash: "$argon2id$secret"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := EventFrame(Stored{ID: 7, Fact: f})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte("argon2id")) || bytes.Contains(b, []byte("passwordHash")) {
		t.Fatalf("frame leaks the password hash: %s", b)
	}
	if !bytes.Contains(b, []byte(`"isPrivate":true`)) {
		t.Fatalf("frame lost isPrivate: %s", b)
	}
}

// Imported rooms carry the original app's SHA-256 password until the first
// join proves it; neither it nor the argon2id hash that replaces it may reach
// a client.
func TestEventFrameHidesLegacyAndUpgradedPasswords(t *testing.T) {
	const legacy = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	created, err := NewFact(RoomCreated, "book-club", 1, "alice", "legacy:1:room", fixedTime,
		RoomCreatedData{Name: "book club", IsPrivate: true, LegacyPasswordSHA256: legacy})
	if err != nil {
		t.Fatal(err)
	}
	upgraded, err := NewFact(RoomPasswordUpgraded, "book-club", 2, "bob", "c2", fixedTime,
		RoomPasswordUpgradedData{PasswordHash: "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []Fact{created, upgraded} {
		b, err := EventFrame(Stored{ID: 9, Fact: f})
		if err != nil {
			t.Fatal(err)
		}
		for _, secret := range []string{legacy, "argon2id", "passwordHash", "legacyPassword"} {
			if bytes.Contains(b, []byte(secret)) {
				t.Fatalf("%s frame leaks %q: %s", f.Type, secret, b)
			}
		}
		if !bytes.Contains(b, []byte(`"kind":"`+f.Type+`"`)) {
			t.Fatalf("%s frame lost its kind: %s", f.Type, b)
		}
	}
}

// room.created v1 payloads upgrade to v2 unchanged.
func TestRoomCreatedV1Upgrades(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "golden", "room.created.v1.json"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := DecodeFact(b)
	if err != nil {
		t.Fatal(err)
	}
	d, err := DecodeData[RoomCreatedData](f)
	if err != nil {
		t.Fatal(err)
	}
	if f.V != 2 || d.Name != "General" || d.Description != "Anything goes" || d.IsPrivate || d.LegacyPasswordSHA256 != "" {
		t.Fatalf("upgraded to v%d %+v", f.V, d)
	}
}

func TestEventFrameMessage(t *testing.T) {
	f, err := NewFact(MessagePosted, "general", 3, "alice", "c1", fixedTime, MessagePostedData{Text: "<script>x</script>", ClientID: "k1"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := EventFrame(Stored{ID: 42, Fact: f})
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Type string
		Data struct {
			Room, Kind, User string
			Seq, ID          uint64
			Data             Message
		}
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	m := got.Data.Data
	if got.Type != "event" || got.Data.Kind != MessagePosted || got.Data.ID != 42 || got.Data.Seq != 3 ||
		m.ID != 42 || m.Text != "<script>x</script>" || m.ClientID != "k1" || m.Attachments == nil || m.Reactions == nil {
		t.Fatalf("unexpected frame %s", b)
	}
}

func FuzzDecodeFact(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "golden", "*.json"))
	for _, file := range files {
		b, _ := os.ReadFile(file)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fact, err := DecodeFact(b)
		if err != nil {
			return
		}
		// Whatever decodes must re-encode and decode to the same fact.
		enc, err := fact.Encode()
		if err != nil {
			t.Fatalf("encode: %v", err)
		}
		again, err := DecodeFact(enc)
		if err != nil {
			t.Fatalf("re-decode %s: %v", enc, err)
		}
		if again.Type != fact.Type || again.Seq != fact.Seq || again.Room != fact.Room || !again.At.Equal(fact.At) {
			t.Fatalf("round trip changed the fact: %+v vs %+v", fact, again)
		}
		if IsRoomFact(fact.Type) {
			_, _ = EventFrame(Stored{ID: 1, Fact: fact})
		}
	})
}

func FuzzDecodeCommand(f *testing.F) {
	f.Add([]byte(`{"type":"message.send","v":1,"id":"c1","user":"alice","session":"s","room":"general","at":"2026-11-22T10:00:00Z","data":{"text":"hi","clientId":"k"}}`))
	f.Add([]byte(`{"type":"room.join","v":1,"id":"c2","user":"bob","room":"x","data":{}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := DecodeCommand(b)
		if err != nil {
			return
		}
		if c.Type == "" || c.ID == "" || c.User == "" || c.V != 1 {
			t.Fatalf("accepted an incomplete command: %+v", c)
		}
	})
}
