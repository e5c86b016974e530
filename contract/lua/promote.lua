-- Delayed tasks that are due (within the lead) go back to the front of their lists, each once.
-- KEYS: delayed sets. ARGV[1] lead (ms), ARGV[2] at most this many moved by this call.
-- A member is '<length of the list name>:<list name><message>'. The latest due are moved first,
-- so the earliest due ends at the very front and runs first.
-- Reply: {moved, 1 when more are due (call again), else 0}.
local lead, limit = tonumber(ARGV[1]), tonumber(ARGV[2])
local horizon = now_ms() + lead
local moved = 0
for _, key in ipairs(KEYS) do
  if moved >= limit then return {moved, 1} end
  local due = redis.call('ZRANGE', key, horizon, '-inf', 'BYSCORE', 'REV', 'LIMIT', 0, limit - moved)
  for _, member in ipairs(due) do
    local n, at = string.match(member, '^(%d+):()')
    if n then
      local list = string.sub(member, at, at + tonumber(n) - 1)
      redis.call('RPUSH', list, string.sub(member, at + tonumber(n)))
    end
    redis.call('ZREM', key, member)
    moved = moved + 1
  end
end
local more = 0
if moved >= limit then more = 1 end
return {moved, more}
