package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/chillin-chat/chillin/events"
)

// Table tests of the gateway's pure helpers: request parsing, the shape of
// REST answers, and the keys it keeps in Redis.

func TestPageOf(t *testing.T) {
	for _, tc := range []struct {
		query      string
		def, max   int
		wantLimit  int
		wantCursor string
	}{
		{"", roomPageDefault, maxPageLimit, 1000, ""},
		{"limit=7", roomPageDefault, maxPageLimit, 7, ""},
		{"limit=7&cursor=lobby", roomPageDefault, maxPageLimit, 7, "lobby"},
		{"", memberPageDefault, memberPageMax, 100, ""},
		// Above a list's own bound (checkRequest admits up to 1,000): clamped.
		{"limit=1000", memberPageDefault, memberPageMax, 500, ""},
		{"cursor=alice", memberPageDefault, memberPageMax, 100, "alice"},
	} {
		t.Run(tc.query, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/api/rooms?"+tc.query, nil)
			limit, cursor := pageOf(r, tc.def, tc.max)
			if limit != tc.wantLimit || cursor != tc.wantCursor {
				t.Fatalf("pageOf(%d, %d) = %d, %q; want %d, %q", tc.def, tc.max, limit, cursor, tc.wantLimit, tc.wantCursor)
			}
		})
	}
}

func TestHistoryPage(t *testing.T) {
	for _, tc := range []struct {
		query      string
		wantLimit  int
		wantBefore int64
		wantErr    bool
	}{
		{"", 50, math.MaxInt64, false},
		{"limit=1", 1, math.MaxInt64, false},
		{"limit=100&before=42", 100, 42, false},
		{"before=9223372036854775807", 50, math.MaxInt64, false},
		{"limit=0", 0, 0, true},
		{"limit=101", 0, 0, true},
		{"limit=-5", 0, 0, true},
		{"limit=ten", 0, 0, true},
		{"before=0", 0, 0, true},
		{"before=-1", 0, 0, true},
		{"before=9223372036854775808", 0, 0, true},
	} {
		t.Run(tc.query, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/api/rooms/x/messages?"+tc.query, nil)
			limit, before, err := historyPage(r)
			if tc.wantErr {
				var e *events.Error
				if !errors.As(err, &e) || e.Code != events.CodeBadRequest {
					t.Fatalf("historyPage = %d, %d, %v; want BAD_REQUEST", limit, before, err)
				}
				return
			}
			if err != nil || limit != tc.wantLimit || before != tc.wantBefore {
				t.Fatalf("historyPage = %d, %d, %v; want %d, %d", limit, before, err, tc.wantLimit, tc.wantBefore)
			}
		})
	}
}

