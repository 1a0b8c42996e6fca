// Package backoff retries an operation against a dependency that may be down
// (NATS, Postgres, Redis) until it succeeds or the context ends, logging the
// outage once when it starts, every 30 s while it lasts, and once when it ends,
// never once per attempt.
//
// It keeps no state between calls; Retry is safe for concurrent use.
package backoff
