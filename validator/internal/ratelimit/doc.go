// Package ratelimit admits at most Limit accepted messages per user in any
// sliding Window, counted once per command id.
//
// The count is shared by every validator instance through one Redis sorted
// set per user (prefix+"rl:"+user, member = command id, score = Redis server
// time in ms), updated by one Lua script run with EVALSHA, so that the check
// and the insert are atomic and the clocks of the instances never matter. If
// Redis cannot be reached the limiter falls back to an in-process window with
// the same rule, so sending keeps working; it logs the switch once per outage
// and goes back to Redis when it answers again.
//
// It must never count a command twice (a redelivered command id is admitted
// again without counting) and never block a caller for long on an unreachable
// Redis. A Limiter is safe for concurrent use.
package ratelimit
