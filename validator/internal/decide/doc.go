// Package decide holds the validator's pure decisions: the state of a room
// folded from its facts (Room), the session directory folded from session
// facts (Sessions), the text and emoji rules, room password checks (through
// events/password), and Decide, which turns a command and the current state
// into the fact to append, a rejection, a recognised resend, or nothing.
//
// It owns no I/O: it never reads the log, never talks to NATS or Redis and
// never looks at the clock; the caller passes the time in. What needs I/O is
// reported in the Decision instead (RateLimit: ask the rate limiter first;
// Confirm: make sure the room state is current before acting on a decision
// that rests on it; Inspect, Lookup and Archive: read the attachments'
// uploads, a message older than the room's window, or whether a clientId
// older than the room's digests was posted, and decide again with the
// answer).
//
// Concurrency: nothing here is safe for concurrent use. A Room belongs to the
// one goroutine that decides its room; a Sessions value is guarded by its
// owner. Decide and the check functions keep no state and may run anywhere.
package decide
