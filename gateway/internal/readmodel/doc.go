// Package readmodel is the gateway's read side: every read of the
// projections, whichever store answers it. It owns the gateway's SQL (the
// Postgres projection), its reads of the Redis cache projection (in the
// layout of events/cachelayout) and the fallback between them and the log
// (CHAT_EVT): a room's entry comes from the cache, else Postgres, else the
// room's first fact; the room list and history pages from the cache when it
// holds them completely, else Postgres. The handlers of package gateway ask
// a Model and never see which store answered.
//
// What it must never do: write anything, or let the cache cause an error a
// user sees (a cache that is down, slow or incomplete only sends the read
// on to Postgres). A projection that is down answers with the user-facing
// UNAVAILABLE error (Unavailable), logged here with its cause; refusals
// (NO_SUCH_ROOM, NOT_MEMBER) are events.Error values too.
//
// It knows nothing of sockets or presence: a Room lists its members' ids and
// the gateway counts who of them is online.
//
// Concurrency: a Model is safe for concurrent use.
package readmodel
