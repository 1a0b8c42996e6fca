package main

import (
	"io"
	"time"

	"github.com/chillin-chat/chillin/events/envflag"
	"github.com/chillin-chat/chillin/events/ratelimit"
	"github.com/chillin-chat/chillin/validator"
)

// parseConfig reads the settings (envflag: CHILLIN_* variables, flags
// overriding them) and checks them.
func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (validator.Config, error) {
	var cfg validator.Config
	s := envflag.New(envflag.NewFlagSet("validator", stderr), getenv)
	s.NATSURL(&cfg.NATSURL)
	s.RedisURL(&cfg.RedisURL, "Redis URL for the shared rate limit; empty counts per instance")
	s.RedisPrefix(&cfg.RedisPrefix)
	s.Int(&cfg.RateLimit, "rate-limit", "CHILLIN_RATE_LIMIT", validator.DefaultRateLimit, 1, "accepted messages per user per window")
	s.Duration(&cfg.RateWindow, "rate-window", "CHILLIN_RATE_WINDOW", validator.DefaultRateWindow, time.Millisecond, "sliding rate limit window")
	s.Func("rate-limits", "CHILLIN_RATE_LIMITS", "", "limits per user of the other command kinds over the defaults ("+ratelimit.DefaultRules().String()+"), as kind=limit/window,...; msg is set by -rate-limit and -rate-window", func(v string) (err error) {
		cfg.RateLimits, err = ratelimit.ParseRules(ratelimit.DefaultRules(), v)
		return err
	})
	s.Int(&cfg.MaxTextRunes, "max-message-runes", "CHILLIN_MAX_MESSAGE_RUNES", validator.DefaultMaxTextRunes, 1, "longest message in Unicode code points")
	s.Bool(&cfg.DeferredSync, "unsafe-deferred-sync", "CHILLIN_UNSAFE_DEFERRED_SYNC", false, "the NATS servers acknowledge writes before syncing them (sync_interval not always): publish facts one by one, not in atomic batches")
	s.Int(&cfg.Workers, "workers", "CHILLIN_VALIDATOR_WORKERS", validator.DefaultWorkers, 1, "rooms decided at once")
	var roomCacheMB int
	s.Int(&roomCacheMB, "room-cache-mb", "CHILLIN_VALIDATOR_ROOM_CACHE_MB", validator.DefaultRoomCacheBytes>>20, 1, "room states held, all workers together, in estimated MiB; the least recently used are read from the log again when needed")
	var roomSnapshotMB int
	s.Int(&roomSnapshotMB, "room-snapshot-mb", "CHILLIN_VALIDATOR_ROOM_SNAPSHOT_MB", validator.DefaultRoomSnapshotBytes>>20, 0, "bound of CHAT_ROOMSTATE, the snapshots of evicted room states kept in the NATS servers' memory so that a reload reads only the facts after them; 0 keeps none")
	s.Int(&cfg.RoomMessages, "room-messages", "CHILLIN_VALIDATOR_ROOM_MESSAGES", validator.DefaultRoomMessages, 1, "most recent messages a room state keeps, with their deletions and reactions; an older one is looked up in Postgres or the log when a command names it")
	s.Int(&cfg.RoomDigests, "room-digests", "CHILLIN_VALIDATOR_ROOM_DIGESTS", validator.DefaultRoomDigests, 1, "idempotency digests (user, clientId) a room state keeps, of its newest messages; an older clientId is looked up in Postgres or the log")
	s.OptionalPostgresURL(&cfg.PostgresURL, "the projector's database (a read-only role is enough), where a resend older than a room's digests is looked up; empty reads the room's log instead")
	s.Int(&cfg.Sessions, "sessions", "CHILLIN_VALIDATOR_SESSIONS", validator.DefaultSessions, 1, "sessions held in memory; the least recently used are read from the log again when needed")
	s.HTTPAddr(&cfg.HTTPAddr, "127.0.0.1:9101", "address serving /health, /ready and /metrics; empty serves nothing")
	s.PprofAddr(&cfg.PprofAddr)
	s.Streams(&cfg.Streams)
	s.Storage(&cfg.Storage, false, "refuses attachments")
	logger := s.Logger("json", stderr)
	if err := s.Parse(args); err != nil {
		return cfg, err
	}
	cfg.Logger = logger()
	cfg.RoomCacheBytes = roomCacheMB << 20
	cfg.RoomSnapshotBytes = roomSnapshotMB << 20
	if roomSnapshotMB == 0 {
		cfg.RoomSnapshotBytes = -1
	}
	return cfg, nil
}
