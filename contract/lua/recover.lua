-- Everything a worker process holds goes back to the front of the list it came from, in one
-- atomic step: exactly once, however many recoverers race.
-- KEYS[1] the workers sorted set, KEYS[2] the process's record hash.
-- ARGV[1] incarnation, ARGV[2] '1' when the process gives back its own record (clean shutdown),
-- ARGV[3] forget after (ms): a record dead this long is deleted (until then, a message a blocking
-- move put into its staging list late is still returned by a later recovery, at most one a
-- second however many recoverers try).
-- Reply: how many messages went back, or -1 when the process is alive.
local inc, force, forget = ARGV[1], ARGV[2] == '1', tonumber(ARGV[3])
local now = now_ms()
local deadline = redis.call('ZSCORE', KEYS[1], inc)
if not force then
  if not deadline then return 0 end
  local ttl = tonumber(redis.call('HGET', KEYS[2], 'ttl_ms') or '0')
  if is_alive(deadline, now, ttl) then return -1 end
  local swept = tonumber(redis.call('HGET', KEYS[2], 'swept_ms') or '0')
  if now - swept < 1000 then return 0 end
end
redis.call('HSET', KEYS[2], 'swept_ms', now)
local moved = 0
local fields = redis.call('HGETALL', KEYS[2])
for x = 1, #fields, 2 do
  local name = fields[x]
  if string.sub(name, 1, 5) == 'list:' then
    local src = string.sub(name, 6)
    local rec = cjson.decode(fields[x + 1])
    -- Staging holds the newest (taken while the list was empty): it goes back first, so the
    -- held messages, taken earlier, end at the very front; among those the lowest sequence
    -- number (the first taken) is consumed first.
    while redis.call('LMOVE', rec.staging, src, 'LEFT', 'RIGHT') do moved = moved + 1 end
    local h = redis.call('HGETALL', rec.held)
    if #h > 0 then
      local entries = {}
      for y = 1, #h, 2 do entries[#entries + 1] = {tonumber(h[y]), h[y + 1]} end
      table.sort(entries, function(p, q) return p[1] > q[1] end)
      for _, e in ipairs(entries) do redis.call('RPUSH', src, e[2]) end
      moved = moved + #entries
      redis.call('DEL', rec.held)
    end
  end
end
if force then
  deadline = now - 1
  redis.call('ZADD', KEYS[1], deadline, inc)
end
if deadline and now - tonumber(deadline) > forget then
  redis.call('DEL', KEYS[2])
  redis.call('ZREM', KEYS[1], inc)
end
return moved
