// Package pg is the Postgres view of the log: users, rooms, room_members,
// messages, reactions, attachments, sessions, read positions and each room's
// membership facts (room_events, shown among history pages), kept by
// folding CHAT_EVT in order.
//
// plan is the fold: a pure function from a batch of facts to the SQL that
// applies them (consecutive message.posted facts become one multi-row insert;
// room heads move forward once per batch). The View runs a plan in one
// transaction together with the checkpoint (the last applied stream
// sequence), so a batch is applied exactly once in effect: a fact at or below
// the checkpoint is skipped, and unique keys make a replayed insert a no-op
// anyway.
//
// The view never trusts the consumer to deliver in log order. Inside the
// transaction it takes an advisory lock, reads the checkpoint and applies
// exactly the facts after it, reading any it was not handed (still pending
// elsewhere after a crash or a hand-over) straight from the log. So two
// instances that both believe they are pinned serialize and stay correct.
// The lock is LockKey for the live view; a View applying into another schema
// (pgrebuild's rebuild) takes a key of its own (NewViewLocked).
//
// A fact the view cannot apply (it does not decode, or Postgres refuses its
// data) is never skipped: the view applies what comes before it and stops
// there (ErrStopped), and the projector reports it stopped.
//
// A checkpoint counts facts of one log, and records it (log_id: CHAT_EVT's
// creation time, see logid). Run refuses to start on a checkpoint of another
// log (ErrOtherLog, naming RebuildCommand) and every transaction refuses to
// apply under one, so that a new log is never skipped up to an old log's
// checkpoint.
//
// It must never write anything but projections of the log, never advance the
// checkpoint past a fact it did not apply, never apply a log under another
// log's checkpoint, and never turn off synchronous commit.
//
// Concurrency: a View is used by one feed goroutine; Apply is not reentrant.
package pg
