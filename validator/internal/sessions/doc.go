// Package sessions keeps the validator's in-memory directory of sessions,
// folded from the session facts of CHAT_EVT (session.started,
// session.refreshed, session.revoked) through an ordered consumer that starts
// at the beginning of the stream and stays live.
//
// The directory holds at most a set number of sessions: the least recently
// used are evicted, and a session is evicted once seen expired. A session the
// directory does not hold (its user logged in a moment ago and the live feed
// has not brought the fact, or it was evicted) is looked up in the log
// directly, on that user's session subject, before the caller decides: the
// directory never answers "unknown" for a session the log already holds.
//
// Expiry is what the facts record. The gateway caps every expiry it records
// at the session's absolute lifetime (start + CHILLIN_SESSION_MAX_AGE), so
// the directory refuses a session past it without knowing that setting.
//
// The session facts the validator appends itself (session commands) are
// folded at once as well (Record), so a revocation holds for the user's next
// command on this instance without waiting for the feed.
//
// It owns the directory; it never writes to the log. A Directory is safe for
// concurrent use: lookups and folding take one lock.
package sessions
