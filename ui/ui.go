package ui

import (
	"embed"
	"io/fs"
)

//go:embed index.html app.css icon.svg js
var files embed.FS

// FS returns the static files of the web client, with index.html at the root.
func FS() fs.FS { return files }
