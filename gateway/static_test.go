package gateway

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/chillin-chat/chillin/events/objstore"
)

func TestStaticFilesRevalidate(t *testing.T) {
	h, err := staticFiles(fstest.MapFS{
		"index.html": {Data: []byte("<!doctype html><title>x</title>")},
		"js/app.js":  {Data: []byte("export {}")},
	}, "default-src 'self'")
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
		if csp := first.Header().Get("Content-Security-Policy"); csp != "default-src 'self'" {
			t.Fatalf("%s: Content-Security-Policy %q", path, csp)
		}
	}
	if w := get("/missing.js", ""); w.Code != 404 {
		t.Fatalf("missing file: %d", w.Code)
	}
}

func TestContentSecurityPolicyAllowsStorage(t *testing.T) {
	storage := func(endpoint, public string, secure bool) objstore.Config {
		return objstore.Config{Endpoint: endpoint, PublicURL: public, Secure: secure, AccessKey: "k", SecretKey: "s", Bucket: "chillin"}
	}
	for _, tc := range []struct {
		name    string
		storage objstore.Config
		img     string // the img-src directive
		connect string
	}{
		{"no storage", objstore.Config{}, "img-src 'self' blob:", "connect-src 'self'"},
		{"host:port endpoint", storage("127.0.0.1:9000", "", false), "img-src 'self' blob: http://127.0.0.1:9000", "connect-src 'self' http://127.0.0.1:9000"},
		{"secure host:port endpoint", storage("s3.example.com", "", true), "img-src 'self' blob: https://s3.example.com", "connect-src 'self' https://s3.example.com"},
		{"URL endpoint", storage("https://minio.internal:9000", "", false), "img-src 'self' blob: https://minio.internal:9000", "connect-src 'self' https://minio.internal:9000"},
		{"public URL wins", storage("minio:9000", "https://files.example.com/", false), "img-src 'self' blob: https://files.example.com", "connect-src 'self' https://files.example.com"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			csp := contentSecurityPolicy(tc.storage)
			directives := map[string]bool{}
			for _, d := range strings.Split(csp, ";") {
				directives[strings.TrimSpace(d)] = true
			}
			for _, want := range []string{tc.img, tc.connect, "default-src 'self'", "script-src 'self'", "style-src 'self'", "object-src 'none'", "frame-ancestors 'none'"} {
				if !directives[want] {
					t.Errorf("policy %q lacks %q", csp, want)
				}
			}
		})
	}
}
