package cachelayout

import "github.com/redis/go-redis/v9"

// The scripts never turn a computed number into a key or a value: Lua
// numbers are doubles printed with 14 digits, so stream seqs and times are
// passed through as the strings they came as and only compared as numbers.

// ApplyScript applies a run of ops to a generation.
//
//	KEYS[1]  P cache:gen
//	ARGV[1]  P cache:
//	ARGV[2]  the generation ("": the current one)
//	ARGV[3]  from, ARGV[4] to: the stream seqs the run covers (every room
//	         fact between them is among the ops)
//	ARGV[5…] the ops, OpFields each (see ops.go)
//
// It answers {"ok", gen, cp}, {"gap", gen, cp} when from is beyond cp+1
// (facts in between are missing: nothing applied), or {"absent", gen} when
// there is no such generation or it has no checkpoint.
var ApplyScript = redis.NewScript(`
local gen = ARGV[2]
if gen == '' then
  gen = redis.call('GET', KEYS[1])
  if not gen then return {'absent', ''} end
end
local p = ARGV[1] .. gen .. ':'
local meta = p .. 'meta'
local m = redis.call('HMGET', meta, 'cp', 'window')
if not m[1] then return {'absent', gen} end
local cp = tonumber(m[1])
if tonumber(ARGV[3]) > cp + 1 then return {'gap', gen, m[1]} end
if tonumber(ARGV[4]) <= cp then return {'ok', gen, m[1]} end
local window = tonumber(m[2])

local function apply(kind, id, room, seq, user, at, a, b, c, d)
  local nid = tonumber(id)
  local rk = p .. 'room:' .. room
  local r = redis.call('HMGET', rk, '_s', 'head', 'name')
  if r[1] and tonumber(r[1]) >= nid then return end
  if kind == 'c' then
    if r[3] then return end
    redis.call('HSET', rk, 'name', a, 'description', b, 'private', c, 'by', user, 'at', at,
      'head', seq, 'members', '1', 'posted', '0', '_s', id)
    redis.call('SADD', p .. 'mem:' .. room, user)
    redis.call('ZADD', p .. 'rooms', at, room)
    redis.call('HINCRBY', meta, 'rooms', 1)
    return
  end
  -- A room fact before its room.created: no room holds it.
  if not r[3] then return end
  local head = r[2]
  if tonumber(seq) > tonumber(head) then head = seq end
  redis.call('HSET', rk, 'head', head, '_s', id)
  if kind == 'j' then
    if redis.call('SADD', p .. 'mem:' .. room, user) == 1 then redis.call('HINCRBY', rk, 'members', 1) end
  elseif kind == 'l' then
    if redis.call('SREM', p .. 'mem:' .. room, user) == 1 then redis.call('HINCRBY', rk, 'members', -1) end
  elseif kind == 'p' then
    local wk = p .. 'msgs:' .. room
    redis.call('HSET', p .. 'm:' .. id, 'room', room, 'seq', seq, 'user', user, 'text', a, 'cid', b,
      'att', c, 'reply', d, 'at', at, '_s', id)
    redis.call('ZADD', wk, id, id)
    redis.call('HINCRBY', rk, 'posted', 1)
    local over = redis.call('ZCARD', wk) - window
    if over > 0 then
      local gone = redis.call('ZPOPMIN', wk, over)
      for j = 1, #gone, 2 do redis.call('DEL', p .. 'm:' .. gone[j]) end
    end
  elseif kind ~= 'h' then
    -- Edits, deletes and reactions change a message the window holds;
    -- one outside it is not cached, and one of another room is not this
    -- fact's to change.
    local mk = p .. 'm:' .. a
    local msg = redis.call('HMGET', mk, 'room', 'deleted', '_s')
    if msg[1] ~= room or (msg[3] and tonumber(msg[3]) >= nid) then return end
    if kind == 'e' then
      if msg[2] then return end
      redis.call('HSET', mk, 'text', b, 'edited', at, '_s', id)
    elseif kind == 'd' then
      for _, f in ipairs(redis.call('HKEYS', mk)) do
        if string.sub(f, 1, 2) == 'r|' then redis.call('HDEL', mk, f) end
      end
      redis.call('HSET', mk, 'text', '', 'att', '[]', '_s', id)
      if not msg[2] then redis.call('HSET', mk, 'deleted', at) end
    elseif kind == 'ra' then
      if msg[2] then return end
      redis.call('HSETNX', mk, 'r|' .. user .. '|' .. b, at)
      redis.call('HSET', mk, '_s', id)
    elseif kind == 'rr' then
      redis.call('HDEL', mk, 'r|' .. user .. '|' .. b)
      redis.call('HSET', mk, '_s', id)
    end
  end
end

for i = 5, #ARGV, 10 do
  if tonumber(ARGV[i + 1]) > cp then
    apply(ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], ARGV[i + 5],
      ARGV[i + 6], ARGV[i + 7], ARGV[i + 8], ARGV[i + 9])
  end
end
redis.call('HSET', meta, 'cp', ARGV[4])
return {'ok', gen, ARGV[4]}
`)

