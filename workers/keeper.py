"""The keeper: one native thread per worker process that keeps its record alive and tidy.

Every heartbeat it moves the process's liveness deadline (``beat.lua``), recovers the workers
whose deadline passed (their held tasks go back to the front of their queues: within a beat of
the deadline, not after a visibility timeout), promotes the delayed tasks of its queues that
are due, and sends the operations the consumer owes when the consumer does not (while it
reconnects). A failing Redis call is retried every beat, logged once; nothing is dropped. When
the worker stops, the keeper sends what is still owed and gives back the whole record
(``recover.lua`` on itself), retrying until its stop timeout.

It runs in an OS thread with its own Redis connection pool, also under gevent
(:mod:`workers.native`), so a greenlet that hogs the CPU does not stop the heartbeat: a live
worker never looks dead. A worker whose main loop is stuck for good is the liveness probe's to
kill (``/livez``, :mod:`workers.health`); then its deadline passes and its tasks go back.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

import redis

from contract import delayed, held
from workers import native
from workers.holding import Holding, send_owed

log = logging.getLogger("shoal.delivery")

STOP_TIMEOUT_S = 10.0


class Keeper:
    def __init__(
        self, holding: Holding, *, pool_factory: Callable[[], Any], interval_s: float
    ) -> None:
        self.holding = holding
        self.pool_factory = pool_factory
        self.interval_s = interval_s
        self._client: Any = None
        self._wakeup = native.lock()
        self._wakeup.acquire()
        self._done = native.lock()
        self._done.acquire()
        self._stopping = False
        self._stop_deadline = 0.0
        self._failing = False

    def start(self) -> None:
        native.start_thread(self._run, name="shoal-keeper")

    def _run(self) -> None:
        try:
            while not self._stopping:
                self.tick()
                self._wakeup.acquire(timeout=self.interval_s)
            self._final()
        finally:
            self._done.release()

    def client(self) -> Any:
        if self._client is None:
            self._client = redis.Redis(connection_pool=self.pool_factory())
        return self._client

    def tick(self) -> None:
        """One heartbeat: beat, recover the dead, promote what is due, send what is owed."""
        holding = self.holding
        holding.owe_due()
        try:
            client = self.client()
            if holding.joined:
                self._beat(client)
            self.flush(client)
        except (redis.RedisError, OSError) as exc:
            self._failed(exc)
            return
        except Exception:  # a bug must not stop the heartbeat: the worker would look dead
            log.exception("delivery bookkeeping failed; trying again next beat")
            return
        if self._failing:
            log.info("delivery bookkeeping: Redis reachable again")
            self._failing = False

    def _beat(self, client: Any) -> None:
        holding = self.holding
        incarnation = holding.incarnation
        records = list(holding.lists.values())  # the consumer may add lists meanwhile
        queues = sorted({record.queue for record in records})
        lead = delayed.lead_ms(self.interval_s)
        beat = held.beat(client, incarnation, ttl_ms=holding.ttl_ms, queues=queues, lead_ms=lead)
        if not beat.alive:
            holding.rejoin(only=incarnation)
            return
        for dead, moved in held.recover_dead(client, beat.dead).items():
            log.warning("worker %s stopped beating: %d held task(s) back in their queues", dead,
                        moved)  # fmt: skip
        more = delayed.promote(client, queues, lead_ms=lead) if beat.more_due else 0
        promoted = beat.promoted + more
        if promoted:
            log.info("%d delayed task(s) due: back in their queues", promoted)

    def flush(self, client: Any) -> None:
        """Send every operation owed (with no list to take from)."""
        send_owed(client, self.holding)

    def _failed(self, exc: BaseException) -> None:
        if not self._failing:
            log.warning("delivery bookkeeping: cannot reach Redis (%s); retrying", exc)
        self._failing = True
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):  # the connection is broken anyway
                client.close()

    def _final(self) -> None:
        """Owe what was put off, send everything owed, give back the record; retry until the
        stop deadline (after it, the record is recovered when its deadline passes)."""
        holding = self.holding
        for _, ops in holding.later:
            for op in ops:
                holding.owe(op, wake=False)
        holding.later.clear()
        while True:
            try:
                client = self.client()
                self.flush(client)
                if holding.joined:
                    returned = held.recover(client, holding.incarnation, force=True)
                    if returned > 0:
                        log.info("%d held task(s) back in their queues at shutdown", returned)
                return
            except (redis.RedisError, OSError) as exc:
                self._failed(exc)
                if time.monotonic() > self._stop_deadline:
                    log.warning(
                        "stopping without Redis: this worker's held tasks go back to their "
                        "queues when its deadline passes (%.0f s)", holding.ttl_ms / 1000
                    )  # fmt: skip
                    return
                time.sleep(min(1.0, self.interval_s))

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """Stop beating, send what is owed, give the record back; wait at most ``timeout_s``."""
        if self._stopping:
            return
        self._stop_deadline = time.monotonic() + timeout_s
        self._stopping = True
        self._wakeup.release()
        if self._done.acquire(timeout=timeout_s + 2.0):
            self._done.release()


_keepers: dict[int, Keeper] = {}
_start_lock = native.lock()


def ensure_started(
    holding: Holding, *, pool_factory: Callable[[], Any], interval_s: float
) -> Keeper:
    """The keeper of ``holding`` (its process's), started the first time."""
    with _start_lock:
        keeper = _keepers.get(id(holding))
        if keeper is None:
            keeper = _keepers[id(holding)] = Keeper(
                holding, pool_factory=pool_factory, interval_s=interval_s
            )
            keeper.start()
            if len(_keepers) == 1:
                atexit.register(stop_all)
        return keeper


def stop_all(timeout_s: float = STOP_TIMEOUT_S) -> None:
    """Stop every keeper of this process (the worker stops)."""
    for keeper in list(_keepers.values()):
        if keeper.holding.pid == _pid():
            keeper.stop(timeout_s)


def _pid() -> int:
    import os

    return os.getpid()


def pool_factory(channel: Any) -> Callable[[], Any]:
    """A maker of a connection pool to the channel's Redis, as kombu builds it, for the keeper's
    thread alone (parameters read now, the pool made in the thread that uses it)."""
    params = channel._connparams(asynchronous=False)
    alt = list(getattr(channel.connection.client, "alt", None) or [])
    master_name = getattr(channel, "master_name", None)
    if not hasattr(channel, "_sentinel_managed_pool"):

        def plain() -> Any:
            return redis.ConnectionPool(**params)

        return plain
    return _sentinel_factory(channel, params, alt, master_name)


def _sentinel_factory(
    channel: Any, params: dict[str, Any], alt: list[str], master_name: str | None
) -> Callable[[], Any]:
    from kombu.utils.url import _parse_url
    from redis import sentinel

    extra = {k: v for k, v in params.items() if k not in ("host", "port")}
    hosts: list[tuple[Any, Any]] = []
    for url in alt:
        parsed = _parse_url(url)
        if parsed.scheme == "sentinel":
            hosts.append((parsed.hostname, parsed.port or channel.connection.default_port))
    if not hosts:
        hosts.append((params.get("host"), params.get("port")))
    min_others = getattr(channel, "min_other_sentinels", 0)
    sentinel_kwargs = getattr(channel, "sentinel_kwargs", None)

    def make() -> Any:
        manager = sentinel.Sentinel(
            hosts, min_other_sentinels=min_others, sentinel_kwargs=sentinel_kwargs, **extra
        )
        login = {k: extra[k] for k in ("username", "password") if k in extra}
        return manager.master_for(master_name or "mymaster", redis.Redis, **login).connection_pool

    return make
