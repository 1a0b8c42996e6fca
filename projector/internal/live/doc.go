// Package live is the live fan-out view: it publishes each room fact, already
// encoded as the client `event` frame, to the room's Redis channel, and the
// per-user facts a socket must see (rejections of commands answered by a
// `rejected` frame, session revocations) to the user's channel, in log order.
// The user's own joins, leaves and read positions go to the user's channel
// too, for every socket of the user (self.go).
// Refusals are read from CHAT_REJ by a second feed (ADR 0009), and still from
// CHAT_EVT, where logs from before CHAT_REJ hold them: a refusal is ordered
// with nothing but the refused command's own reply, so the two feeds need no
// common order.
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
// Concurrency: each feed goroutine has a View of its own; Apply is not
// reentrant.
package live
