// Package events is Chillin's contract: the commands clients cause, the facts
// the log records, the subjects and streams they live on, how they are encoded,
// and how old versions are upgraded on read.
//
// Every service imports events; events imports nothing of theirs. It owns:
//
//   - Command: what a gateway appends to CHAT_CMD on a user's behalf.
//   - Fact: what the validator (and, for imports, chillin-replay) appends
//     to CHAT_EVT, the system of record. A fact's type and
//     version are never renamed or reused; every (type, v) has a golden file in
//     testdata/golden that must decode forever. Refusals (command.rejected)
//     go to CHAT_REJ instead, kept for a week (ADR 0009).
//   - Stream and consumer configuration, created or updated idempotently.
//   - The client frame of a room fact (EventFrame), encoded once and shared by
//     every path that delivers it: live fan-out, recovery and resend replies.
//   - ReadRoom, the one way to read a room's facts back from the log, and
//     ReaderEvents / RedactFrame, the one way to show what was read back: each
//     message as it stands (a tombstone once deleted, its current text once
//     edited). The log itself is never rewritten.
//   - The per-user rate limiter shared by gateways and validators
//     (package ratelimit).
//
// Nothing here keeps state between calls; all functions are safe for
// concurrent use.
package events
