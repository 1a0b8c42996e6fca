// Package projector keeps the read models of Chillin current from the log:
// it runs projection views, each a durable consumer on CHAT_EVT applying the
// facts in log order to one store.
//
//   - pg (internal/pg): the Postgres tables (users, rooms, members, messages,
//     reactions, attachments, sessions), batched, with the checkpoint in the
//     same transaction.
//   - live (internal/live): Redis PUBLISH of room frames and per-user
//     messages for the gateways' live fan-out.
//   - cache (internal/cacheview, writing with package cachewriter in the
//     layout of events/cachelayout): the Redis cache of
//     room list entries and each room's newest messages that gateways read
//     before Postgres, kept in generations that chillin-replay rebuilds.
//
// Any number of projector processes may run the same views: each view's
// consumer is pinned to one of them at a time (priority group
// events.ProjectorGroup), the others stand by and take over when it stops or
// dies.
//
// The projector never appends to the log and never decides anything: a view
// is a pure function of the facts, and every view can be dropped and rebuilt
// from CHAT_EVT. A view acks a fact only after its effect is durable in the
// view's store (pg) or handed to Redis (live, cache).
//
// Observability: Run registers its Prometheus series (metrics.go), fed by
// each view's feed observer, on Config.Metrics or a registry of its own and,
// given Config.HTTPAddr or HTTPListener, serves /health, /ready (NATS and the
// stores of its views) and /metrics until it returns.
//
// Concurrency: Run runs each view on its own goroutine under one errgroup and
// returns when ctx ends and every view has given back what it had not
// applied. Run may be called again in the same process after it returns.
package projector
