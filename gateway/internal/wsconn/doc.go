// Package wsconn is the gateway's WebSocket transport, kept apart from what
// the gateway does with the frames (package gateway's ws.go), as centrifuge
// keeps its transports apart from its hub.
//
// It owns one socket's life below the protocol: the upgrade (Accept), the
// reader that hands each frame to a Handler in order, the bounded send
// queue (in frames and in bytes) and the writer goroutine that drains it
// with as few system calls as it can (batchconn.go), keepalive pings of
// silent peers, the close handshake bounded by closeGrace, and parking idle
// sockets in an epoll poller so that they hold no goroutine (idle_linux.go;
// elsewhere an idle reader waits in a goroutine). A socket's context
// (connctx.go) leaves nothing behind when what hangs on it ends.
//
// It never reads a frame's content, never decides whether a frame is
// allowed, and never waits for a slow peer: a socket whose queue is full is
// closed (1008), not waited for (SendWait excepted, which waits for room
// and is for backfills only).
//
// Concurrency: Send, SendWait and Close are safe from any goroutine; one
// reader at a time calls the Handler's Frame; Ended is called once.
package wsconn
