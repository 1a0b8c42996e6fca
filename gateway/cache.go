package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/chillin-chat/chillin/events"
	"github.com/chillin-chat/chillin/projector/cache"
)

// The cache is the projector's Redis projection of room list entries,
// member sets and each room's newest messages (projector/cache documents the
// keys). The gateway reads it before Postgres for GET /api/rooms, a room's
// entry (GET /api/rooms/{room}, room:join) and the history pages it fully
// holds. Each read is one script that reads the current generation and then
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

// Cache scripts. KEYS[1] is <prefix>cache:gen, ARGV[1] <prefix>cache:. Each
// answers {"absent"} when there is no current generation with a checkpoint.
var (
	// ARGV[2]: the most rooms. Answers {"ok", rooms created, room count,
	// then per room: id, its hash (flat), its members}.
	cacheRoomsScript = redis.NewScript(`
local gen = redis.call('GET', KEYS[1])
if not gen then return {'absent'} end
local p = ARGV[1] .. gen .. ':'
local meta = redis.call('HMGET', p .. 'meta', 'cp', 'rooms')
if not meta[1] then return {'absent'} end
local out = {'ok', meta[2] or '0', redis.call('ZCARD', p .. 'rooms')}
for _, id in ipairs(redis.call('ZRANGE', p .. 'rooms', 0, tonumber(ARGV[2]) - 1)) do
  out[#out + 1] = id
  out[#out + 1] = redis.call('HGETALL', p .. 'room:' .. id)
  out[#out + 1] = redis.call('SMEMBERS', p .. 'mem:' .. id)
end
return out
`)
	// ARGV[2]: the room. Answers {"ok", its hash, its members}.
	cacheRoomScript = redis.NewScript(`
local gen = redis.call('GET', KEYS[1])
if not gen then return {'absent'} end
local p = ARGV[1] .. gen .. ':'
if not redis.call('HGET', p .. 'meta', 'cp') then return {'absent'} end
return {'ok', redis.call('HGETALL', p .. 'room:' .. ARGV[2]), redis.call('SMEMBERS', p .. 'mem:' .. ARGV[2])}
`)
	// ARGV[2]: the room, ARGV[3]: the id bound ("(<id>" or "+inf"),
	// ARGV[4]: limit, ARGV[5]: the reader. Answers {"ok", window, room hash,
	// reader is a member (1/0), messages in the window, of them below the
	// bound, then the newest limit below it, each as {id, hash}}.
	cacheHistoryScript = redis.NewScript(`
local gen = redis.call('GET', KEYS[1])
if not gen then return {'absent'} end
local p = ARGV[1] .. gen .. ':'
local meta = redis.call('HMGET', p .. 'meta', 'cp', 'window')
if not meta[1] then return {'absent'} end
local w = p .. 'msgs:' .. ARGV[2]
local out = {'ok', meta[2], redis.call('HGETALL', p .. 'room:' .. ARGV[2]),
  redis.call('SISMEMBER', p .. 'mem:' .. ARGV[2], ARGV[5]),
  redis.call('ZCARD', w), redis.call('ZCOUNT', w, '-inf', ARGV[3])}
for _, id in ipairs(redis.call('ZREVRANGEBYSCORE', w, ARGV[3], '-inf', 'LIMIT', 0, tonumber(ARGV[4]))) do
  out[#out + 1] = {id, redis.call('HGETALL', p .. 'm:' .. id)}
end
return out
`)
)

// cacheReader reads the cache for one gateway.
type cacheReader struct {
	rdb       *redis.Client
	root      string       // <prefix>cache:
	downUntil atomic.Int64 // Unix ns before which reads skip the cache
	reads     *prometheus.CounterVec
	log       *slog.Logger
}

// errCacheMiss: the cache cannot answer this read completely.
var errCacheMiss = errors.New("not in the cache")

