// Package feed pulls one projection view's durable consumer on CHAT_EVT in
// batches and hands each batch to the view, acking only what the view has
// applied: one ack for a batch, of its last fact (the consumer acks all).
//
// It owns the consumer's life in this process: creating or updating it
// idempotently at start, fetching with the projector priority group so that of
// several projector processes exactly one (the pinned one) is fed at a time,
// flushing a batch when it is full or FlushInterval after its first fact,
// retrying a failed batch with backoff (keeping it unacked and its ack timer
// alive), logging the poison facts a view skips, and on shutdown giving back what it did
// not apply (Nak, for immediate redelivery, once its last pull request is
// over) and unpinning so a standby takes over at once.
//
// It must never ack a fact the view has not applied, and never skip ahead of a
// failed batch: order is the view's business, and a batch is retried whole.
//
// The pull requests themselves, telling how one ended, the pin id and
// unpinning are events/pinned's, shared with the validator: the feed runs
// its Loop ahead (the next request opens while a batch is applied) and
// flushing (a batch is applied when full or FlushInterval after its first
// fact).
//
// Concurrency: Run is one goroutine; the Apply it is given is called from that
// goroutine only, one batch at a time.
package feed
