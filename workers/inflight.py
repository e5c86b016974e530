"""In-flight accounting: per queue, how many tasks this worker holds, kept in Redis with expiry.

Counting happens in the worker's main process with no Redis call per task: Celery's own
``celery.worker.state`` already tracks every reserved and running request there, and the
``task_received`` signal (sent by the consumer in the main process) counts arrivals per queue.
The main loop takes a :class:`Tally` every tick; a writer thread (:class:`Publisher`) sends it to
Redis in one pipelined round trip every heartbeat, and early when a count changed. Completions
are derived (``received - still held - given back unrun``) and added to ``shoal:stats:<queue>``
in batches.

The record format and its reader are :mod:`contract.inflight`.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import redis

from contract import inflight as record
from contract import keys

log = logging.getLogger("shoal.inflight")

EXPIRY_HEARTBEATS = 3
CLEANUP_EVERY_BEATS = 30


def queue_of(routing_key: object, queues: tuple[str, ...]) -> str:
    """The queue a request came from: its routing key when that is one of ours, else the first."""
    if isinstance(routing_key, str) and routing_key in queues:
        return routing_key
    return queues[0]


def count_by_queue(requests: Iterable[Any], queues: tuple[str, ...]) -> Counter[str]:
    """How many of ``requests`` (Celery ``Request`` objects) belong to each queue."""
    counts: Counter[str] = Counter()
    for request in requests:
        info = getattr(request, "delivery_info", None) or {}
        counts[queue_of(info.get("routing_key"), queues)] += 1
    return counts


@dataclass(frozen=True)
class Tally:
    """One look at the worker: tasks held per queue, and completions since start per queue."""

    inflight: Mapping[str, int]
    completed: Mapping[str, int]


@dataclass
class Accounting:
    """Main-process bookkeeping; every method runs on the worker's main loop."""

    queues: tuple[str, ...]
    received: Counter[str] = field(default_factory=Counter)
    given_back: Counter[str] = field(default_factory=Counter)

    def on_received(self, request: Any) -> None:
        info = getattr(request, "delivery_info", None) or {}
        self.received[queue_of(info.get("routing_key"), self.queues)] += 1

    def on_given_back(self, requests: Iterable[Any]) -> None:
        """Requests dropped unrun (the connection was lost; Redis delivers them again)."""
        self.given_back.update(count_by_queue(list(requests), self.queues))

    def tally(self, reserved: Iterable[Any], held: Iterable[Any]) -> Tally:
        """``reserved``: reserved and running requests; ``held``: those plus ETA-scheduled."""
        inflight = count_by_queue(list(reserved), self.queues)
        holding = count_by_queue(list(held), self.queues)
        return Tally(
            inflight={q: inflight[q] for q in self.queues},
            completed={
                q: max(0, self.received[q] - holding[q] - self.given_back[q]) for q in self.queues
            },
        )


def completed_delta(now: Mapping[str, int], sent: Mapping[str, int]) -> dict[str, int]:
    """Completions not yet added to Redis, per queue (never negative)."""
    return {q: n - sent.get(q, 0) for q, n in now.items() if n > sent.get(q, 0)}


def write_tally(
    pipe: Any, worker_id: str, inflight: Mapping[str, int], done: Mapping[str, int], expires_ms: int
) -> None:
    """Queue the writes of one heartbeat on a Redis pipeline."""
    for queue, count in inflight.items():
        pipe.hset(keys.inflight(queue), worker_id, record.encode(count, expires_ms))
    for queue, n in done.items():
        pipe.hincrby(keys.stats(queue), "completed", n)


class Publisher:
    """The writer thread: sends the latest :class:`Tally` every heartbeat and soon after changes."""

    def __init__(
        self,
        *,
        client_factory: Callable[[], redis.Redis],
        worker_id: str,
        queues: tuple[str, ...],
        heartbeat_interval_s: float,
        on_beat: Callable[[], None] | None = None,
    ) -> None:
        self._factory = client_factory
        self._client: redis.Redis | None = None
        self.worker_id = worker_id
        self.queues = queues
        self.interval_s = heartbeat_interval_s
        self.on_beat = on_beat
        self._latest = Tally({q: 0 for q in queues}, {q: 0 for q in queues})
        self._sent_completed: dict[str, int] = {q: 0 for q in queues}
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._beats = 0
        self._failing = False

    def offer(self, tally: Tally) -> None:
        """Main loop: hand over the latest tally; wakes the writer when a count changed."""
        changed = tally.inflight != self._latest.inflight
        self._latest = tally
        if changed:
            self._wake.set()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="shoal-inflight", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(self.interval_s)
            self._wake.clear()
            if self._stopping.is_set():
                break
            self.flush()
            if self.on_beat is not None:
                self.on_beat()

    def flush(self, *, final: bool = False) -> bool:
        """One round trip with the latest tally; at ``final``, delete this worker's fields."""
        with self._lock:
            tally = self._latest
            done = completed_delta(tally.completed, self._sent_completed)
            try:
                client = self._client or self._factory()
                self._client = client
                pipe = client.pipeline(transaction=False)
                expires_ms = int(time.time() * 1000 + EXPIRY_HEARTBEATS * self.interval_s * 1000)
                if final:
                    write_tally(pipe, self.worker_id, {}, done, expires_ms)
                    for queue in self.queues:
                        pipe.hdel(keys.inflight(queue), self.worker_id)
                else:
                    write_tally(pipe, self.worker_id, tally.inflight, done, expires_ms)
                pipe.execute()
                self._beats += 1
                if self._beats % CLEANUP_EVERY_BEATS == 0:
                    record.remove_expired(client, self.queues, int(time.time() * 1000))
            except redis.RedisError as exc:
                self._report_failure(exc)
                return False
            for queue, n in done.items():
                self._sent_completed[queue] = self._sent_completed.get(queue, 0) + n
            if self._failing:
                log.info("in-flight accounting: Redis reachable again")
                self._failing = False
        return True

    def _report_failure(self, exc: Exception) -> None:
        if not self._failing:
            log.warning("in-flight accounting: cannot write to Redis (%s); retrying", exc)
        self._failing = True
        if self._client is not None:
            with contextlib.suppress(Exception):
                self._client.close()
        self._client = None

    def stop(self, *, timeout_s: float = 5.0) -> None:
        """Stop the thread, then write the last completions and remove this worker's entries."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
        self.flush(final=True)
        if self._client is not None:
            with contextlib.suppress(Exception):
                self._client.close()
