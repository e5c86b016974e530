-- Per queue: messages held by live worker processes, held by dead ones awaiting recovery, and
-- delayed (count and the earliest due time).
-- KEYS[1] the workers sorted set, then one delayed set per queue.
-- ARGV[1] the prefix of a worker's record key (incarnation appended), ARGV[2..] the queues, in
-- the order of the delayed sets.
-- Reply: one string per queue: '<live> <dead> <delayed> <earliest due ms or ->'.
local prefix = ARGV[1]
local index = {}
local live, dead = {}, {}
for q = 2, #ARGV do
  index[ARGV[q]] = q - 1
  live[q - 1], dead[q - 1] = 0, 0
end
local now = now_ms()
local members = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
for x = 1, #members, 2 do
  local record = prefix .. members[x]
  local ttl = tonumber(redis.call('HGET', record, 'ttl_ms') or '0')
  local alive = is_alive(members[x + 1], now, ttl)
  local fields = redis.call('HGETALL', record)
  for y = 1, #fields, 2 do
    if string.sub(fields[y], 1, 5) == 'list:' then
      local rec = cjson.decode(fields[y + 1])
      local q = index[rec.queue]
      if q then
        local n = redis.call('HLEN', rec.held) + redis.call('LLEN', rec.staging)
        if alive then live[q] = live[q] + n else dead[q] = dead[q] + n end
      end
    end
  end
end
local out = {}
for q = 1, #ARGV - 1 do
  local delayed = redis.call('ZCARD', KEYS[1 + q])
  local first = '-'
  if delayed > 0 then
    local head = redis.call('ZRANGE', KEYS[1 + q], 0, 0, 'WITHSCORES')
    first = head[2]
  end
  out[q] = live[q] .. ' ' .. dead[q] .. ' ' .. delayed .. ' ' .. first
end
return out
