// Package validator is Chillin's single writer of room, user and session
// facts: gateways append none. Run consumes the commands gateways append to
// CHAT_CMD, decides each against the room's state folded from the log
// (session, membership, content, rate limit), or a user command (users.go)
// against the user's facts and the session directory, or a read position
// (reads.go) against the room and the reader's last read.marked, appends the
// resulting fact to CHAT_EVT with an expected last subject sequence, records
// refusals on the sender's rejection subject, and only then acks the command.
//
// It owns: the durable, pinned consumers of the command partitions; the
// in-memory room states and session directory (both caches of the log, thrown
// away on restart, and bounded: Config.RoomCacheBytes, RoomMessages and
// Sessions; what is evicted, or older than a room's window of messages, is
// read from the log again when a command needs it; a room keeps the
// idempotency digests of its newest RoomDigests clientIds, and a resend of an
// older one is looked up in the pg view (Config.PostgresURL) or the log,
// archive.go, as is the state of a message older than the window,
// oldmessages.go, ADR 0016; an evicted room's state
// is saved as a snapshot to CHAT_ROOMSTATE, so that its next load reads only
// the facts after it: roomstates.go, ADR 0014); the per-user windows of
// each command kind in Redis (see events/ratelimit). The decisions themselves are pure functions in
// internal/decide.
//
// It must never: ack a command whose fact or rejection JetStream has not
// acked; append a room fact without the expected last subject sequence of the
// state it was decided on; decide two commands of one room at once or out of
// the order they were appended; trust a cached "no" about a room without
// checking that the cache is current; log message text, passwords or tokens.
//
// Concurrency: one pull loop per command partition (events/pinned) hands each command to one
// of Workers goroutines chosen by its subject (so by room, or by user); each worker owns
// the room states of its rooms and decides its queue in order. Rooms on
// different workers are decided in parallel; their facts are appended
// together, as atomic batches of one committer goroutine (commit.go), so one
// sync of the log covers many commands. Several instances may run at once:
// each partition is pinned to one instance at a time, and the expected last
// subject sequence turns any overlap into a reload and a fresh decision,
// never a gap or a duplicate. An instance given a partition first decides
// the commands of it that another instance took and never acked, read from
// the stream in append order, before any newer one (takeOver).
//
// Observability: Run registers its Prometheus series (metrics.go) on
// Config.Metrics or a registry of its own and, given Config.HTTPAddr or
// HTTPListener, serves /health, /ready (NATS and Redis) and /metrics until it
// returns.
//
// Shutdown: when Run's context ends, the pull loops stop asking for commands
// and wait for their last request to end; the workers then settle every
// command this instance holds (within a grace period shorter than the pinned
// TTL) rather than handing them back, because the server redelivers returned
// commands in an order of its own. Finally the instance unpins the partitions
// it held, so a standby takes over at once, exactly where this one stopped.
package validator
