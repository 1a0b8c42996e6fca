package cachelayout

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/chillin-chat/chillin/events"
)

// Read scripts, for readers of the live cache. Each runs with KEYS[1] =
// Keys.Current() and ARGV[1] = Keys.Root(), reads the current generation
// and then its keys, so a switch of generations never mixes two in one
// answer, and answers {"absent"} when there is no current generation with a
// checkpoint.
var (
	// RoomsScript: ARGV[2] the most rooms. Answers {"ok", rooms created,
	// room count, then per room: id, its hash (flat), its members}.
	RoomsScript = redis.NewScript(`
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
	// RoomScript: ARGV[2] the room. Answers {"ok", its hash, its members}.
	RoomScript = redis.NewScript(`
local gen = redis.call('GET', KEYS[1])
if not gen then return {'absent'} end
local p = ARGV[1] .. gen .. ':'
if not redis.call('HGET', p .. 'meta', 'cp') then return {'absent'} end
return {'ok', redis.call('HGETALL', p .. 'room:' .. ARGV[2]), redis.call('SMEMBERS', p .. 'mem:' .. ARGV[2])}
`)
	// HistoryScript: ARGV[2] the room, ARGV[3] the id bound (HistoryBound),
	// ARGV[4] limit, ARGV[5] the reader. Answers {"ok", window, room hash,
	// reader is a member (1/0), messages in the window, of them below the
	// bound, then the newest limit below it, each as {id, hash}}.
	HistoryScript = redis.NewScript(`
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

// ErrMiss: the cache cannot answer this read completely (no generation, a
// room it does not hold, a page reaching past its window, a key missing).
var ErrMiss = errors.New("not in the cache")

// IsOK reports whether a read script answered with data ("ok") rather than
// "absent".
func IsOK(v []any) bool { return len(v) > 0 && v[0] == "ok" }

// ParseRooms reads RoomsScript's answer: the room list, in creation order,
// if the cache holds it completely, at most max rooms.
func ParseRooms(v []any, max int) ([]RoomEntry, error) {
	created, err1 := strconv.Atoi(str(v[1]))
	count, ok := v[2].(int64)
	if err1 != nil || !ok || int64(created) != count {
		return nil, ErrMiss // the list itself is incomplete
	}
	var out []RoomEntry
	for i := 3; i+2 < len(v); i += 3 {
		r, err := parseRoom(str(v[i]), v[i+1], v[i+2])
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	if len(out) != min(int(count), max) {
		return nil, fmt.Errorf("cache rooms: %d listed of %d", len(out), count)
	}
	return out, nil
}

// ParseRoom reads RoomScript's answer for room id.
func ParseRoom(id string, v []any) (RoomEntry, error) {
	if len(v) != 3 {
		return RoomEntry{}, fmt.Errorf("cache room: answer of %d parts", len(v))
	}
	return parseRoom(id, v[1], v[2])
}

// HistoryBound is HistoryScript's id bound for messages with id < before
// (before = MaxInt64: no bound).
func HistoryBound(before int64) string {
	if before == 1<<63-1 {
		return "+inf"
	}
	return "(" + strconv.FormatInt(before, 10)
}

// ParseHistory reads HistoryScript's answer: the newest limit messages of
// the room below the bound, oldest first, and whether older ones exist, if
// the cache holds all of them and the room is public or the reader a
// member. Anything else is ErrMiss (Postgres answers, and says why not).
func ParseHistory(v []any, limit int) ([]events.Message, bool, error) {
	if len(v) < 6 {
		return nil, false, fmt.Errorf("cache history: answer of %d parts", len(v))
	}
	window, err := strconv.ParseInt(str(v[1]), 10, 64)
	if err != nil {
		return nil, false, fmt.Errorf("cache history: window %q", str(v[1]))
	}
	h := hash(v[2])
	if h["name"] == "" && h["at"] == "" {
		return nil, false, ErrMiss // a room the cache does not hold
	}
	member, _ := v[3].(int64)
	if h["private"] == "1" && member != 1 {
		return nil, false, ErrMiss
	}
	posted, err := strconv.ParseInt(h["posted"], 10, 64)
	if err != nil {
		return nil, false, fmt.Errorf("cache history: posted %q", h["posted"])
	}
	held, _ := v[4].(int64)
	below, _ := v[5].(int64)
	if held != min(posted, window) {
		return nil, false, ErrMiss // the window lost messages
	}
	if posted > window && below < int64(limit) {
		return nil, false, ErrMiss // the page reaches past the window
	}
	if int64(len(v)-6) != min(below, int64(limit)) {
		return nil, false, fmt.Errorf("cache history: %d messages of %d", len(v)-6, min(below, int64(limit)))
	}
	msgs := make([]events.Message, 0, len(v)-6)
	for i := len(v) - 1; i >= 6; i-- { // newest first: reversed
		pair, ok := v[i].([]any)
		if !ok || len(pair) != 2 {
			return nil, false, fmt.Errorf("cache history: message entry %v", v[i])
		}
		id, err := strconv.ParseUint(str(pair[0]), 10, 64)
		if err != nil {
			return nil, false, fmt.Errorf("cache history: message id %v", pair[0])
		}
		f := hash(pair[1])
		if len(f) == 0 {
			return nil, false, ErrMiss // a message of the window lost
		}
		m, err := DecodeMessage(id, f)
		if err != nil {
			return nil, false, err
		}
		msgs = append(msgs, m)
	}
	return msgs, below > int64(limit) || posted > window, nil
}

// parseRoom builds a room entry from its hash and members, checking that
// the cache holds both completely.
func parseRoom(id string, rawHash, rawMembers any) (RoomEntry, error) {
	h := hash(rawHash)
	if h["name"] == "" && h["at"] == "" {
		return RoomEntry{}, ErrMiss
	}
	members := strs(rawMembers)
	e := RoomEntry{ID: id, Name: h["name"], Description: h["description"], IsPrivate: h["private"] == "1", CreatedBy: h["by"], Members: members}
	count, err1 := strconv.Atoi(h["members"])
	head, err2 := strconv.ParseUint(h["head"], 10, 64)
	at, err3 := strconv.ParseInt(h["at"], 10, 64)
	if err := errors.Join(err1, err2, err3); err != nil {
		return RoomEntry{}, fmt.Errorf("cache room %s: %w", id, err)
	}
	if count != len(members) {
		return RoomEntry{}, ErrMiss // the member set is incomplete
	}
	e.HeadSeq, e.CreatedAt = head, time.UnixMicro(at)
	return e, nil
}

// str is a script's string answer ("" for anything else).
func str(v any) string {
	s, _ := v.(string)
	return s
}

// strs is a script's array of strings.
func strs(v any) []string {
	a, _ := v.([]any)
	out := make([]string, 0, len(a))
	for _, x := range a {
		out = append(out, str(x))
	}
	return out
}

// hash is an HGETALL answer inside a script's answer.
func hash(v any) map[string]string {
	a := strs(v)
	h := make(map[string]string, len(a)/2)
	for i := 0; i+1 < len(a); i += 2 {
		h[a[i]] = a[i+1]
	}
	return h
}
