package readmodel

import (
	"reflect"
	"testing"
	"time"

	"github.com/chillin-chat/chillin/events/cachelayout"
)

// A search's q is matched as text: its own LIKE wildcards and escapes
// match only themselves.
func TestLikePattern(t *testing.T) {
	for q, want := range map[string]string{
		"tea":      `%tea%`,
		"100%":     `%100\%%`,
		"a_b":      `%a\_b%`,
		`back\`:    `%back\\%`,
		`\%_`:      `%\\\%\_%`,
		"":         `%%`,
		"Tea Time": `%Tea Time%`,
	} {
		if got := likePattern(q); got != want {
			t.Errorf("likePattern(%q) = %q, want %q", q, got, want)
		}
	}
}

// A room entry read from the cache counts its members.
func TestFromCache(t *testing.T) {
	at := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	got := fromCache(cachelayout.RoomEntry{ID: "tea", Name: "Tea", Description: "cups", IsPrivate: true, CreatedBy: "alice",
		CreatedAt: at, HeadSeq: 42, Members: []string{"bob", "alice"}, Posted: 7})
	want := Room{ID: "tea", Name: "Tea", Description: "cups", IsPrivate: true, HeadSeq: 42, CreatedBy: "alice", CreatedAt: at,
		MemberCount: 2, Members: []string{"bob", "alice"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("fromCache = %+v, want %+v", got, want)
	}
}
