"""Redis key names shared by the workers, the autoscaler and the CLI. Pure: no I/O here.

In-flight accounting: one hash per queue, ``shoal:inflight:<queue>``; each field is a worker id
(the pod name) and its value ``"<count> <expires_at_ms>"``. A reader ignores entries whose
expiry has passed, so a dead worker's count disappears without anyone deleting it; writers
delete stale fields now and then. One HGETALL per queue, pipelined, reads every queue at once.

Completions: ``shoal:stats:<queue>`` hash, field ``completed``, incremented by the workers in
batches (once per heartbeat), so the autoscaler can derive completion and arrival rates.
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


def priority_lists(
    queue: str, steps: tuple[int, ...] = (0, 3, 6, 9), sep: str = "\x06\x16"
) -> list[str]:
    """Kombu's Redis lists for ``queue``: the queue's own list for step 0, then one per step."""
    return [queue if step == 0 else f"{queue}{sep}{step}" for step in sorted(steps)]


def encode_inflight(count: int, expires_at_ms: int) -> str:
    return f"{count} {expires_at_ms}"


def decode_inflight(raw: bytes | str, now_ms: int) -> int:
    """The count an entry stands for now: 0 once expired or unreadable."""
    text = raw.decode() if isinstance(raw, bytes) else raw
    try:
        count_s, expires_s = text.split(" ", 1)
        count, expires = int(count_s), int(expires_s)
    except ValueError:
        return 0
    return count if expires > now_ms else 0