// newCacheReader returns the gateway's cache reader, its series registered
// with the gateway's.
func (s *Server) newCacheReader() *cacheReader {
	c := &cacheReader{
		rdb: s.rdb, root: s.cfg.RedisPrefix + "cache:", log: s.log,
		reads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chillin_gateway_cache_reads_total",
			Help: "Reads tried on the Redis cache before Postgres, by read (rooms, room, history) and result: hit; miss (not held completely: Postgres answered); error (Redis failed or was slow: Postgres answered); skipped (Redis failed moments ago: straight to Postgres).",
		}, []string{"read", "result"}),
	}
	s.metrics.registry.MustRegister(c.reads)
	s.metrics.series = append(s.metrics.series, c.reads)
	return c
}

// run runs one cache script and counts the outcome; a nil error means a
// complete answer, parsed by parse.
func (c *cacheReader) run(ctx context.Context, read string, script *redis.Script, args []any, parse func([]any) error) error {
	if c == nil {
		return errCacheMiss // a Server that never connected
	}
	if time.Now().UnixNano() < c.downUntil.Load() {
		c.reads.WithLabelValues(read, "skipped").Inc()
		return errCacheMiss
	}
	ctx, cancel := context.WithTimeout(ctx, cacheTimeout)
	defer cancel()
	v, err := script.Run(ctx, c.rdb, []string{c.root + "gen"}, append([]any{c.root}, args...)...).Slice()
	if err != nil {
		c.reads.WithLabelValues(read, "error").Inc()
		if !errors.Is(ctx.Err(), context.Canceled) {
			// Redis is away or slow: leave it alone for a moment.
			c.downUntil.Store(time.Now().Add(cacheRetry).UnixNano())
		}
		c.log.Debug("cache read failed; reading Postgres", "read", read, "err", err)
		return err
	}
	err = errCacheMiss
	if len(v) > 0 && v[0] == "ok" {
		err = parse(v)
	}
	switch {
	case err == nil:
		c.reads.WithLabelValues(read, "hit").Inc()
	case errors.Is(err, errCacheMiss):
		c.reads.WithLabelValues(read, "miss").Inc()
	default:
		c.reads.WithLabelValues(read, "error").Inc()
		c.log.Warn("cache answer unreadable; reading Postgres", "read", read, "err", err)
	}
	return err
}

// cachedRoom is a room entry and its members as the cache holds them.
type cachedRoom struct {
	room    roomJSON
	members []string
}

// rooms returns the room list, in creation order, if the cache holds it
// completely.
func (c *cacheReader) rooms(ctx context.Context) ([]cachedRoom, error) {
	var out []cachedRoom
	err := c.run(ctx, "rooms", cacheRoomsScript, []any{maxRoomList}, func(v []any) error {
		created, err1 := strconv.Atoi(cacheStr(v[1]))
		count, ok := v[2].(int64)
		if err1 != nil || !ok || int64(created) != count {
			return errCacheMiss // the list itself is incomplete
		}
		for i := 3; i+2 < len(v); i += 3 {
			r, err := parseRoom(cacheStr(v[i]), v[i+1], v[i+2])
			if err != nil {
				return err
			}
			out = append(out, r)
		}
		if len(out) != min(int(count), maxRoomList) {
			return fmt.Errorf("cache rooms: %d listed of %d", len(out), count)
		}
		return nil
	})
	return out, err
}

// room returns one room, if the cache holds it.
func (c *cacheReader) room(ctx context.Context, id string) (cachedRoom, error) {
	var r cachedRoom
	err := c.run(ctx, "room", cacheRoomScript, []any{id}, func(v []any) error {
		if len(v) != 3 {
			return fmt.Errorf("cache room: answer of %d parts", len(v))
		}
		var err error
		r, err = parseRoom(id, v[1], v[2])
		return err
	})
	return r, err
}

