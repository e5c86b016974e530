-- A worker process settles what it finished and takes the next messages, in one atomic step:
-- a message is always in a queue's list, in this process's record, or in a delayed set.
-- KEYS[1] the workers sorted set; then k lists in the order to take from (priority, then
-- fairness), their k held hashes, their k staging lists, then d delayed sets.
-- ARGV[1] incarnation, ARGV[2] liveness timeout (ms), ARGV[3] k, ARGV[4] how many to take,
-- ARGV[5] the first sequence number to give, ARGV[6] m, then m operations, each one of
--   'a' i seq                   acknowledge: forget held message seq of list i
--   'g' i seq raw               give back to the front of list i (raw '': as it was held)
--   'p' i seq j due member      park in delayed set j, scored by due (ms)
-- Reply: {now (ms), taken or -1 when this process was declared dead, then per message taken:
-- list index, sequence number, message}.
local inc, ttl, k = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local want, seq, m = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local a = 7
for _ = 1, m do
  local code, i, field = ARGV[a], tonumber(ARGV[a + 1]), ARGV[a + 2]
  local held = KEYS[1 + k + i]
  if code == 'a' then
    redis.call('HDEL', held, field)
    a = a + 3
  elseif code == 'g' then
    local raw = ARGV[a + 3]
    if raw == '' then raw = redis.call('HGET', held, field) end
    if raw and redis.call('HDEL', held, field) == 1 then redis.call('RPUSH', KEYS[1 + i], raw) end
    a = a + 4
  elseif code == 'p' then
    if redis.call('HDEL', held, field) == 1 then
      redis.call('ZADD', KEYS[1 + 3 * k + tonumber(ARGV[a + 3])], ARGV[a + 4], ARGV[a + 5])
    end
    a = a + 6
  else
    return redis.error_reply('fetch: unknown operation ' .. tostring(code))
  end
end
local now = now_ms()
if want <= 0 then return {now, 0} end
if not is_alive(redis.call('ZSCORE', KEYS[1], inc), now, ttl) then return {now, -1} end
local out, got = {now, 0}, 0
for i = 1, k do
  local src, held, staging = KEYS[1 + i], KEYS[1 + k + i], KEYS[1 + 2 * k + i]
  -- What a blocking move staged was at the front of the list: it comes first.
  for _, from in ipairs({staging, src}) do
    if got < want then
      local items = redis.call('RPOP', from, want - got)
      if items then
        for _, raw in ipairs(items) do
          redis.call('HSET', held, seq, raw)
          out[#out + 1], out[#out + 2], out[#out + 3] = i, seq, raw
          seq, got = seq + 1, got + 1
        end
      end
    end
  end
end
-- Staged messages beyond what was wanted go back to the front of their lists, oldest first.
for i = 1, k do
  while redis.call('LMOVE', KEYS[1 + 2 * k + i], KEYS[1 + i], 'LEFT', 'RIGHT') do end
end
out[2] = got
return out
