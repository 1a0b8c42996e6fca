// Package pgrebuild rebuilds the pg view's Postgres schema from the log and
// verifies it against the log, from outside the projector, for operators:
// rebuild it from the first fact of the log while the system keeps running,
// verify it against a replay, and tell a schema written from another log
// (CheckLog). It applies facts with the projector's own code (internal/pg),
// so a rebuilt schema is what the live view would have written.
//
// Everything in the view's schema is a projection of CHAT_EVT (only the
// projector writes there), which is what makes a rebuild possible:
//
//   - Rebuild creates a schema rebuild_<time> in the same database, migrates
//     it and replays the log into it (Replayer, under an advisory lock key
//     of its own), catching up until it trails the log by little. Then it
//     switches (Switch): holding the live view's advisory lock, so that no
//     live projector batch is in flight or can start, it applies the facts
//     up to the log's last one and, in the same transaction, renames the
//     live schema away, renames the new one to the live name and drops the
//     old one. Readers block only for the rename and drop and then resolve
//     their queries (prepared statements included: Postgres re-plans them
//     when the schemas change) to the new tables; the live projector's next
//     batch finds the new schema's checkpoint and goes on from there. A live
//     schema of another log (CheckLog) is replaced too, though its
//     checkpoint may be past the new log's end.
//   - Verify replays into a scratch schema up to the live checkpoint, holds
//     the live lock just long enough to catch up and take one snapshot of
//     both, and compares every table by an ordered checksum (Compare),
//     naming the first differing row of each table that differs.
//
// Only one rebuild or verify of a database runs at a time (a session
// advisory lock); a schema rebuild_* or verify_* left by a run that was
// killed is dropped by the next one.
package pgrebuild
