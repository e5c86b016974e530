-- Per queue: messages held by live worker processes, held by dead ones awaiting recovery, and
-- delayed (count and the earliest due time).
-- KEYS[1] the workers sorted set, then one delayed set per queue, then one holders hash per
-- queue (incarnation -> messages of the queue it holds, written by fetch.lua after every call,
-- removed by recover.lua).
-- ARGV[1] the prefix of a worker's record key (incarnation appended), ARGV[2..] the queues, in
-- the order of the delayed sets.
-- Reply: one string per queue: '<live> <dead> <delayed> <earliest due ms or ->'.
-- The cost grows with the queues and the processes holding something, not with every process.
local prefix = ARGV[1]
local n = #ARGV - 1
local now = now_ms()
local alive_of = {}
local function alive(inc)
  local known = alive_of[inc]
  if known == nil then
    local ttl = tonumber(redis.call('HGET', prefix .. inc, 'ttl_ms') or '0')
    known = is_alive(redis.call('ZSCORE', KEYS[1], inc), now, ttl)
    alive_of[inc] = known
  end
  return known
end
local index = {}
local live, dead = {}, {}
for q = 1, n do
  index[ARGV[1 + q]] = q
  live[q], dead[q] = 0, 0
  local counts = redis.call('HGETALL', KEYS[1 + n + q])
  for x = 1, #counts, 2 do
    local held = tonumber(counts[x + 1]) or 0
    if alive(counts[x]) then live[q] = live[q] + held else dead[q] = dead[q] + held end
  end
end
-- A dead process may also have messages a blocking move staged after its last fetch: only the
-- dead (deadline passed; few, until recovery) have their records read.
local late = redis.call('ZRANGE', KEYS[1], '(' .. now, '-inf', 'BYSCORE', 'REV', 'LIMIT', 0, 1000)
for _, inc in ipairs(late) do
  if not alive(inc) then
    local fields = redis.call('HGETALL', prefix .. inc)
    for y = 1, #fields, 2 do
      if string.sub(fields[y], 1, 5) == 'list:' then
        local rec = cjson.decode(fields[y + 1])
        local q = index[rec.queue]
        if q then dead[q] = dead[q] + redis.call('LLEN', rec.staging) end
      end
    end
  end
end
local out = {}
for q = 1, n do
  local delayed = redis.call('ZCARD', KEYS[1 + q])
  local first = '-'
  if delayed > 0 then
    local head = redis.call('ZRANGE', KEYS[1 + q], 0, 0, 'WITHSCORES')
    first = head[2]
  end
  out[q] = live[q] .. ' ' .. dead[q] .. ' ' .. delayed .. ' ' .. first
end
return out
