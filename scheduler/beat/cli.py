"""``shoal beat``: run a replica, or ``--check`` what it would schedule.

    shoal beat [--schedules FILE] [--app APP] [--redis-url URL] [--no-leader-lease]
               [--lease-s 10] [--metrics-port 9812]
    shoal beat --check [FILE] [--app APP] [--next 5] [--from 2026-03-29T00:00:00+01:00]

``--app`` (or ``SHOAL_APP``) names the team's Celery app as ``celery -A`` does: its
``beat_schedule``, or django-celery-beat's tables when the app uses its database scheduler,
are scheduled beside the file's entries. ``--check`` exits 0 and prints each entry's next fire
times in its own zone, or exits 1 with one line naming the entry (or the row) and the field
that is wrong (for CI pipelines and SREs).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from contract.teamapp import TeamAppError
from scheduler.beat import settings as beat_settings
from scheduler.beat.cron import zone
from scheduler.beat.schedules import When, next_fire
from scheduler.beat.spec import Entry, SpecError

if TYPE_CHECKING:
    from scheduler.beat.runner import Clock


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="shoal beat", description=__doc__.splitlines()[0])
    p.add_argument("--schedules", type=Path, help="run a replica with this schedules file")
    p.add_argument(
        "--check", nargs="?", const="", metavar="FILE", help="validate FILE and/or --app, print"
    )
    p.add_argument("--next", type=int, default=5, metavar="N", help="fire times per entry")
    p.add_argument("--from", dest="from_", metavar="ISO", help="--check from this instant")
    beat_settings.add_options(p)
    return p


def fire_times(entry: Entry, after: datetime, count: int) -> list[datetime]:
    times: list[datetime] = []
    cursor = after
    while len(times) < count:
        tick = next_fire(entry.schedule, cursor, entry.window)
        if tick is None:
            break
        times.append(tick)
        cursor = tick
    return times


def describe(entry: Entry) -> str:
    target = " -> ".join(s.task for s in entry.signatures)
    queues = ",".join(dict.fromkeys(s.queue for s in entry.signatures))
    state = "" if entry.enabled else " (disabled)"
    origin = ""
    if entry.source == "app":
        origin = " [the app's beat_schedule]"
    elif entry.source == "database":
        origin = f" [database row {entry.row_id}{', one-off' if entry.one_off else ''}]"
    return f"{entry.name}: {entry.kind} {entry.mode} {target} on {queues}{state}{origin}"


def check_report(entries: Iterable[Entry], after: datetime, count: int) -> list[str]:
    lines: list[str] = []
    for entry in entries:
        lines.append(describe(entry))
        if isinstance(entry.schedule, When):
            lines.append(f"  condition {entry.schedule.condition} checked every "
                         f"{entry.schedule.check_every_s:g}s; fires on false -> true")  # fmt: skip
            continue
        tz = zone(entry.timezone)
        times = fire_times(entry, after, count)
        lines += [f"  {t.astimezone(tz).isoformat()}" for t in times]
        if len(times) < count:
            lines.append("  (no further fire times)")
    return lines


def run_check(args: argparse.Namespace) -> int:
    from prometheus_client import CollectorRegistry

    from scheduler.beat.metrics import BeatMetrics
    from scheduler.beat.sources.opening import open_catalog

    path = Path(args.check) if args.check else None
    try:
        app = beat_settings.app(args, os.environ)
    except ValueError as exc:
        print(f"shoal beat: {exc}", file=sys.stderr)
        return 2
    if path is None and not app:
        print("shoal beat: --check needs a FILE, --app APP (SHOAL_APP) or both", file=sys.stderr)
        return 2
    try:
        after = datetime.fromisoformat(args.from_) if args.from_ else datetime.now(UTC)
    except ValueError as exc:
        print(f"shoal beat: --from: {exc}", file=sys.stderr)
        return 2
    if after.tzinfo is None:
        after = after.replace(tzinfo=UTC)
    try:
        catalog = open_catalog(
            schedules_path=path,
            app_spec=app,
            metrics=BeatMetrics(CollectorRegistry()),
            check=True,
        )
        entries = catalog.load()
    except SpecError as exc:
        print(f"shoal beat: {path}: {exc}" if path and not app else f"shoal beat: {exc}",
              file=sys.stderr)  # fmt: skip
        return 1
    except TeamAppError as exc:
        print(f"shoal beat: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"shoal beat: {exc}", file=sys.stderr)
        return 1
    print("\n".join(check_report(entries, after, args.next)))
    bad = [str(b) for s in catalog.sources for b in getattr(s, "bad", {}).values()]
    for line in bad:
        print(f"bad: {line}; skipped until the row changes")
    print(f"ok: {len(entries)} entries" if not bad else f"{len(entries)} entries, {len(bad)} bad")
    return 1 if bad else 0


def run_beat(args: argparse.Namespace, clock: Clock | None = None) -> int:
    from scheduler.beat.metrics import BeatMetrics
    from scheduler.beat.runner import Beat

    try:
        settings = beat_settings.from_args(args, os.environ)
        beat = Beat(settings, settings.redis.connect(), metrics=BeatMetrics(), clock=clock)
    except TeamAppError as exc:
        print(f"shoal beat: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:  # a bad file, entry or setting (SpecError is one)
        print(f"shoal beat: {exc}", file=sys.stderr)
        return 1
    if settings.metrics_port:
        from prometheus_client import start_http_server

        start_http_server(settings.metrics_port)

    def stop(signum: int, frame: FrameType | None) -> None:
        beat.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    beat.run()
    return 0


def main(argv: list[str], *, clock: Clock | None = None) -> int:
    """``clock`` is injected by tests (a replica whose clock runs ahead); None: the real one."""
    args = parser().parse_args(argv)
    # One process: Prometheus' multiprocess mode (set for prefork workers) does not apply.
    os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
    try:
        level = beat_settings.log_level(args, os.environ)
    except ValueError as exc:
        print(f"shoal beat: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if args.check is not None:
        return run_check(args)
    return run_beat(args, clock)
