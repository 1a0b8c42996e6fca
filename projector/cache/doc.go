// Package cache is the Redis cache projection of the log: per room the room
// list entry, its member set and its newest messages (a window of N, 100 by
// default) as complete client `message` objects, kept in generations so that
// a whole new copy can be built from the log while readers use the old one.
//
// It holds the one implementation of how facts change the cache (Plan and
// the apply script), used both by the projector's cache view, which applies
// facts as they are appended, and by `chillin-replay rebuild --view redis`,
// which builds a new generation from the first fact (Rebuild).
//
// # Keys
//
// Every key starts with the deployment prefix (e.g. "chillin:"):
//
//	<prefix>cache:gen           string: the current generation g (absent: none)
//	<prefix>cache:gens          string: the last generation number handed out
//	<prefix>cache:lease         string: the projector rebuilding a lost cache
//	<prefix>cache:<g>:meta      hash: cp (last CHAT_EVT seq applied: the
//	                            checkpoint), window (N), rooms (rooms created),
//	                            log (the log it was built from: CHAT_EVT's
//	                            creation time)
//	<prefix>cache:<g>:rooms     zset: room ids scored by creation time (µs)
//	<prefix>cache:<g>:room:<r>  hash: name, description, private (1/0), by,
//	                            at (µs), head (room seq), members, posted
//	                            (messages ever posted), _s
//	<prefix>cache:<g>:mem:<r>   set: the members' user ids
//	<prefix>cache:<g>:msgs:<r>  zset: ids of the newest N messages (score = id)
//	<prefix>cache:<g>:m:<id>    hash: room, seq, user, text, cid, att (JSON
//	                            array), reply (id or ""), at (µs), edited (µs),
//	                            deleted (µs), one field r|<user>|<emoji> per
//	                            reaction (its time in µs), _s
//
// Times are microseconds since 1970, the precision Postgres keeps, so a
// message read from the cache is the message read from Postgres. `_s` is the
// stream seq of the last fact applied to that key: a fact at or below it is
// skipped, as is every fact at or below the generation's checkpoint, so
// applying a fact twice, or the whole log twice, changes nothing.
//
// A checkpoint counts the facts of one log: when CHAT_EVT is created again
// (a new store, `make clean`), the current generation's log is not the
// stream's, and the cache view retires it and builds a new one from the new
// log rather than skip the new log's facts up to the old checkpoint.
//
// A generation whose meta hash (its checkpoint) is missing is absent: readers
// fall back to Postgres, and the cache view builds a new generation from the
// log. A room's window is complete when it holds min(posted, N) messages;
// readers check that, and that each id has its message hash, before using it.
//
// Scripts read the current generation and its keys in one EVALSHA, so a
// switch between generations can never mix two of them in one answer. They
// compute key names from the generation, so the cache needs a single Redis
// (not Redis Cluster).
//
// The package must never write outside <prefix>cache:, never move a
// checkpoint past a fact it did not apply (or skip as unreadable), and never
// make a generation current whose checkpoint is behind the current one's.
//
// Concurrency: a Store is safe for concurrent use; what keeps two writers of
// one generation correct is the checkpoint check inside each script.
package cache
