-- A worker process settles what it finished and takes the next messages, in one atomic step:
-- a message is always in a queue's list, in this process's record, or in a delayed set.
-- KEYS[1] the workers sorted set; then k lists in the order to take from (priority, then
-- fairness), their k held hashes, their k staging lists, the k holders hashes of their queues
-- (this process's count per queue is written there after every call, for the census).
-- ARGV[1] incarnation, ARGV[2] liveness timeout (ms), ARGV[3] k, ARGV[4] take from the first
-- this many lists only (the others' staging lists are only emptied), ARGV[5] how many to take,
-- ARGV[6] the first sequence number to give, ARGV[7] m, then m operations, each one of
--   'a' held seq                      acknowledge: forget message seq of held hash held
--   'g' held seq list raw             give back to the front of list (raw '': as it was held)
--   'p' held seq delayed due member   park in sorted set delayed, scored by due (ms)
-- An operation applies only while the message is still in the record: sending one twice, or
-- after the record was recovered, changes nothing.
-- Reply: {now (ms), taken or -1 when this process was declared dead, then per message taken:
-- list index, sequence number, message}.
local inc, ttl, k, k_take = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local want, seq, m = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local a = 8
for _ = 1, m do
  local code, held, field = ARGV[a], ARGV[a + 1], ARGV[a + 2]
  if code == 'a' then
    redis.call('HDEL', held, field)
    a = a + 3
  elseif code == 'g' then
    local raw = ARGV[a + 4]
    if raw == '' then raw = redis.call('HGET', held, field) end
    if raw and redis.call('HDEL', held, field) == 1 then redis.call('RPUSH', ARGV[a + 3], raw) end
    a = a + 5
  elseif code == 'p' then
    if redis.call('HDEL', held, field) == 1 then
      redis.call('ZADD', ARGV[a + 3], ARGV[a + 4], ARGV[a + 5])
    end
    a = a + 6
  else
    return redis.error_reply('fetch: unknown operation ' .. tostring(code))
  end
end
local now = now_ms()
local out, got = {now, 0}, 0
if want > 0 and not is_alive(redis.call('ZSCORE', KEYS[1], inc), now, ttl) then
  out[2], want = -1, 0
end
for i = 1, k_take do
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
-- What this process holds per queue, for the census (the held hashes' lengths: never drifts).
local held_per = {}
for i = 1, k do
  local holders = KEYS[1 + 3 * k + i]
  held_per[holders] = (held_per[holders] or 0) + redis.call('HLEN', KEYS[1 + k + i])
end
for holders, n in pairs(held_per) do
  if n > 0 then redis.call('HSET', holders, inc, n) else redis.call('HDEL', holders, inc) end
end
if out[2] == 0 then out[2] = got end
return out
