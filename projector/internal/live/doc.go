// Package live is the live fan-out view: it publishes each room fact, already
// encoded as the client `event` frame, to the room's Redis channel, and the
// per-user facts a socket must see (rejections of commands answered by a
// `rejected` frame, session revocations) to the user's channel, in log order.
//
// plan is the pure part: facts in, (channel, payload) pairs out, each frame
// encoded once. The View pipelines a batch's PUBLISHes in one round trip and
// retries the whole batch while Redis is away; it never skips ahead, so the
// order within a room holds. Redis pub/sub is at most once: gateways see a gap
// in a room's seq and fill it from the log, so correctness never depends on
// this view.
//
// It must never publish secrets (room password hashes stay out of frames, see
// events.EventFrame) and never write anything but PUBLISH.
//
// Concurrency: a View is used by one feed goroutine; Apply is not reentrant.
package live
