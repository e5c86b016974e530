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

Delivery (the formats are :mod:`contract.held` and :mod:`contract.delayed`):

- ``shoal:workers``: sorted set, one member per worker process (its incarnation), scored by the
  Redis time in ms until which it counts as alive.
- ``shoal:worker:<incarnation>``: hash, what a worker process holds from which list.
- ``shoal:held:<incarnation>:<list>``: hash, the messages a worker process took from ``<list>``.
- ``shoal:staging:<incarnation>:<list>``: list, messages a blocking wait moved out of ``<list>``
  for that process, not yet taken into its held hash.
- ``shoal:delayed:<queue>``: sorted set, tasks of ``<queue>`` due later, scored by due time (ms).
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


def workers() -> str:
    """Sorted set: incarnation -> liveness deadline (Redis time, ms)."""
    return f"{PREFIX}:workers"


def worker(incarnation: str) -> str:
    """Hash: a worker process's record of what it holds (:mod:`contract.held`)."""
    return f"{PREFIX}:worker:{incarnation}"


def held(incarnation: str, list_name: str) -> str:
    """Hash: sequence number -> message, taken from ``list_name`` by one worker process."""
    return f"{PREFIX}:held:{incarnation}:{list_name}"


def staging(incarnation: str, list_name: str) -> str:
    """List: messages a blocking move took from ``list_name`` for one worker process."""
    return f"{PREFIX}:staging:{incarnation}:{list_name}"


def delayed(queue: str) -> str:
    """Sorted set: tasks of ``queue`` due later, scored by due time in ms."""
    return f"{PREFIX}:delayed:{queue}"
