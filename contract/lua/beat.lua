-- A worker process joins or beats: its liveness deadline moves to now + timeout.
-- KEYS[1] the workers sorted set, KEYS[2] this process's record hash.
-- ARGV[1] incarnation, ARGV[2] liveness timeout (ms), ARGV[3] how many dead ones to list,
-- ARGV[4] 'join' (then ARGV[5..] are record fields and values), 'beat', or 'scan' (only list
-- the dead, for a process that holds nothing).
-- Reply: {1 when alive (0: declared dead, it must join again under a new incarnation), now (ms),
-- then incarnations whose deadline passed (for recovery)}.
local inc, ttl, limit = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local now = now_ms()
local ok = 0
if ARGV[4] == 'join' then
  if redis.call('ZSCORE', KEYS[1], inc) then
    return redis.error_reply('incarnation ' .. inc .. ' exists')
  end
  local fields = {}
  for i = 5, #ARGV do fields[#fields + 1] = ARGV[i] end
  redis.call('HSET', KEYS[2], 'ttl_ms', ttl, unpack(fields))
  redis.call('ZADD', KEYS[1], now + ttl, inc)
  ok = 1
elseif ARGV[4] == 'beat' and is_alive(redis.call('ZSCORE', KEYS[1], inc), now, ttl) then
  redis.call('ZADD', KEYS[1], now + ttl, inc)
  ok = 1
end
local reply = {ok, now}
if limit > 0 and uptime_ms() >= ttl then
  local dead = redis.call('ZRANGE', KEYS[1], '(' .. now, '-inf', 'BYSCORE', 'REV', 'LIMIT', 0, limit)
  for _, d in ipairs(dead) do reply[#reply + 1] = d end
end
return reply
