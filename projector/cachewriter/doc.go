// Package cachewriter writes the Redis cache projection of the log (its
// layout, keys and scripts are events/cachelayout's): it applies facts to a
// generation, hands out, switches, retires and drops generations, holds the
// rebuild lease, and builds a whole new generation from the log.
//
// It holds the one implementation of how facts change the cache (Plan, which
// folds facts into cachelayout.ApplyScript's ops), used both by the
// projector's cache view (projector/internal/cacheview), which applies facts
// as they are appended, and by `chillin-replay rebuild --view redis`, which
// builds a new generation from the first fact (Rebuild).
//
// A checkpoint counts the facts of one log: when CHAT_EVT is created again
// (a new store, `make clean`), the current generation's log is not the
// stream's, and the cache view retires it and builds a new one from the new
// log rather than skip the new log's facts up to the old checkpoint.
//
// A generation whose meta hash (its checkpoint) is missing is absent:
// readers fall back to Postgres, and the cache view builds a new generation
// from the log.
//
// The package must never write outside <prefix>cache:, never move a
// checkpoint past a fact it did not apply (or skip as unreadable), and never
// make a generation current whose checkpoint is behind the current one's.
//
// Concurrency: a Store is safe for concurrent use; what keeps two writers of
// one generation correct is the checkpoint check inside each script.
package cachewriter
