package gateway

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestTokens(t *testing.T) {
	tok, err := newToken("alice")
	if err != nil {
		t.Fatal(err)
	}
	if user, ok := tokenUser(tok); !ok || user != "alice" {
		t.Fatalf("tokenUser(%q) = %q, %v", tok, user, ok)
	}
	other, _ := newToken("alice")
	if other == tok || sessionID(other) == sessionID(tok) {
		t.Fatal("two tokens collide")
	}
	if id := sessionID(tok); len(id) != 64 || strings.Contains(id, "alice") {
		t.Fatalf("session id %q", id)
	}
	for _, bad := range []string{"", "alice", "alice.", "Alice." + tok[6:], "alice." + tok[6:] + "x", "al.ice." + tok[6:], "alice." + strings.Repeat("!", 43)} {
		if _, ok := tokenUser(bad); ok {
			t.Errorf("tokenUser accepted %q", bad)
		}
	}
}

func TestRequestToken(t *testing.T) {
	for name, tc := range map[string]struct {
		header, cookie, want string
	}{
		"bearer":       {header: "Bearer abc", want: "abc"},
		"cookie":       {cookie: "xyz", want: "xyz"},
		"bearer wins":  {header: "Bearer abc", cookie: "xyz", want: "abc"},
		"other scheme": {header: "Basic abc", cookie: "xyz", want: ""},
		"nothing":      {want: ""},
	} {
		t.Run(name, func(t *testing.T) {
			r, _ := http.NewRequest("GET", "/", nil)
			if tc.header != "" {
				r.Header.Set("Authorization", tc.header)
			}
			if tc.cookie != "" {
				r.AddCookie(&http.Cookie{Name: cookieName, Value: tc.cookie})
			}
			if got := requestToken(r); got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestStatusOf(t *testing.T) {
	for code, want := range map[string]int{
		"UNAUTHENTICATED": 401, "INVALID_CREDENTIALS": 401, "USERNAME_TAKEN": 409, "ROOM_EXISTS": 409,
		"NO_SUCH_ROOM": 404, "NOT_MEMBER": 403, "UNAVAILABLE": 503, "INVALID_ROOM_NAME": 400, "INTERNAL": 500,
	} {
		if got := statusOf(code); got != want {
			t.Errorf("statusOf(%s) = %d, want %d", code, got, want)
		}
	}
}

func TestSlide(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	const ttl, maxAge = 24 * time.Hour, 30 * 24 * time.Hour
	for name, tc := range map[string]struct {
		now      time.Time
		wantExp  time.Time
		wantLive bool
	}{
		"fresh":                    {now: start, wantExp: start.Add(ttl), wantLive: true},
		"slides with use":          {now: start.Add(10 * 24 * time.Hour), wantExp: start.Add(11 * 24 * time.Hour), wantLive: true},
		"capped near the end":      {now: start.Add(maxAge - time.Hour), wantExp: start.Add(maxAge), wantLive: true},
		"over at the absolute end": {now: start.Add(maxAge), wantExp: start.Add(maxAge), wantLive: false},
		"over after it":            {now: start.Add(maxAge + time.Hour), wantExp: start.Add(maxAge), wantLive: false},
	} {
		t.Run(name, func(t *testing.T) {
			got, live := slide(session{ID: "x", User: "alice", StartedAt: start}, tc.now, ttl, maxAge)
			if !got.ExpiresAt.Equal(tc.wantExp) || live != tc.wantLive || got.StartedAt != start {
				t.Fatalf("slide at %v = %v, %v; want %v, %v", tc.now, got.ExpiresAt, live, tc.wantExp, tc.wantLive)
			}
		})
	}
}
