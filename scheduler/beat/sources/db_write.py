"""Writing runs back to django-celery-beat's table, from a thread of its own.

As django-celery-beat does after each run: ``last_run_at`` (the publish time) and
``total_run_count`` (+1); a one-off row is then disabled as django-celery-beat disables it
(``enabled`` false, ``total_run_count`` 0, ``last_run_at`` cleared) and the change marker is
bumped. Only the replica whose fence claim published a tick writes it, so two replicas count
each run once; ``last_run_at`` only moves forward, whichever replica's write lands last.
Writes are plain ``UPDATE`` statements (no ``save()``), so ``date_changed`` and the change
marker stay as they are for ordinary runs. The loop never waits for the database: runs are
queued, merged per row and written every half second; a failed write is retried.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from datetime import datetime
from typing import Any

from contract.backoff import compute_backoff
from scheduler.beat.metrics import BeatMetrics

log = logging.getLogger("shoal.beat")
FLUSH_EVERY_S = 0.5
PAGE = 1000


class RunWriter:
    def __init__(self, metrics: BeatMetrics, *, flush_every_s: float = FLUSH_EVERY_S) -> None:
        from django.db import router
        from django_celery_beat import models

        self.models = models
        self.alias = router.db_for_write(models.PeriodicTask)
        self.metrics = metrics
        self.flush_every_s = flush_every_s
        self._queue: queue.SimpleQueue[tuple[int, datetime, bool] | None] = queue.SimpleQueue()
        self._pending: dict[int, list[Any]] = {}
        self._failures = 0
        self._thread = threading.Thread(target=self._run, name="beat-db-writer", daemon=True)
        self._stopping = threading.Event()

    def start(self) -> None:
        self._thread.start()

    def record(self, row_id: int, published: datetime, *, one_off: bool) -> None:
        """A run of ``row_id``, published at ``published`` (never blocks)."""
        self._queue.put((row_id, published, one_off))

    def stop(self, timeout_s: float = 10.0) -> None:
        """Write what is queued, then end the thread."""
        self._stopping.set()
        self._queue.put(None)
        self._thread.join(timeout_s)

    # -- the thread ----------------------------------------------------------------------
    def _drain(self, wait_s: float) -> bool:
        """Merge queued runs into the pending ones; False once asked to stop."""
        deadline = time.monotonic() + wait_s
        while True:
            try:
                item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                return True
            if item is None:
                return False
            row_id, at, one_off = item
            seen = self._pending.get(row_id)
            if seen is None:
                self._pending[row_id] = [at, 1, one_off]
            else:
                seen[0], seen[1], seen[2] = max(seen[0], at), seen[1] + 1, seen[2] or one_off

    def _run(self) -> None:
        from django.db import connections

        going = True
        try:
            while going or self._pending:
                going = self._drain(self.flush_every_s) and not self._stopping.is_set()
                if self._pending and not self._write_pending() and not going:
                    break  # stopping and the database is away: give up what is left
        finally:
            with contextlib.suppress(Exception):
                connections[self.alias].close()

    def _write_pending(self) -> bool:
        from django.db import DatabaseError, InterfaceError, connections

        pending, self._pending = self._pending, {}
        try:
            self.write(pending)
        except (DatabaseError, InterfaceError) as exc:
            self._failures += 1
            self.metrics.database_errors.labels("write").inc()
            wait_s = compute_backoff(self._failures - 1, base_s=0.5, factor=2.0,
                                     max_backoff_s=10.0, jitter=False, rand=float)  # fmt: skip
            log.warning("writing %d runs back failed (retrying in %.1fs): %s",
                        len(pending), wait_s, exc)  # fmt: skip
            with contextlib.suppress(Exception):
                connections[self.alias].close()
            for row_id, values in pending.items():  # merge back, newest first
                seen = self._pending.setdefault(row_id, values)
                if seen is not values:
                    seen[0], seen[1] = max(seen[0], values[0]), seen[1] + values[1]
            self._stopping.wait(wait_s)
            return False
        self._failures = 0
        return True

    def write(self, pending: dict[int, list[Any]]) -> None:
        """One flush: runs per row, then one-offs disabled; in id order (one lock order)."""
        from django.db import connections, transaction

        conn = connections[self.alias]
        meta = self.models.PeriodicTask._meta
        quote = conn.ops.quote_name
        table = quote(meta.db_table)
        col = {f: quote(meta.get_field(f).column) for f in
               ("id", "last_run_at", "total_run_count", "enabled")}  # fmt: skip
        runs = sorted(
            (row_id, at, n) for row_id, (at, n, one_off) in pending.items() if not one_off
        )
        done = sorted(row_id for row_id, (_, _, one_off) in pending.items() if one_off)
        adapt = conn.ops.adapt_datetimefield_value
        with transaction.atomic(using=self.alias), conn.cursor() as cursor:
            if runs:
                sql = (
                    f"UPDATE {table} SET {col['last_run_at']} = CASE WHEN {col['last_run_at']}"
                    f" IS NULL OR {col['last_run_at']} < %s THEN %s ELSE {col['last_run_at']} END,"
                    f" {col['total_run_count']} = {col['total_run_count']} + %s"
                    f" WHERE {col['id']} = %s"
                )
                for start in range(0, len(runs), PAGE):
                    page = runs[start : start + PAGE]
                    params = [(adapt(at), adapt(at), n, row_id) for row_id, at, n in page]
                    cursor.executemany(sql, params)
            for start in range(0, len(done), PAGE):
                page_ids = done[start : start + PAGE]
                marks = ", ".join(["%s"] * len(page_ids))
                cursor.execute(
                    f"UPDATE {table} SET {col['enabled']} = %s, {col['total_run_count']} = 0,"
                    f" {col['last_run_at']} = NULL WHERE {col['id']} IN ({marks})",
                    [False, *page_ids],
                )
        if done:
            self.models.PeriodicTasks.update_changed()
            log.info("one-off rows disabled after their run: %s", ", ".join(map(str, done)))
        self.metrics.database_writes.inc(len(runs) + len(done))
