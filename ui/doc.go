// Package ui holds the Chillin web chat client and hands it to the gateway
// as a file system, embedded in the gateway's binary.
//
// The client is plain ES modules, HTML and CSS, served exactly as they are in
// this folder: there is no build step. FS returns them rooted at the folder,
// so "index.html" is at the top and the scripts are under "js/". The unit
// tests (test/) and any node_modules are not embedded.
//
// The package owns no behaviour of the server: the gateway decides the routes,
// the headers and the caching. It must never depend on another Chillin package;
// everything the client knows of the server it learns through the protocol
// (docs in the design's PROTOCOL.md). FS is safe for concurrent use.
package ui
