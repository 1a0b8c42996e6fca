// Package hub delivers the live facts of the rooms a gateway hosts to the
// sockets that joined them, gap-free and in seq order.
//
// One Redis subscription per gateway carries every hosted room's channel.
// Each hosted room has one goroutine that takes its frames in order, fills any
// gap from the log (Redis pub/sub is at most once; CHAT_EVT is the truth),
// and hands each frame, encoded once, to every subscribed socket whose
// position is below it. A room with no news checks the log's head now and
// then, so a lost last frame is found too. A joiner's backfill (from the
// recent frames or the log; it ends at the room's head) is shown as the
// messages stand: each post a later frame of the backfill deleted or edited
// is re-rendered (events.RedactFrame); the recent frames stay as published.
//
// A subscriber leaves a room by Leave, or is dropped by Left when its user
// left the room elsewhere (another tab, another gateway) after the subscriber
// joined it as a member (Join). A join still in progress when Left is
// told of such a leave (from Expect, or Join's start, on) ends with
// ErrLeft and never subscribes: the outcome is that of the join completing
// before the leave.
//
// Concurrency: all methods are safe for concurrent use. Subscriber.Send must
// not block (sockets queue and drop themselves when too slow).
package hub
