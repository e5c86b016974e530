"""Kombu's Redis transport with Celery's priority order turned round: 9 is the most urgent.

Stock kombu files a message with priority ``p`` under the step ``max(s <= p)`` (lists
``queue``, ``queue\\x06\\x163`` ...) and consumes the steps in ascending order, so 0 runs first.
Publishing stays exactly as stock clients do it; only the consuming side reads the steps from
the highest down. A stock Celery client's ``priority=9`` is therefore the most urgent with no
help from the publisher kit, and messages without a priority are the least urgent.
"""

from __future__ import annotations

from bisect import bisect
from typing import Any

from kombu.transport import redis as kombu_redis


class _DescendingPriorities:
    """Mixin: consume from the highest step down; file messages exactly as kombu does."""

    priority_steps: list[int]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[call-arg]
        self.priority_steps = sorted(self.priority_steps, reverse=True)

    def priority(self, n: int) -> int:
        steps = sorted(self.priority_steps)
        return steps[bisect(steps, n) - 1]


class Channel(_DescendingPriorities, kombu_redis.Channel):  # type: ignore[misc]
    pass


class SentinelChannel(_DescendingPriorities, kombu_redis.SentinelChannel):  # type: ignore[misc]
    pass


class Transport(kombu_redis.Transport):  # type: ignore[misc]
    Channel = Channel


class SentinelTransport(kombu_redis.SentinelTransport):  # type: ignore[misc]
    Channel = SentinelChannel


def transport_for(url: str) -> str:
    """The dotted transport class for a broker URL (Sentinel URLs need their own)."""
    scheme = url.split("://", 1)[0]
    if scheme.startswith("sentinel"):
        return "workers.transport:SentinelTransport"
    return "workers.transport:Transport"
