-- Prepended to every delivery script (contract/scripts.py): Redis time and the liveness rule.

-- Redis's own clock in ms, so every process judges deadlines by the same clock.
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- How long this Redis process has been up, in ms (math.huge when INFO is refused).
local function uptime_ms()
  local info = redis.pcall('INFO', 'server')
  if type(info) ~= 'string' then return math.huge end
  local s = string.match(info, 'uptime_in_seconds:(%d+)')
  return s and tonumber(s) * 1000 or math.huge
end

-- A worker is alive while its deadline lies ahead. Right after Redis started again (from its
-- append-only file) deadlines written before the outage are not trusted for one liveness
-- timeout, so a live worker gets the time to beat again: an outage is no verdict.
local function is_alive(deadline, now, ttl_ms)
  if not deadline then return false end
  if tonumber(deadline) >= now then return true end
  return uptime_ms() < ttl_ms
end
