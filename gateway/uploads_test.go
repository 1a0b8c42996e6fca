package gateway_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chillin-chat/chillin/events/objstore/objstoretest"
	"github.com/chillin-chat/chillin/gateway"
)

// The files routes of uploads.go. See harness_test.go for what runs; the
// storage is a bucket of the test's own on the test S3 endpoint
// (events/objstore/objstoretest).

// Without storage every files route answers 503 STORAGE_UNAVAILABLE.
func testFilesWithoutStorage(t *testing.T, e *env) {
	g := e.gateway(t, nil)
	sam := g.register("sam")
	for _, tc := range []struct{ method, path, body string }{
		{"POST", "/api/uploads", `{"filename":"a.png","contentType":"image/png","size":10,"purpose":"attachment"}`},
		{"GET", "/api/files/v/sam/abc", ""},
		{"PUT", "/api/auth/me/avatar", `{"key":"v/sam/abc"}`},
	} {
		var body any
		if tc.body != "" {
			body = tc.body
		}
		wantError(t, tc.method+" "+tc.path, g.do(tc.method, tc.path, sam, body, nil), http.StatusServiceUnavailable, "STORAGE_UNAVAILABLE")
	}
}

// png is the smallest bytes a PNG starts with, enough for its type to be
// recognized.
var png = append([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR"), make([]byte, 32)...)

func testFiles(t *testing.T, e *env) {
	storage, store := objstoretest.NewBucket(t)
	g := e.gateway(t, func(c *gateway.Config) {
		c.Storage = storage
		c.UploadExpiry = time.Minute
	})
	tess, uma := g.register("tess"), g.register("uma")

	type form struct {
		URL       string
		Fields    map[string]string
		Key       string
		ExpiresAt time.Time
	}
	upload := func(token, body string) form {
		t.Helper()
		r := g.do("POST", "/api/uploads", token, body, nil)
		var f form
		r.decode(t, &f)
		if r.status != http.StatusOK || f.URL == "" || len(f.Fields) == 0 {
			t.Fatalf("upload %s: %d %s", body, r.status, r.body)
		}
		if d := time.Until(f.ExpiresAt); d <= 0 || d > time.Minute {
			t.Errorf("form expires in %v; want within the configured minute", d)
		}
		return f
	}
	att := upload(tess, `{"filename":"../Holiday Pic.png","contentType":"image/png","size":100,"purpose":"attachment"}`)
	if !strings.HasPrefix(att.Key, "a/") || !strings.HasSuffix(att.Key, "/Holiday_Pic.png") {
		t.Errorf("attachment key %q; want a/<random>/Holiday_Pic.png", att.Key)
	}
	avatar := upload(tess, `{"filename":"me.png","contentType":"image/png","size":100,"purpose":"avatar"}`)
	if !strings.HasPrefix(avatar.Key, "v/tess/") {
		t.Errorf("avatar key %q; want v/tess/<random>", avatar.Key)
	}

	for _, tc := range []struct {
		name, body, code string
	}{
		{"bad JSON", `{"filename":`, "BAD_REQUEST"},
		{"an unknown field", `{"filename":"a.png","contentType":"image/png","size":1,"purpose":"avatar","key":"v/uma/x"}`, "BAD_REQUEST"},
		{"a file name with a newline", `{"filename":"a\n.png","contentType":"image/png","size":1,"purpose":"attachment"}`, "INVALID_NAME"},
		{"another purpose", `{"filename":"a.png","contentType":"image/png","size":1,"purpose":"banner"}`, "BAD_UPLOAD"},
		{"a type not allowed", `{"filename":"a.exe","contentType":"application/x-msdownload","size":1,"purpose":"attachment"}`, "BAD_UPLOAD"},
		{"an avatar not an image", `{"filename":"a.pdf","contentType":"application/pdf","size":1,"purpose":"avatar"}`, "BAD_UPLOAD"},
		{"an empty file", `{"filename":"a.png","contentType":"image/png","size":0,"purpose":"attachment"}`, "BAD_UPLOAD"},
		{"a file over 10 MiB", `{"filename":"a.png","contentType":"image/png","size":10485761,"purpose":"attachment"}`, "BAD_UPLOAD"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, "upload", g.do("POST", "/api/uploads", uma, tc.body, nil), http.StatusBadRequest, tc.code)
		})
	}

	ctx := context.Background()
	if err := store.Put(ctx, att.Key, "image/png", png); err != nil {
		t.Fatal(err)
	}
	// The uploader sees an upload no message holds yet; nobody else does.
	r := g.do("GET", "/api/files/"+att.Key, tess, nil, nil)
	if r.status != http.StatusFound || r.header.Get("X-Content-Type-Options") != "nosniff" ||
		r.header.Get("Cache-Control") != "private, max-age=30" {
		t.Errorf("the uploader's file: %d %v", r.status, r.header)
	}
	if loc, err := url.Parse(r.header.Get("Location")); err != nil || !strings.Contains(loc.Path, att.Key) {
		t.Errorf("redirect to %q; want a link to %s", r.header.Get("Location"), att.Key)
	}
	wantError(t, "another user's unattached upload", g.do("GET", "/api/files/"+att.Key, uma, nil, nil), http.StatusNotFound, "NOT_FOUND")
	wantError(t, "not a key", g.do("GET", "/api/files/etc/passwd", tess, nil, nil), http.StatusNotFound, "NOT_FOUND")
	wantError(t, "an avatar never uploaded", g.do("GET", "/api/files/"+avatar.Key, uma, nil, nil), http.StatusNotFound, "NOT_FOUND")

	for _, tc := range []struct{ name, body string }{
		{"an attachment key", `{"key":"` + att.Key + `"}`},
		{"another user's avatar key", `{"key":"v/uma/abcdefabcdefabcdefab"}`},
		{"an avatar never uploaded", `{"key":"` + avatar.Key + `"}`},
	} {
		wantError(t, "avatar: "+tc.name, g.do("PUT", "/api/auth/me/avatar", tess, tc.body, nil), http.StatusBadRequest, "BAD_ATTACHMENT")
	}
	wantError(t, "avatar: bad JSON", g.do("PUT", "/api/auth/me/avatar", tess, `{"key":`, nil), http.StatusBadRequest, "BAD_REQUEST")

	if err := store.Put(ctx, avatar.Key, "image/png", png); err != nil {
		t.Fatal(err)
	}
	r = g.do("PUT", "/api/auth/me/avatar", tess, `{"key":"`+avatar.Key+`"}`, nil)
	var me struct{ User struct{ AvatarURL *string } }
	r.decode(t, &me)
	if want := "/api/files/" + avatar.Key; r.status != http.StatusOK || me.User.AvatarURL == nil || *me.User.AvatarURL != want {
		t.Fatalf("set avatar: %d %s; want avatarUrl %s", r.status, r.body, want)
	}
	// The profile says so from the log (no projection runs here), and
	// anyone logged in may fetch an avatar.
	if r := g.do("GET", "/api/auth/me", tess, nil, nil); !strings.Contains(string(r.body), `"avatarUrl":"/api/files/`+avatar.Key+`"`) {
		t.Errorf("me after the avatar: %d %s", r.status, r.body)
	}
	if r := g.do("GET", "/api/files/"+avatar.Key, uma, nil, nil); r.status != http.StatusFound {
		t.Errorf("another user fetching the avatar: %d %s", r.status, r.body)
	}
}
