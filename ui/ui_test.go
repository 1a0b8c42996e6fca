package ui

import (
	"io/fs"
	"path"
	"regexp"
	"testing"
)

func TestFSHasTheAppAtTheRoot(t *testing.T) {
	for _, name := range []string{"index.html", "app.css", "icon.svg", "js/main.js"} {
		if _, err := fs.Stat(FS(), name); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	for _, name := range []string{"test", "package.json", "ui.go"} {
		if _, err := fs.Stat(FS(), name); err == nil {
			t.Errorf("%s is embedded but must not be", name)
		}
	}
}

var (
	htmlRef   = regexp.MustCompile(`(?:src|href)="/?([^"#?]+\.(?:js|css|svg))"`)
	importRef = regexp.MustCompile(`\b(?:from|import)\s*['"](\.{1,2}/[^'"]+)['"]`)
)

// Every file that index.html or a module refers to must be embedded: the
// browser would otherwise fail at run time on a 404.
func TestEveryReferencedFileIsEmbedded(t *testing.T) {
	html := mustRead(t, "index.html")
	refs := htmlRef.FindAllStringSubmatch(html, -1)
	if len(refs) == 0 {
		t.Fatal("index.html refers to no script or stylesheet")
	}
	for _, m := range refs {
		if _, err := fs.Stat(FS(), m[1]); err != nil {
			t.Errorf("index.html refers to %s: %v", m[1], err)
		}
	}
	modules, err := fs.Glob(FS(), "js/*.js")
	if err != nil || len(modules) == 0 {
		t.Fatalf("no modules under js/: %v", err)
	}
	more, _ := fs.Glob(FS(), "js/*/*.js")
	for _, name := range append(modules, more...) {
		for _, m := range importRef.FindAllStringSubmatch(mustRead(t, name), -1) {
			target := path.Join(path.Dir(name), m[1])
			if _, err := fs.Stat(FS(), target); err != nil {
				t.Errorf("%s imports %s: %v", name, m[1], err)
			}
		}
	}
}

func mustRead(tb testing.TB, name string) string {
	tb.Helper()
	b, err := fs.ReadFile(FS(), name)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}
