"""Every Redis key name shoal writes or reads, in one place. Pure: no I/O here.

Kombu's own lists (a queue's list and its priority lists) are named in
:mod:`contract.priority`; everything under the ``shoal:`` prefix is named here.

- ``shoal:inflight:<queue>``: hash, one field per worker (the pod name), value the in-flight
  record of :mod:`contract.inflight`.
- ``shoal:stats:<queue>``: hash; ``completed`` (added by workers in batches, per heartbeat) and
  ``dead_letters_dropped``.
- ``shoal:dlq:<queue>``: list of dead-letter entries, newest first; ``shoal:dlq-queues``: the set
  of queues that have one.
- ``shoal:ratelimit:<scope>:<name>``: the token bucket of a global rate limit.
- ``shoal:autoscaler:status``: hash, queue -> JSON of the controller's last look and decision.
- ``shoal:beat:entry:<name>``: hash, one periodic entry's fence state; ``shoal:beat:leader``
  and ``shoal:beat:leader:token``: the beat's lease and its fencing token counter.
"""

from __future__ import annotations

PREFIX = "shoal"


def inflight(queue: str) -> str:
    return f"{PREFIX}:inflight:{queue}"


def stats(queue: str) -> str:
    return f"{PREFIX}:stats:{queue}"


def dead_letter(queue: str) -> str:
    return f"{PREFIX}:dlq:{queue}"


def dead_letter_index() -> str:
    """A set of the queues that have a dead-letter list."""
    return f"{PREFIX}:dlq-queues"


def rate_limit(scope_key: str) -> str:
    return f"{PREFIX}:ratelimit:{scope_key}"


def autoscaler_status() -> str:
    """Hash: queue -> JSON of the controller's last observation and decision."""
    return f"{PREFIX}:autoscaler:status"


def beat_entry(name: str) -> str:
    """Hash: one periodic entry's fence state (``last_tick_ms``, ``run_count`` ...)."""
    return f"{PREFIX}:beat:entry:{name}"


def beat_leader() -> str:
    return f"{PREFIX}:beat:leader"


def beat_leader_token() -> str:
    return f"{PREFIX}:beat:leader:token"
