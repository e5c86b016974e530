"""The leader lease: only to save work. Exactly-once comes from the tick fence, not from here.

``SET shoal:beat:leader <replica> NX PX <lease>`` takes the lease; the holder renews it every
third of the lease with a compare-and-pexpire script; a standby retries as often, so a crashed
leader is replaced within one lease time. Each acquisition takes a new fencing token (INCR),
recorded with every tick the holder fires.
"""

from __future__ import annotations

import redis

from contract.keys import beat_leader as leader_key
from contract.keys import beat_leader_token as token_key

RENEW_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
RELEASE_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class Lease:
    def __init__(self, client: redis.Redis, replica_id: str, lease_s: float) -> None:
        self.client = client
        self.replica_id = replica_id
        self.lease_ms = max(int(lease_s * 1000), 100)
        self.token = 0
        self.held = False
        self._renew = client.register_script(RENEW_LUA)
        self._release = client.register_script(RELEASE_LUA)

    @property
    def renew_every_s(self) -> float:
        """The holder renews three times per lease."""
        return self.lease_ms / 3000

    @property
    def retry_every_s(self) -> float:
        """A standby polls often, so it takes over at most this long after the lease ends."""
        return min(0.5, self.lease_ms / 6000)

    def refresh(self) -> bool:
        """Renew the lease if held, else try to take it; returns whether this replica leads."""
        key = leader_key()
        if self.held and int(self._renew(keys=[key], args=[self.replica_id, self.lease_ms])):
            return True
        self.held = bool(self.client.set(key, self.replica_id, nx=True, px=self.lease_ms))
        if self.held:
            self.token = int(self.client.incr(token_key()))
        return self.held

    def release(self) -> None:
        if self.held:
            self._release(keys=[leader_key()], args=[self.replica_id])
            self.held = False


class NoLease:
    """Every replica acts on every tick (``--no-leader-lease``); the fence still holds."""

    token = 0
    held = True
    renew_every_s = 1.0
    retry_every_s = 1.0

    def refresh(self) -> bool:
        return True

    def release(self) -> None:
        return None
