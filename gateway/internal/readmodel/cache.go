package readmodel

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/chillin-chat/chillin/events"
	"github.com/chillin-chat/chillin/events/cachelayout"
)

// The cache is the projector's Redis projection of room list entries,
// member sets and each room's newest messages (events/cachelayout documents the
// keys). The read model reads it before Postgres for the room list, a
// room's entry and the history pages it fully holds. Each read is one script that reads the current generation and then
// its keys, so a rebuild switching generations never mixes two in one
// answer. Whatever the cache cannot answer completely (no generation, a
// room it does not hold, a page reaching past its window, a key missing),
// and any Redis error or slowness, falls back to Postgres: the cache never
// causes an error a user sees.

const (
	// cacheTimeout bounds one cache read; a slower Redis counts as down.
	cacheTimeout = 250 * time.Millisecond
	// cacheRetry is how long reads skip the cache after it failed, so a
	// Redis outage costs one timeout per period rather than one per read.
	cacheRetry = 2 * time.Second
	// maxRoomList is the most rooms GET /api/rooms lists.
	maxRoomList = 1000
)

// cacheReader reads the cache for one gateway.
type cacheReader struct {
	rdb       *redis.Client
	keys      cachelayout.Keys
	downUntil atomic.Int64 // Unix ns before which reads skip the cache
	reads     *prometheus.CounterVec
	log       *slog.Logger
}

func newCacheReader(rdb *redis.Client, prefix string, log *slog.Logger) *cacheReader {
	return &cacheReader{
		rdb: rdb, keys: cachelayout.Keys{Prefix: prefix}, log: log,
		reads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chillin_gateway_cache_reads_total",
			Help: "Reads tried on the Redis cache before Postgres, by read (rooms, room, history) and result: hit; miss (not held completely: Postgres answered); error (Redis failed or was slow: Postgres answered); skipped (Redis failed moments ago: straight to Postgres).",
		}, []string{"read", "result"}),
	}
}

// run runs one cache script and counts the outcome; a nil error means a
// complete answer, parsed by parse.
func (c *cacheReader) run(ctx context.Context, read string, script *redis.Script, args []any, parse func([]any) error) error {
	if c == nil || c.rdb == nil {
		return cachelayout.ErrMiss // a Model without Redis
	}
	if time.Now().UnixNano() < c.downUntil.Load() {
		c.reads.WithLabelValues(read, "skipped").Inc()
		return cachelayout.ErrMiss
	}
	ctx, cancel := context.WithTimeout(ctx, cacheTimeout)
	defer cancel()
	v, err := script.Run(ctx, c.rdb, []string{c.keys.Current()}, append([]any{c.keys.Root()}, args...)...).Slice()
	if err != nil {
		c.reads.WithLabelValues(read, "error").Inc()
		if !errors.Is(ctx.Err(), context.Canceled) {
			// Redis is away or slow: leave it alone for a moment.
			c.downUntil.Store(time.Now().Add(cacheRetry).UnixNano())
		}
		c.log.Debug("cache read failed; reading Postgres", "read", read, "err", err)
		return err
	}
	err = cachelayout.ErrMiss
	if cachelayout.IsOK(v) {
		err = parse(v)
	}
	switch {
	case err == nil:
		c.reads.WithLabelValues(read, "hit").Inc()
	case errors.Is(err, cachelayout.ErrMiss):
		c.reads.WithLabelValues(read, "miss").Inc()
	default:
		c.reads.WithLabelValues(read, "error").Inc()
		c.log.Warn("cache answer unreadable; reading Postgres", "read", read, "err", err)
	}
	return err
}

// fromCache is a room entry as the cache holds it.
func fromCache(e cachelayout.RoomEntry) Room {
	return Room{ID: e.ID, Name: e.Name, Description: e.Description, IsPrivate: e.IsPrivate, CreatedBy: e.CreatedBy,
		MemberCount: len(e.Members), Members: e.Members, HeadSeq: e.HeadSeq, CreatedAt: e.CreatedAt}
}

// rooms returns the room list, in creation order, if the cache holds it
// completely.
func (c *cacheReader) rooms(ctx context.Context) ([]Room, error) {
	var out []Room
	err := c.run(ctx, "rooms", cachelayout.RoomsScript, []any{maxRoomList}, func(v []any) error {
		entries, err := cachelayout.ParseRooms(v, maxRoomList)
		for _, e := range entries {
			out = append(out, fromCache(e))
		}
		return err
	})
	return out, err
}

// room returns one room, if the cache holds it.
func (c *cacheReader) room(ctx context.Context, id string) (Room, error) {
	var r Room
	err := c.run(ctx, "room", cachelayout.RoomScript, []any{id}, func(v []any) error {
		e, err := cachelayout.ParseRoom(id, v)
		r = fromCache(e)
		return err
	})
	return r, err
}

// history returns the newest limit messages of a room with id < before,
// oldest first, and whether older ones exist, if the cache holds all of
// them, and the room is public or user is a member. Anything else is a miss
// (Postgres answers, and says why not).
func (c *cacheReader) history(ctx context.Context, room, user string, before int64, limit int) ([]events.Message, bool, error) {
	var (
		msgs []events.Message
		more bool
	)
	err := c.run(ctx, "history", cachelayout.HistoryScript, []any{room, cachelayout.HistoryBound(before), limit, user}, func(v []any) (err error) {
		msgs, more, err = cachelayout.ParseHistory(v, limit)
		return err
	})
	return msgs, more, err
}
