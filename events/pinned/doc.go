// Package pinned pulls a durable JetStream consumer whose priority group is
// pinned (PriorityPolicyPinned): of the instances pulling it, the server
// feeds one, the pinned one, and the others wait as standbys until it stops
// or goes quiet for the pinned TTL. The validator's command partitions and
// the projector's views are such consumers.
//
// It owns what every pinned puller does alike: the pull requests (Loop, with
// explicit Fetch requests, so that stopping never strands a message in a
// dead inbox; one at a time for the validator, which hands each message
// over as it comes, or ahead and in batches for the projector's feeds),
// telling how a request ended (Ended: full or expired, pinned
// elsewhere, the consumer or its stream gone, NATS not answering, or another
// failure), remembering the pin id this instance was given (Pin), and
// handing the group over at shutdown (Unpin), so a standby takes over at
// once instead of after the pinned TTL.
//
// It never acks: what is done with a message is the caller's business.
//
// Concurrency: a Loop runs in the goroutine that called Run and calls its
// hooks (Deliver, Flush, …) from it, one at a time; a Pin is safe for
// concurrent use.
package pinned
