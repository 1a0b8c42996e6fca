// Package gateway is Chillin's HTTP and WebSocket edge.
//
// It authenticates people (argon2id passwords, 256-bit session tokens stored
// only as SHA-256, Redis session cache with Postgres and then the log as
// fallbacks; sessions slide 24 h and end at an absolute lifetime, and the
// sockets of an ended session are closed), bounds password guessing
// (counters in Redis shared by every gateway, throttle.go) and password
// hashing (a semaphore of its own), serves the REST API and the web app, and
// turns client frames into commands stamped with the authenticated user,
// appended to CHAT_CMD. Every client value is checked once, before any
// handler reads it (frame fields in checkFrame, REST paths and queries in
// checkRequest), so none forms a bad subject or key.
// It never decides a command: the validator does. It reads projections
// (the Redis cache view, then Postgres) for lists and history through one
// read model (internal/readmodel, behind the interfaces of reads.go), and
// the log itself (CHAT_EVT) for anything that must be exact: recovery after a reconnect, credentials right
// after registration.
//
// Live delivery: the live projector publishes each room fact, encoded once as
// a client frame, to Redis; the gateway's hub hands it to every socket of the
// room and fills gaps from the log. Each socket has a queue bounded in frames
// and in bytes, drained by a writer goroutine while it holds frames; a socket
// that cannot keep up is closed, never waited for. Replies that carry lists
// (sync, history, members) stop at a byte budget and say that more remain. An idle socket holds no goroutine: it waits in the
// gateway's epoll poller until its peer sends something. The socket
// transport (queue, writer, pings, parking) is internal/wsconn; this package
// handles what the frames say (ws.go).
//
// The gateway keeps no state but its connections and the room:read reports it
// coalesces for a few seconds before they become commands (readstate.go): any
// number of instances can run behind a load balancer.
package gateway
