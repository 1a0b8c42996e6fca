// Package cachelayout is the layout of the Redis cache projection of the
// log: the names of its keys, what each holds, how a message and a room
// entry are encoded in them, and every Lua script that reads or writes
// them. The projector writes the cache (projector/cachewriter) and the
// gateway reads it (gateway/internal/readmodel); both use this package, so
// the layout is written down once.
//
// It lives in the events module because it is part of the contract between
// services, like subjects and stream configs, and because events already
// holds what it encodes (events.Message) and the Redis client it needs: the
// gateway, the projector and the tools all depend on events already, and
// neither service has to import the other.
//
// The cache holds per room the room list entry, its member set and its
// newest messages (a window of N, DefaultWindow by default) as complete
// client `message` objects, kept in generations so that a whole new copy can
// be built from the log while readers use the old one.
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
// A generation whose meta hash (its checkpoint) is missing is absent:
// readers fall back to Postgres. A room's window is complete when it holds
// min(posted, N) messages; readers check that, and that each id has its
// message hash, before using it (ParseHistory, ParseRooms, ParseRoom answer
// ErrMiss otherwise).
//
// Scripts read the current generation and its keys in one EVALSHA, so a
// switch between generations can never mix two of them in one answer. They
// compute key names from the generation, so the cache needs a single Redis
// (not Redis Cluster).
//
// The package does no I/O of its own: it names keys, holds scripts and
// decodes what they answer. It is safe for concurrent use.
package cachelayout
