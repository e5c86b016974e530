"""A global token bucket in Redis: one limit held across every replica and process.

One Lua script refills and takes a token atomically, with the time taken from Redis ``TIME``,
so the clocks of the worker pods do not matter. A caller that finds the bucket empty still
takes its token (the count goes below zero) and is told how long to wait: callers are served
in arrival order at exactly the configured rate, with no polling loop.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from contract import keys
from workers.settings import RateLimit

# KEYS[1] bucket hash; ARGV[1] rate per second; ARGV[2] burst (bucket size).
TOKEN_BUCKET = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil or ts == nil then
  tokens = burst
  ts = now
end
if now > ts then
  tokens = math.min(burst, tokens + (now - ts) * rate)
  ts = now
end
tokens = tokens - 1
local wait = 0
if tokens < 0 then
  wait = -tokens / rate
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.6f', tokens),
  'ts', string.format('%.6f', ts))
redis.call('PEXPIRE', KEYS[1], math.ceil((burst / rate + wait) * 1000) + 1000)
return string.format('%.6f', wait)
"""


def default_burst(rate_per_s: float) -> float:
    """The bucket size for a rate: one second's worth of tokens, at least one."""
    return max(1.0, rate_per_s)


def limits_for(task_name: str, queue: str | None, limits: Iterable[RateLimit]) -> list[RateLimit]:
    """The configured limits that apply to a task run from ``queue``."""
    return [
        limit
        for limit in limits
        if (limit.scope == "task" and limit.name == task_name)
        or (limit.scope == "queue" and queue is not None and limit.name == queue)
    ]


class TokenBucket:
    """The Redis adapter: ``acquire`` takes one token and returns the seconds to wait."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._script = client.register_script(TOKEN_BUCKET)

    def acquire(self, scope_key: str, rate_per_s: float, burst: float | None = None) -> float:
        if rate_per_s <= 0:
            raise ValueError(f"rate_per_s must be > 0, got {rate_per_s}")
        size = default_burst(rate_per_s) if burst is None else burst
        raw = self._script(keys=[keys.rate_limit(scope_key)], args=[repr(rate_per_s), repr(size)])
        return float(raw.decode() if isinstance(raw, bytes) else raw)


def acquire(client: Any, scope_key: str, rate_per_s: float, burst: float | None = None) -> float:
    """One token from the bucket ``scope_key`` (e.g. ``queue:emails``); returns the wait in s."""
    return TokenBucket(client).acquire(scope_key, rate_per_s, burst)