// NewGenScript hands out a generation number never used before and creates
// its meta with checkpoint 0. The counter only grows; should it have been
// lost while generations remain, the new number is above the current one and
// above any with a meta.
//
//	KEYS[1] P cache:gens, KEYS[2] P cache:gen; ARGV[1] P cache:, ARGV[2] window,
//	ARGV[3] the log it is built from ("": not recorded)
var NewGenScript = redis.NewScript(`
local g = redis.call('INCR', KEYS[1])
local cur = tonumber(redis.call('GET', KEYS[2]) or '0')
if g <= cur then g = cur + 1 end
while redis.call('EXISTS', ARGV[1] .. g .. ':meta') == 1 do g = g + 1 end
redis.call('SET', KEYS[1], g)
redis.call('HSET', ARGV[1] .. g .. ':meta', 'cp', '0', 'window', ARGV[2], 'rooms', '0')
if ARGV[3] ~= '' then redis.call('HSET', ARGV[1] .. g .. ':meta', 'log', ARGV[3]) end
return g
`)

// SwitchScript makes a generation current if its checkpoint is not behind
// the current generation's, or if the current one records another log than
// the new one (its checkpoint counts another log's facts).
//
//	KEYS[1] P cache:gen; ARGV[1] P cache:, ARGV[2] the new generation
//
// It answers {"ok", old} (old: the generation replaced, "" if none),
// {"behind", current, its cp}, or {"absent"} if the new generation has no
// checkpoint (Redis lost it).
var SwitchScript = redis.NewScript(`
local m = redis.call('HMGET', ARGV[1] .. ARGV[2] .. ':meta', 'cp', 'log')
local cp = m[1]
if not cp then return {'absent'} end
local cur = redis.call('GET', KEYS[1])
if cur == ARGV[2] then return {'ok', ''} end
if cur then
  local c = redis.call('HMGET', ARGV[1] .. cur .. ':meta', 'cp', 'log')
  local otherlog = c[2] and m[2] and c[2] ~= m[2]
  if c[1] and tonumber(c[1]) > tonumber(cp) and not otherlog then return {'behind', cur, c[1]} end
end
redis.call('SET', KEYS[1], ARGV[2])
return {'ok', cur or ''}
`)

// CurrentScript answers the current generation and its checkpoint, {} if
// there is none or it has no checkpoint.
//
//	KEYS[1] P cache:gen; ARGV[1] P cache:
var CurrentScript = redis.NewScript(`
local gen = redis.call('GET', KEYS[1])
if not gen then return {} end
local cp = redis.call('HGET', ARGV[1] .. gen .. ':meta', 'cp')
if not cp then return {} end
return {gen, cp}
`)

// RetireScript makes a generation no longer current, if it is.
//
//	KEYS[1] P cache:gen; ARGV[1] the generation
var RetireScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`)

// SetLogScript records the log a generation was built from, if it records
// none and still holds its checkpoint: a generation dropped meanwhile is
// not made again as a meta hash of its log alone.
//
//	KEYS[1] P cache:<g>:meta; ARGV[1] the log id
var SetLogScript = redis.NewScript(`
if redis.call('HEXISTS', KEYS[1], 'cp') == 1 then
  return redis.call('HSETNX', KEYS[1], 'log', ARGV[1])
end
return 0
`)

// Lease scripts: renew or release the lease only if this holder has it.
//
//	KEYS[1] P cache:lease; ARGV[1] holder, ARGV[2] TTL in ms
var (
	RenewLeaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
`)
	ReleaseLeaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`)
)
