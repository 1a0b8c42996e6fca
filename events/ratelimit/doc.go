// Package ratelimit admits at most Rule.Limit actions of one Kind per user
// in any sliding Rule.Window, counted once per action id (a command id).
//
// The count is shared by every gateway and validator instance through one
// Redis sorted set per user and kind (prefix+"rl:"+user for messages, as
// before kinds existed, and prefix+"rl:"+kind+":"+user for the others;
// member = action id, score = Redis server time in ms), updated by one Lua
// script run with EVALSHA, so that the check and the insert are atomic and
// the clocks of the instances never matter. AllowBatch runs the script for a
// whole batch of checks in one pipelined round trip. If Redis cannot be
// reached the limiter falls back to an in-process window with the same rule,
// so chatting keeps working; it logs the switch once per outage and goes
// back to Redis when it answers again.
//
// It must never count an action id twice (a redelivered command id is
// admitted again without counting) and never block a caller for long on an
// unreachable Redis. A kind without a rule is never limited. A Limiter is
// safe for concurrent use.
//
// Files: rules.go holds the kinds and their rules (parsing, defaults),
// ratelimit.go the shared Redis limiter, local.go the in-process window it
// falls back to.
package ratelimit
