package gateway

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"testing/fstest"
)

func TestStaticFilesRevalidate(t *testing.T) {
	h, err := staticFiles(fstest.MapFS{
		"index.html": {Data: []byte("<!doctype html><title>x</title>")},
		"js/app.js":  {Data: []byte("export {}")},
	})
	if err != nil {
		t.Fatal(err)
	}
	get := func(path, etag string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("GET", path, nil)
		if etag != "" {
			r.Header.Set("If-None-Match", etag)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	for _, path := range []string{"/", "/js/app.js"} {
		first := get(path, "")
		tag := first.Header().Get("ETag")
		if first.Code != 200 || tag == "" || first.Header().Get("Cache-Control") != "no-cache" {
			t.Fatalf("%s: %d etag %q cache %q", path, first.Code, tag, first.Header().Get("Cache-Control"))
		}
		if again := get(path, tag); again.Code != http.StatusNotModified || again.Body.Len() != 0 {
			t.Fatalf("%s revalidated: %d, %d bytes", path, again.Code, again.Body.Len())
		}
		if stale := get(path, `"other"`); stale.Code != 200 {
			t.Fatalf("%s with a stale tag: %d", path, stale.Code)
		}
	}
	if w := get("/missing.js", ""); w.Code != 404 {
		t.Fatalf("missing file: %d", w.Code)
	}
}
