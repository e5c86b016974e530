"""What the beat benchmark loads and how it watches: rows, a file, a consumer, a sampler.

* Rows are written to django-celery-beat's tables with plain SQL (``execute_values``): interval
  rows every minute whose ``date_changed`` is spread over the last hour (rows saved at many
  moments, as in a real table), crontab rows every minute and hourly at a spread minute, in
  five zones. The change marker is set as django-celery-beat's signals set it.
* The file's entries: ``every: 1m`` (all on the minute) and hourly crons in five zones.
* :class:`Consumer` drains the queues every 50 ms, oldest messages first, 500 per list and
  round trip (``RPOP key 500``), and notes when each message arrived: lateness is measured the
  same way for every scheduler, arrival minus due time.
* :class:`Sampler` reads each beat's CPU time and resident memory from ``/proc``.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import redis

ZONES = ("UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo", "Australia/Sydney")
TASK = "orders.tasks.send_daily_email"
TICK_RE = re.compile(rb'"shoal_beat_tick_ms": (\d+)')
PUBLISHED_RE = re.compile(rb'"published_at": "([^"]+)"')
NAME_RE = re.compile(rb'"periodic_task_name": "([^"]*)"')
ENTRY_RE = re.compile(rb'"shoal_beat_entry": "([^"]*)"')
SLICE = 500
"""Messages popped per list per round trip."""


@dataclass(frozen=True)
class Mix:
    """How many entries of each kind."""

    db_intervals: int
    db_minutely: int
    db_hourly: int
    file_every: int = 0
    file_hourly: int = 0

    @property
    def total(self) -> int:
        return sum((self.db_intervals, self.db_minutely, self.db_hourly, self.file_every,
                    self.file_hourly))  # fmt: skip


def scaled(entries: int) -> Mix:
    """Half in the database, half in the file; every-minute intervals and crontabs."""
    half = entries // 2
    return Mix(
        db_intervals=half // 2, db_minutely=half // 10, db_hourly=half - half // 2 - half // 10,
        file_every=half // 2, file_hourly=entries - half - half // 2,
    )  # fmt: skip


def anchor(rows: int) -> Mix:
    """The stock scheduler's load: rows only, half intervals, half every-minute crontabs."""
    return Mix(db_intervals=rows // 2, db_minutely=rows - rows // 2, db_hourly=0)


def insert_rows(db_url: str, mix: Mix, *, prefix: str, seed: int = 7) -> None:
    """The mix's rows, as if saved over the last hour."""
    import psycopg2
    from psycopg2.extras import execute_values

    rng = random.Random(seed)
    now = datetime.now(UTC)
    conn = psycopg2.connect(db_url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute("INSERT INTO django_celery_beat_intervalschedule (every, period) "
                        "VALUES (1, 'minutes') RETURNING id")  # fmt: skip
            interval_id = cur.fetchone()[0]
            crontabs: dict[tuple[str, str], int] = {}
            minutes = ["*"] + [str(m) for m in range(60)] if mix.db_hourly else ["*"]
            for zone in ZONES:
                for minute in minutes:
                    hour = "*"
                    cur.execute(
                        "INSERT INTO django_celery_beat_crontabschedule (minute, hour, "
                        "day_of_week, day_of_month, month_of_year, timezone) VALUES "
                        "(%s, %s, '*', '*', '*', %s) RETURNING id", (minute, hour, zone),
                    )  # fmt: skip
                    crontabs[(minute, zone)] = cur.fetchone()[0]
            rows = []
            for i in range(mix.db_intervals):
                saved = now - timedelta(seconds=rng.uniform(0, 3600))
                rows.append((f"{prefix}-i{i}", interval_id, None, "iq", saved))
            for i in range(mix.db_minutely):
                rows.append((f"{prefix}-m{i}", None, crontabs[("*", ZONES[i % 5])], "cq", now))
            for i in range(mix.db_hourly):
                key = (str(i % 60), ZONES[i % 5])
                rows.append((f"{prefix}-h{i}", None, crontabs[key], "hq", now))
            execute_values(
                cur,
                "INSERT INTO django_celery_beat_periodictask (name, task, interval_id, "
                "crontab_id, args, kwargs, queue, headers, one_off, enabled, total_run_count, "
                "date_changed, description) VALUES %s",
                [(n, TASK, iv, ct, "[]", "{}", q, "{}", False, True, 0, saved, "")
                 for n, iv, ct, q, saved in rows],
                page_size=5000,
            )  # fmt: skip
            cur.execute(
                "INSERT INTO django_celery_beat_periodictasks (ident, last_update) "
                "VALUES (1, now()) ON CONFLICT (ident) DO UPDATE SET last_update = now()"
            )
    finally:
        conn.close()


def write_file(path: Path, mix: Mix) -> None:
    lines = ["schedules:"]
    for i in range(mix.file_every):
        lines.append(f"  - {{name: f-e{i}, task: {TASK}, queue: fq, every: 1m}}")
    for i in range(mix.file_hourly):
        lines.append(f"  - {{name: f-h{i}, task: {TASK}, queue: fq, cron: '{i % 60} * * * *', "
                     f"timezone: {ZONES[i % 5]}}}")  # fmt: skip
    path.write_text("\n".join(lines) + "\n")


@dataclass
class Arrival:
    at: float
    queue: str
    name: str
    tick_ms: int | None
    published_at: float | None


@dataclass
class Consumer:
    """Drains the named lists every ``every_s``; each message with its arrival time."""

    client: redis.Redis
    queues: set[str]
    every_s: float = 0.05
    raw: list[tuple[float, str, bytes]] = field(default_factory=list)
    first: dict[str, float] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="consumer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)

    def watch(self, queue: str) -> None:
        self.queues = self.queues | {queue}

    def first_arrival(self, queue: str) -> float | None:
        return self.first.get(queue)

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            self.drain()

    def drain(self) -> None:
        """Pop the oldest messages, SLICE per list per round trip, until every list is empty:
        each message's arrival is known to within one slice."""
        while True:
            queues = sorted(self.queues)
            pipe = self.client.pipeline(transaction=False)
            for q in queues:
                pipe.rpop(q, SLICE)
            replies = pipe.execute()
            at = time.time()
            if not any(replies):
                return
            for q, raws in zip(queues, replies, strict=True):
                if raws:
                    self.raw.extend((at, q, raw) for raw in raws)  # parsed after the run
                    self.first.setdefault(q, at)

    def parsed(self) -> list[Arrival]:
        """Each message's arrival, tick and publish time (parsing waits for the run's end, so
        the consumer takes little CPU from the beats while they run)."""
        out: list[Arrival] = []
        for at, q, raw in self.raw:
            tick = TICK_RE.search(raw)
            pub = PUBLISHED_RE.search(raw)
            name = ENTRY_RE.search(raw) or NAME_RE.search(raw)
            out.append(Arrival(
                at, q, name.group(1).decode() if name else "",
                int(tick.group(1)) if tick else None,
                datetime.fromisoformat(pub.group(1).decode()).timestamp() if pub else None,
            ))  # fmt: skip
        return out


class Sampler:
    """CPU seconds and resident memory of some processes, from /proc."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids
        self.tick = os.sysconf("SC_CLK_TCK")
        self.start_cpu = {p: self.cpu_s(p) for p in pids}
        self.start_at = time.monotonic()
        self.peak_rss_mb = dict.fromkeys(pids, 0.0)

    def cpu_s(self, pid: int) -> float:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / self.tick

    def rss_mb(self, pid: int) -> float:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def sample(self) -> None:
        for pid in self.pids:
            with contextlib.suppress(OSError):  # ended: its peak is kept
                self.peak_rss_mb[pid] = max(self.peak_rss_mb[pid], self.rss_mb(pid))

    def start(self, every_s: float = 2.0) -> None:
        self._stop = threading.Event()

        def loop() -> None:
            while not self._stop.wait(every_s):
                self.sample()

        self.sample()
        self._thread = threading.Thread(target=loop, name="sampler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sample()

    def report(self) -> list[dict[str, float]]:
        wall = time.monotonic() - self.start_at
        out = []
        for pid in self.pids:
            try:
                used = self.cpu_s(pid) - self.start_cpu[pid]
            except OSError:
                used = float("nan")
            out.append({"pid": pid, "cpu_percent": round(100 * used / wall, 1),
                        "peak_rss_mb": round(self.peak_rss_mb[pid], 1)})  # fmt: skip
        return out
