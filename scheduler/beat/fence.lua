-- The tick fence: claims (entry, tick) pairs and pushes their messages, atomically.
--
-- One call claims several pairs in order. For each claim, KEYS holds the entry's state hash
-- (shoal:beat:entry:<name>) and then one list per message; ARGV holds the number of messages,
-- tick_ms, now_ms, next_due_ms ('' for none), mode (fire | skip | cond0 | cond1), the fencing
-- token, then the message payloads. A tick fires only if it is newer than last_tick_ms
-- (compare-and-set); in the same step its messages are LPUSHed. Replies, one per claim:
-- 1 fired, 0 claimed without publishing (a skip, or a condition without a rising edge),
-- -1 refused (this tick or a newer one was already claimed).
local replies = {}
local k, a = 1, 1
while a <= #ARGV do
  local count = tonumber(ARGV[a])
  local key = KEYS[k]
  local tick_ms = ARGV[a + 1]
  local last = tonumber(redis.call('HGET', key, 'last_tick_ms') or '-1')
  local reply = 1
  if tonumber(tick_ms) <= last then
    redis.call('HINCRBY', key, 'refused', 1)
    reply = -1
  else
    redis.call('HSET', key, 'last_tick_ms', tick_ms)
    if ARGV[a + 3] ~= '' then
      redis.call('HSET', key, 'next_due_ms', ARGV[a + 3])
    else
      redis.call('HDEL', key, 'next_due_ms')
    end
    local mode = ARGV[a + 4]
    if mode == 'skip' then
      reply = 0
    elseif mode == 'cond0' or mode == 'cond1' then
      local before = redis.call('HGET', key, 'condition')
      redis.call('HSET', key, 'condition', string.sub(mode, 5))
      if mode == 'cond0' or before == '1' then reply = 0 end
    end
    if reply == 1 then
      redis.call('HINCRBY', key, 'run_count', 1)
      redis.call('HSET', key, 'last_run_ms', ARGV[a + 2], 'last_fired_tick_ms', tick_ms,
                 'fencing_token', ARGV[a + 5])
      for i = 1, count do
        redis.call('LPUSH', KEYS[k + i], ARGV[a + 5 + i])
      end
    end
  end
  replies[#replies + 1] = reply
  k = k + 1 + count
  a = a + 6 + count
end
return replies
