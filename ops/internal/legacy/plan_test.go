package legacy

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

var importTime = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

func TestPlanOfTheExample(t *testing.T) {
	p := NewPlan(example(t), importTime)

	var users []string
	for _, u := range p.Users {
		users = append(users, u.Name+"→"+u.Base)
	}
	// Names valid as written claim first, then the others by creation time,
	// then names that have no users.json record, in order of appearance.
	want := "alice→alice dave→dave Alice→alice bob smith→bob-smith zoë→zo guest 42→guest-42 anonymous→anonymous"
	if got := strings.Join(users, " "); got != want {
		t.Fatalf("users\n got %s\nwant %s", got, want)
	}
	for i, listed := range []bool{true, true, true, true, true, false, false} {
		u := p.Users[i]
		if u.Listed != listed || (u.Data.LegacySHA256 != "") != (listed && u.Name != "dave") {
			t.Errorf("user %q: listed %v, credential %q", u.Name, u.Listed, u.Data.LegacySHA256)
		}
	}
	if g := p.Users[5]; !g.At.Equal(time.Date(2023, 1, 6, 10, 22, 0, 0, time.UTC)) || g.Data.DisplayName != "guest 42" {
		t.Errorf("guest 42 exists from its first message: %+v", g)
	}

	var rooms []string
	for _, r := range p.Rooms {
		var msgs []string
		for _, m := range r.Messages {
			msgs = append(msgs, p.Users[m.Author].Name)
		}
		rooms = append(rooms, r.Name+"→"+r.Base+" by "+p.Users[r.Creator].Name+": "+strings.Join(msgs, ","))
	}
	want = strings.Join([]string{
		"general→general by alice: alice,bob smith,alice,guest 42,zoë,Alice",
		"book club→book-club by bob smith: bob smith,alice",
		"secret lair→secret-lair by alice: alice",
		"c++ & go→c-go by anonymous: ",
		"Book Club→book-club by bob smith: bob smith",
		"random→random by dave: dave,alice",
	}, "\n")
	if got := strings.Join(rooms, "\n"); got != want {
		t.Fatalf("rooms\n got:\n%s\nwant:\n%s", got, want)
	}
	general := p.Rooms[0]
	var idx []int
	for _, m := range general.Messages {
		idx = append(idx, m.Index)
	}
	if !reflect.DeepEqual(idx, []int{0, 1, 3, 4, 5, 8}) || general.Messages[2].Text != "<b>bold</b> & <script>alert('hi')</script>" {
		t.Fatalf("general's messages %+v", general.Messages)
	}
	lair := p.Rooms[2].Data
	if !lair.IsPrivate || lair.LegacyPasswordSHA256 != "41ef4bb0b23661e66301aac36066912dac037827b4ae63a7b1165a5aa93ed4eb" || lair.PasswordHash != "" {
		t.Fatalf("secret lair %+v", lair)
	}

	var skipped []string
	for _, s := range p.Skipped {
		skipped = append(skipped, s.Where+": "+s.Reason)
	}
	want = strings.Join([]string{
		`messages.json:13:5 "general"[2] by "alice": message is empty`,
		`messages.json:33:5 "general"[6] by "alice": message is empty`,
		`messages.json:38:5 "general"[7] by "bob smith": text contains the disallowed character U+0007`,
	}, "\n")
	if got := strings.Join(skipped, "\n"); got != want {
		t.Fatalf("skipped\n got:\n%s\nwant:\n%s", got, want)
	}
	if len(p.Notes) != 2 {
		t.Fatalf("notes %q", p.Notes)
	}
	if u, r, m := p.Facts(); u != 7 || r != 6 || m != 12 {
		t.Fatalf("facts: %d users, %d rooms, %d messages", u, r, m)
	}
	if again := NewPlan(example(t), importTime.Add(time.Hour)); !reflect.DeepEqual(p, again) {
		t.Fatal("the same files gave another plan")
	}
}

func TestPlanOddRooms(t *testing.T) {
	at := func(s string) time.Time {
		t.Helper()
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	msg := func(user, text, ts string) Message { return Message{User: user, Text: text, At: at(ts)} }
	digest := strings.Repeat("ab", 32)
	d := &Data{
		Rooms: []Room{
			{Name: "open door", IsPrivate: true},
			{Name: "decoy", SHA256: digest, Creator: "kim", CreatedAt: at("2023-01-01T00:00:00Z")},
			{Name: "timeless"},
			{Name: "late", Creator: "kim"},
			{Name: strings.Repeat("long ", 30), Description: strings.Repeat("d", 600), Creator: "kim", CreatedAt: at("2023-01-02T00:00:00Z")},
		},
		Messages: []RoomMessages{
			{Room: "late", Messages: []Message{msg("kim", "first", "2023-05-01T00:00:00Z")}},
			{Room: "ghost town"},
			{Room: "LATE", Messages: []Message{msg("lee", "other list", "2023-05-02T00:00:00Z")}},
		},
	}
	p := NewPlan(d, importTime)
	byName := map[string]PlannedRoom{}
	for _, r := range p.Rooms {
		byName[r.Name] = r
	}
	if r := byName["open door"]; r.Data.IsPrivate || p.Users[r.Creator].Name != anonymous || !r.At.Equal(importTime) {
		t.Errorf("private without password: %+v", r)
	}
	if r := byName["decoy"]; r.Data.IsPrivate || r.Data.LegacyPasswordSHA256 != "" {
		t.Errorf("public room with a password: %+v", r.Data)
	}
	if r := byName["late"]; !r.At.Equal(at("2023-05-01T00:00:00Z")) || len(r.Messages) != 1 || r.Messages[0].Text != "first" {
		t.Errorf("a room without creation time starts with its first message: %+v", r)
	}
	// "LATE" folds to "late", whose own list was matched exactly: it is a
	// room of its own, created by its first author.
	if r, ok := byName["LATE"]; !ok || p.Users[r.Creator].Name != "lee" || r.Base != "late" {
		t.Errorf("LATE: %+v", r)
	}
	long := byName[strings.Repeat("long ", 30)]
	if n := len([]rune(long.Data.Name)); n != maxRoomName {
		t.Errorf("room name of %d characters", n)
	}
	if n := len(long.Data.Description); n != maxDescription {
		t.Errorf("description of %d characters", n)
	}
	if len(p.Skipped) != 1 || !strings.Contains(p.Skipped[0].Where, `"ghost town"`) || p.EmptyRooms != 1 {
		t.Errorf("skipped %+v", p.Skipped)
	}
	notes := strings.Join(p.Notes, "\n")
	for _, want := range []string{
		`room "open door": marked private without a password`,
		`room "decoy": a password on a public room; ignored`,
		`room "open door": no creator recorded`,
		`room "timeless": no creation time and no messages`,
		`name: longer than 100 characters; cut short`,
		`description: longer than 500 characters; cut short`,
		`room "LATE": not in rooms.json`,
	} {
		if !strings.Contains(notes, want) {
			t.Errorf("no note %q in\n%s", want, notes)
		}
	}
}
