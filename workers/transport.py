"""Kombu's Redis transport as shoal's workers consume: reliable fetch, and 9 the most urgent.

- Reliable fetch (:mod:`workers.fetcher`, :mod:`workers.qos`, :mod:`workers.poller`): a message
  moves from its queue's list into the worker process's held record in one atomic step, so a
  kill at any instant loses nothing; acknowledgements settle it there; a dead worker's record
  goes back to the queues as soon as its heartbeat deadline passes (:mod:`workers.keeper`);
  tasks due later wait in Redis. Messages in kombu's own ``unacked`` hash (stock workers, older
  shoal) are restored by kombu's visibility timeout, as before.
- Priorities: stock kombu files a message with priority ``p`` under the step ``max(s <= p)``
  (lists ``queue``, ``queue\\x06\\x163`` ...) and consumes the steps in ascending order, so 0
  runs first. Publishing stays exactly as stock clients do it; only the consuming side reads the
  steps from the highest down. A stock Celery client's ``priority=9`` is therefore the most
  urgent with no help from the publisher kit, and messages without a priority the least urgent.
"""

from __future__ import annotations

from bisect import bisect
from typing import Any

from kombu.transport import redis as kombu_redis

from workers.fetcher import ReliableFetch
from workers.poller import Poller
from workers.qos import QoS


class _DescendingPriorities:
    """Mixin: consume from the highest step down; file messages exactly as kombu does."""

    priority_steps: list[int]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[call-arg]
        self.priority_steps = sorted(self.priority_steps, reverse=True)

    def priority(self, n: int) -> int:
        steps = sorted(self.priority_steps)
        return steps[bisect(steps, n) - 1]


SHOAL_OPTIONS = (
    "shoal_worker_id",
    "shoal_liveness_timeout_s",
    "shoal_park_threshold_s",
)
"""Transport options the worker's settings reach the channel with (``workers.app``)."""


class Channel(ReliableFetch, _DescendingPriorities, kombu_redis.Channel):  # type: ignore[misc]
    QoS = QoS
    from_transport_options = (*kombu_redis.Channel.from_transport_options, *SHOAL_OPTIONS)  # type: ignore[assignment]


class SentinelChannel(ReliableFetch, _DescendingPriorities, kombu_redis.SentinelChannel):  # type: ignore[misc]
    QoS = QoS
    from_transport_options = (  # type: ignore[assignment]
        *kombu_redis.SentinelChannel.from_transport_options,
        *SHOAL_OPTIONS,
    )


class _ReliablePolling:
    cycle: Any

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[call-arg]
        self.cycle = Poller()

    def register_with_event_loop(self, connection: Any, loop: Any) -> None:
        self.cycle.hub_mode = True
        super().register_with_event_loop(connection, loop)  # type: ignore[misc]


class Transport(_ReliablePolling, kombu_redis.Transport):  # type: ignore[misc]
    Channel = Channel


class SentinelTransport(_ReliablePolling, kombu_redis.SentinelTransport):  # type: ignore[misc]
    Channel = SentinelChannel


def transport_for(url: str) -> str:
    """The dotted transport class for a broker URL (Sentinel URLs need their own)."""
    scheme = url.split("://", 1)[0]
    if scheme.startswith("sentinel"):
        return "workers.transport:SentinelTransport"
    return "workers.transport:Transport"
