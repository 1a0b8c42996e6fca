package gateway

import (
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"net/http"
	"strings"

	"github.com/chillin-chat/chillin/events/objstore"
)

// staticFiles serves the web app with strong ETags (the files are embedded,
// so their hashes are computed once) and `Cache-Control: no-cache`: browsers
// keep the files and revalidate them with a 304, so a new release shows at
// once and an unchanged one costs no body. Every response carries csp as
// its Content-Security-Policy (see contentSecurityPolicy).
func staticFiles(fsys fs.FS, csp string) (http.Handler, error) {
	etags := map[string]string{}
	err := fs.WalkDir(fsys, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(fsys, path)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		etags["/"+path] = `"` + hex.EncodeToString(sum[:12]) + `"`
		return nil
	})
	if err != nil {
		return nil, err
	}
	files := http.FileServerFS(fsys)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path := r.URL.Path
		if strings.HasSuffix(path, "/") {
			path += "index.html"
		}
		if tag, ok := etags[path]; ok {
			w.Header().Set("ETag", tag)
			w.Header().Set("Cache-Control", "no-cache")
		}
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Content-Security-Policy", csp)
		files.ServeHTTP(w, r) // answers If-None-Match with 304 from the ETag
	}), nil
}

// contentSecurityPolicy is the web app's policy: scripts, styles and
// everything else from the gateway only, with two exceptions for media
// storage, whose origin browsers talk to directly: uploads POST there
// (connect-src), and /api/files/{key} redirects images there (img-src;
// blob: is the preview of a file about to be uploaded). Without storage,
// nothing but the gateway is allowed.
func contentSecurityPolicy(storage objstore.Config) string {
	img, connect := "'self' blob:", "'self'"
	if origin := storage.BrowserOrigin(); origin != "" {
		img += " " + origin
		connect += " " + origin
	}
	return "default-src 'self'; script-src 'self'; style-src 'self'; img-src " + img + "; connect-src " + connect +
		"; base-uri 'none'; form-action 'self'; object-src 'none'; frame-ancestors 'none'"
}
