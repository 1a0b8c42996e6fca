// Package cacheview is the cache view: it keeps the Redis cache projection
// (written by package projector/cachewriter in the layout of
// events/cachelayout: room list entries, member sets and each room's
// newest messages) current from the log, and brings it back when Redis has
// lost it.
//
// Each batch is applied to the current generation in one script per run of
// contiguous facts (the script reads the current generation and its
// checkpoint itself, so a generation switched in by a rebuild is picked up
// between two scripts and never half-way through one). When a run starts
// beyond the checkpoint, the facts in between were not handed to this
// process (pending elsewhere after a crash or a hand-over, or a rebuild
// switched in a generation whose checkpoint is lower than this batch): they
// are read from the log and applied first, like the pg view does.
//
// When there is no current generation, or it lost its checkpoint (Redis
// restarted empty, FLUSHALL, eviction), readers fall back to Postgres and the
// view builds a new generation from the first fact, to the log's head, then
// switches readers to it (cachewriter.Rebuild). It notices at the next batch or at
// the next check (every few seconds), whichever comes first. A lease in Redis
// makes one projector process do it while the others wait.
//
// It must never write anything but the cache keys, and never skip a fact it
// has not applied to the current generation.
//
// Concurrency: Apply and the check take the same lock; a View is otherwise
// used by one feed goroutine.
package cacheview