// history returns the newest limit messages of a room with id < before,
// oldest first, and whether older ones exist, if the cache holds all of
// them, and the room is public or user is a member. Anything else is a miss
// (Postgres answers, and says why not).
func (c *cacheReader) history(ctx context.Context, room, user string, before int64, limit int) ([]events.Message, bool, error) {
	bound := "+inf"
	if before != 1<<63-1 {
		bound = "(" + strconv.FormatInt(before, 10)
	}
	var (
		msgs []events.Message
		more bool
	)
	err := c.run(ctx, "history", cacheHistoryScript, []any{room, bound, limit, user}, func(v []any) error {
		if len(v) < 6 {
			return fmt.Errorf("cache history: answer of %d parts", len(v))
		}
		window, err := strconv.ParseInt(cacheStr(v[1]), 10, 64)
		if err != nil {
			return fmt.Errorf("cache history: window %q", cacheStr(v[1]))
		}
		h := cacheHash(v[2])
		if h["name"] == "" && h["at"] == "" {
			return errCacheMiss // a room the cache does not hold
		}
		member, _ := v[3].(int64)
		if h["private"] == "1" && member != 1 {
			return errCacheMiss
		}
		posted, err := strconv.ParseInt(h["posted"], 10, 64)
		if err != nil {
			return fmt.Errorf("cache history: posted %q", h["posted"])
		}
		held, _ := v[4].(int64)
		below, _ := v[5].(int64)
		if held != min(posted, window) {
			return errCacheMiss // the window lost messages
		}
		if posted > window && below < int64(limit) {
			return errCacheMiss // the page reaches past the window
		}
		if int64(len(v)-6) != min(below, int64(limit)) {
			return fmt.Errorf("cache history: %d messages of %d", len(v)-6, min(below, int64(limit)))
		}
		msgs = make([]events.Message, 0, len(v)-6)
		for i := len(v) - 1; i >= 6; i-- { // newest first: reversed
			pair, ok := v[i].([]any)
			if !ok || len(pair) != 2 {
				return fmt.Errorf("cache history: message entry %v", v[i])
			}
			id, err := strconv.ParseUint(cacheStr(pair[0]), 10, 64)
			if err != nil {
				return fmt.Errorf("cache history: message id %v", pair[0])
			}
			f := cacheHash(pair[1])
			if len(f) == 0 {
				return errCacheMiss // a message of the window lost
			}
			m, err := cache.DecodeMessage(id, f)
			if err != nil {
				return err
			}
			msgs = append(msgs, m)
		}
		more = below > int64(limit) || posted > window
		return nil
	})
	return msgs, more, err
}

// parseRoom builds a room entry from its hash and members, checking that
// the cache holds both completely.
func parseRoom(id string, rawHash, rawMembers any) (cachedRoom, error) {
	h := cacheHash(rawHash)
	if h["name"] == "" && h["at"] == "" {
		return cachedRoom{}, errCacheMiss
	}
	members := cacheStrs(rawMembers)
	rj := roomJSON{ID: id, Name: h["name"], Description: h["description"], IsPrivate: h["private"] == "1", CreatedBy: h["by"], MemberCount: len(members)}
	count, err1 := strconv.Atoi(h["members"])
	head, err2 := strconv.ParseUint(h["head"], 10, 64)
	at, err3 := strconv.ParseInt(h["at"], 10, 64)
	if err := errors.Join(err1, err2, err3); err != nil {
		return cachedRoom{}, fmt.Errorf("cache room %s: %w", id, err)
	}
	if count != len(members) {
		return cachedRoom{}, errCacheMiss // the member set is incomplete
	}
	rj.HeadSeq, rj.CreatedAt = head, time.UnixMicro(at)
	return cachedRoom{room: rj, members: members}, nil
}

// cacheStr is a script's string answer ("" for anything else).
func cacheStr(v any) string {
	s, _ := v.(string)
	return s
}

// cacheStrs is a script's array of strings.
func cacheStrs(v any) []string {
	a, _ := v.([]any)
	out := make([]string, 0, len(a))
	for _, x := range a {
		out = append(out, cacheStr(x))
	}
	return out
}

// cacheHash is an HGETALL answer inside a script's answer.
func cacheHash(v any) map[string]string {
	a := cacheStrs(v)
	h := make(map[string]string, len(a)/2)
	for i := 0; i+1 < len(a); i += 2 {
		h[a[i]] = a[i+1]
	}
	return h
}
