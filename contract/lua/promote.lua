-- Delayed tasks that are due (within the lead) go back to the front of their lists, each once
-- (promote_due in the prelude).
-- KEYS: delayed sets. ARGV[1] lead (ms), ARGV[2] at most this many moved by this call.
-- Reply: {moved, 1 when more are due (call again), else 0}.
local moved, more = promote_due(KEYS, now_ms() + tonumber(ARGV[1]), tonumber(ARGV[2]))
return {moved, more and 1 or 0}
