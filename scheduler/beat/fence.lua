-- The tick fence: claims (entry, tick) pairs and pushes their messages, atomically.
--
-- One call claims several pairs in order. ARGV[1] is a JSON list with one item per claim:
-- [message count, tick_ms, now_ms, next_due_ms ('' for none), mode, fencing token], the
-- instants as strings; ARGV[2..] are the message payloads in order. KEYS holds, per claim, the
-- entry's state hash (shoal:beat:entry:<name>) and then one list per message. A tick fires only
-- if it is newer than last_tick_ms (compare-and-set); in the same step its messages are
-- LPUSHed. Modes: fire, skip (claim without publishing), cond0 / cond1 (a `when` condition's
-- value: publish on a rise). Replies, one per claim: 1 fired, 0 claimed without publishing,
-- -1 refused (this tick or a newer one was already claimed).
local claims = cjson.decode(ARGV[1])
local replies = {}
local k, a = 1, 2
for c = 1, #claims do
  local claim = claims[c]
  local count, tick_ms, now_ms, next_ms, mode = claim[1], claim[2], claim[3], claim[4], claim[5]
  local key = KEYS[k]
  local last = tonumber(redis.call('HGET', key, 'last_tick_ms') or '-1')
  local reply = 1
  if tonumber(tick_ms) <= last then
    redis.call('HINCRBY', key, 'refused', 1)
    reply = -1
  elseif mode == 'fire' then  -- the common case: four commands
    redis.call('HSET', key, 'last_tick_ms', tick_ms, 'last_run_ms', now_ms,
               'last_fired_tick_ms', tick_ms, 'fencing_token', tostring(claim[6]),
               'next_due_ms', next_ms)
    if next_ms == '' then redis.call('HDEL', key, 'next_due_ms') end
    redis.call('HINCRBY', key, 'run_count', 1)
    for i = 1, count do
      redis.call('LPUSH', KEYS[k + i], ARGV[a + i - 1])
    end
  else
    if next_ms ~= '' then
      redis.call('HSET', key, 'last_tick_ms', tick_ms, 'next_due_ms', next_ms)
    else
      redis.call('HSET', key, 'last_tick_ms', tick_ms)
      redis.call('HDEL', key, 'next_due_ms')
    end
    reply = 0
    if mode == 'cond0' or mode == 'cond1' then
      local before = redis.call('HGET', key, 'condition')
      redis.call('HSET', key, 'condition', string.sub(mode, 5))
      if mode == 'cond1' and before ~= '1' then reply = 1 end
    end
    if reply == 1 then
      redis.call('HINCRBY', key, 'run_count', 1)
      redis.call('HSET', key, 'last_run_ms', now_ms, 'last_fired_tick_ms', tick_ms,
                 'fencing_token', tostring(claim[6]))
      for i = 1, count do
        redis.call('LPUSH', KEYS[k + i], ARGV[a + i - 1])
      end
    end
  end
  replies[c] = reply
  k = k + 1 + count
  a = a + count
end
return replies
