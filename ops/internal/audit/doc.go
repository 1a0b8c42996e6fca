// Package audit reads Chillin's log (CHAT_EVT) for operators, as
// chillin-replay export, verify-export, room and stats do.
//
// The pure parts are kept apart from the I/O:
//
//   - Record, Redact and Filter turn a stored fact into an export line: its
//     stream seq, room seq, time, actor, kind and data, with every secret
//     field (SecretField) removed from the data at any depth.
//   - Chain and Verify are the hash chain over an export: each line carries
//     hash = hex SHA-256(previous hash + the line's canonical JSON without
//     the hash field), the first line's previous hash being 64 zeros, so
//     any altered, dropped or reordered line breaks the chain from there on.
//   - FoldRoom rebuilds a room as it was at a room seq or a time (members,
//     messages with the text they had then, reactions); Tally counts facts
//     per kind, room and day, rejection codes and the busiest posters.
//   - Read is the only I/O: it reads CHAT_EVT with batched direct gets, in
//     stream order, from a start sequence up to the log's end at the time
//     of the call; or, the same way, the refusals kept on CHAT_REJ (ADR
//     0009), which the log no longer receives.
//
// It never appends, deletes or rewrites anything in the log and creates no
// consumer, durable or not, so it can run against a system in use. No value
// of the package is safe for concurrent use unless its doc says so.
package audit