func TestDecodeBody(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		ok         bool
	}{
		{"the fields", `{"username":"a","password":"b","displayName":"c"}`, true},
		{"some of them", `{"username":"a"}`, true},
		{"an unknown field", `{"username":"a","role":"admin"}`, false},
		{"not JSON", `username=a`, false},
		{"cut short", `{"username":`, false},
		{"empty", ``, false},
		{"a field of another type", `{"username":1}`, false},
		{"over 64 KiB", `{"username":"` + strings.Repeat("a", maxBody) + `"}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c credentials
			err := decodeBody(httptest.NewRequest("POST", "/", strings.NewReader(tc.body)), &c)
			var e *events.Error
			switch {
			case tc.ok && err != nil:
				t.Fatalf("refused: %v", err)
			case !tc.ok && (!errors.As(err, &e) || e.Code != events.CodeBadRequest):
				t.Fatalf("decodeBody = %v; want BAD_REQUEST", err)
			}
		})
	}
}

// Every code a REST route answers with has its status (the codes of
// TestStatusOf aside).
func TestStatusOfEveryCode(t *testing.T) {
	for code, want := range map[string]int{
		events.CodeForbidden: 403, events.CodeWrongPassword: 403, events.CodeNotFound: 404,
		events.CodeTooManySockets: 429, events.CodeRateLimited: 429, events.CodeTimeout: 503, events.CodeBadRequest: 400,
		events.CodeInvalidUsername: 400, events.CodeInvalidPassword: 400, events.CodeInvalidName: 400,
		events.CodeInvalidRoom: 400, "SOMETHING_NEW": 400,
	} {
		if got := statusOf(code); got != want {
			t.Errorf("statusOf(%s) = %d, want %d", code, got, want)
		}
	}
}

// answer is a recorded REST answer's status, headers and error.
type answer struct {
	status int
	header http.Header
	err    events.Error
}

func record(t *testing.T, write func(w http.ResponseWriter)) answer {
	t.Helper()
	w := httptest.NewRecorder()
	write(w)
	var body struct{ Error events.Error }
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatalf("answer %s: %v", w.Body.Bytes(), err)
	}
	if ct, cc := w.Header().Get("Content-Type"), w.Header().Get("Cache-Control"); ct != "application/json" || cc != "no-store" {
		t.Errorf("Content-Type %q, Cache-Control %q; want application/json, no-store", ct, cc)
	}
	return answer{status: w.Code, header: w.Header(), err: body.Error}
}

// An internal error is answered 500 INTERNAL and never shown; a
// user-facing one keeps its code and message, wrapped or not.
func TestFail(t *testing.T) {
	s := &Server{log: slog.New(slog.DiscardHandler)}
	secret := errors.New("pq: password authentication failed for user chillin")
	a := record(t, func(w http.ResponseWriter) { s.fail(w, fmt.Errorf("list rooms: %w", secret)) })
	if a.status != 500 || a.err.Code != events.CodeInternal || strings.Contains(a.err.Message, "pq") {
		t.Errorf("internal error answered %d %+v", a.status, a.err)
	}
	wrapped := fmt.Errorf("create: %w", events.Errorf(events.CodeRoomExists, "taken"))
	if a := record(t, func(w http.ResponseWriter) { s.fail(w, wrapped) }); a.status != 409 || a.err.Code != events.CodeRoomExists || a.err.Message != "taken" {
		t.Errorf("wrapped refusal answered %d %+v", a.status, a.err)
	}
}

func TestFailFile(t *testing.T) {
	s := &Server{log: slog.New(slog.DiscardHandler)}
	for code, want := range map[string]int{
		events.CodeStorageUnavailable: 503, events.CodeBadUpload: 400, events.CodeBadAttachment: 400,
		events.CodeFileDeleted: 410, events.CodeNotFound: 404, events.CodeForbidden: 403,
		events.CodeUnavailable: 503, events.CodeInvalidName: 400,
	} {
		a := record(t, func(w http.ResponseWriter) { s.failFile(w, events.Errorf(code, "x")) })
		if a.status != want || a.err.Code != code {
			t.Errorf("failFile(%s) answered %d %s, want %d", code, a.status, a.err.Code, want)
		}
	}
}

// Refusals that say when to come back carry Retry-After, in whole seconds
// rounded up, agreeing with error.retryAfterMs.
func TestRetryAfterHeaders(t *testing.T) {
	s := &Server{log: slog.New(slog.DiscardHandler)}
	limited := func(ms int64) *events.Error {
		e := events.Errorf(events.CodeRateLimited, "slow down")
		e.RetryAfterMs = ms
		return e
	}
	for _, tc := range []struct {
		name       string
		write      func(w http.ResponseWriter)
		status     int
		code       string
		retryAfter string
	}{
		{"rate limited, 1 ms", func(w http.ResponseWriter) { tooMany(w, limited(1)) }, 429, events.CodeRateLimited, "1"},
		{"rate limited, 1 s", func(w http.ResponseWriter) { tooMany(w, limited(1000)) }, 429, events.CodeRateLimited, "1"},
		{"rate limited, 1.001 s", func(w http.ResponseWriter) { tooMany(w, limited(1001)) }, 429, events.CodeRateLimited, "2"},
		{"rate limited, an hour", func(w http.ResponseWriter) { tooMany(w, limited(3600_000)) }, 429, events.CodeRateLimited, "3600"},
		{"too many attempts", func(w http.ResponseWriter) { s.failThrottled(w, tooManyAttempts(90*time.Second+time.Millisecond)) }, 429, codeTooManyAttempts, "91"},
		{"server busy", func(w http.ResponseWriter) { s.failThrottled(w, errBusy) }, 503, codeServerBusy, "1"},
		{"anything else", func(w http.ResponseWriter) { s.failThrottled(w, events.Errorf(events.CodeInvalidPassword, "short")) }, 400, events.CodeInvalidPassword, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := record(t, tc.write)
			if a.status != tc.status || a.err.Code != tc.code || a.header.Get("Retry-After") != tc.retryAfter {
				t.Fatalf("answered %d %s Retry-After %q; want %d %s %q", a.status, a.err.Code, a.header.Get("Retry-After"), tc.status, tc.code, tc.retryAfter)
			}
		})
	}
	if e := tooManyAttempts(1500 * time.Millisecond); e.RetryAfterMs != 1500 || !strings.Contains(e.Message, "2 s") {
		t.Errorf("tooManyAttempts(1.5s) = %+v", e)
	}
}

// The keys of the gateway's state in Redis, as README.md and
// docs/operations.md name them: one prefix for every key.
func TestRedisKeys(t *testing.T) {
	s := &Server{cfg: Config{RedisPrefix: "chillin:"}}
	s.cfg.Throttle = Throttle{
		LoginPerAccountAddress: Rule{1, time.Minute}, LoginPerAccount: Rule{2, time.Minute},
		LoginPerAddress: Rule{3, time.Minute}, RegisterPerAddress: Rule{4, time.Hour}, RoomPassword: Rule{5, time.Second},
	}
	login := s.loginCounters("alice", "2001:db8::/64")
	got := []counter{login[0], login[1], login[2], s.registerCounter("203.0.113.7"), s.roomPasswordCounter("alice", "vault")}
	want := []counter{
		{"chillin:throttle:login:pair:alice:2001:db8::/64", s.cfg.Throttle.LoginPerAccountAddress},
		{"chillin:throttle:login:account:alice", s.cfg.Throttle.LoginPerAccount},
		{"chillin:throttle:login:address:2001:db8::/64", s.cfg.Throttle.LoginPerAddress},
		{"chillin:throttle:register:203.0.113.7", s.cfg.Throttle.RegisterPerAddress},
		{"chillin:throttle:roompw:vault:alice", s.cfg.Throttle.RoomPassword},
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("counter %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	for got, want := range map[string]string{
		s.sessionKey("ab12"):    "chillin:sess:ab12",
		s.leasesKey("alice"):    "chillin:sockets:alice",
		s.throttleKey("x", "y"): "chillin:throttle:x:y",
	} {
		if got != want {
			t.Errorf("key %q, want %q", got, want)
		}
	}
}

// appendFailed tells a command that was surely not stored (the gateway may
// answer UNAVAILABLE at once) from one that may have been.
func TestAppendFailed(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"refused by the server", &jetstream.APIError{Code: 503, ErrorCode: jetstream.JSErrCodeStreamNotFound}, true},
		{"a wrapped refusal", fmt.Errorf("publish: %w", &jetstream.APIError{Code: 400}), true},
		{"no responders", nats.ErrNoResponders, true},
		{"a wrapped no responders", fmt.Errorf("publish: %w", nats.ErrNoResponders), true},
		{"disconnected", nats.ErrReconnectBufExceeded, true},
		{"connection closed", nats.ErrConnectionClosed, true},
		{"too large", nats.ErrMaxPayload, true},
		{"a bad subject", nats.ErrBadSubject, true},
		{"the request gone", context.Canceled, true},
		{"no ack in time", nats.ErrTimeout, false},
		{"the deadline passed", context.DeadlineExceeded, false},
		{"anything else", errors.New("i/o"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := appendFailed(tc.err); got != tc.want {
				t.Fatalf("appendFailed(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

func TestUserJSON(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	plain := userRecord{ID: "alice", DisplayName: "Alice A", PasswordHash: "$argon2id$secret", LegacySHA256: "abc", CreatedAt: at}.json()
	if plain != (userJSON{ID: "alice", Username: "alice", DisplayName: "Alice A", CreatedAt: at}) {
		t.Errorf("without an avatar: %+v", plain)
	}
	b, _ := json.Marshal(plain)
	if !strings.Contains(string(b), `"avatarUrl":null`) || strings.Contains(string(b), "argon2id") || strings.Contains(string(b), "abc") {
		t.Errorf("encoded %s: want avatarUrl null and no credential", b)
	}
	with := userRecord{ID: "alice", AvatarKey: "v/alice/xyz"}.json()
	if with.AvatarURL == nil || *with.AvatarURL != "/api/files/v/alice/xyz" {
		t.Errorf("with an avatar: %v", with.AvatarURL)
	}
}

func TestTruncate(t *testing.T) {
	for _, tc := range []struct {
		s    string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"exactly", 7, "exactly"},
		{"longer", 4, "long"},
		{"héllo", 2, "h"}, // never half a character
		{"héllo", 3, "hé"},
		{"日本", 4, "日"},
		{"", 0, ""},
	} {
		if got := truncate(tc.s, tc.n); got != tc.want {
			t.Errorf("truncate(%q, %d) = %q, want %q", tc.s, tc.n, got, tc.want)
		}
	}
}
