// Package schema owns Chillin's Postgres schema: the SQL migrations in
// migrations/ (NNNN_name.sql, embedded in the binary) and Migrate, which
// applies the ones a database has not seen yet, in order, each in its own
// transaction, and records them in schema_migrations.
//
// Postgres holds projections of the log, never the truth: every table here can
// be dropped and rebuilt by the projector from CHAT_EVT. A migration may add
// tables, columns and indexes; it never renames or drops a column that a
// service reads, and an applied migration is never edited (Migrate refuses a
// database whose recorded name of a version differs from the embedded one).
//
// Concurrency: Migrate is safe to call from any number of processes at once.
// It holds a session advisory lock while it works, so one process applies the
// pending migrations and the others wait, then find nothing left to do.
package schema
