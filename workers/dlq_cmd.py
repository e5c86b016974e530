"""``shoal dlq list|show|requeue|purge``: look at and act on a queue's dead letters.

It reads the broker from the same settings as the worker (``SHOAL_REDIS_URL``, the password
variables, the priority steps), so requeued messages land on the lists the workers consume.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from redis.exceptions import RedisError

from workers.deadletter import DeadLetterStore
from workers.settings import SettingsError, WorkerSettings, from_env

ERROR_CHARS = 100


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="shoal dlq",
        description="Look at and act on a queue's dead letters (reads SHOAL_REDIS_URL).",
    )
    sub = p.add_subparsers(dest="action", required=True)
    ls = sub.add_parser("list", help="one line per dead letter, newest first (no QUEUE: queues)")
    ls.add_argument("queue", nargs="?")
    show = sub.add_parser("show", help="one dead letter in full, by index (0 = newest) or id")
    show.add_argument("queue")
    show.add_argument("ref")
    requeue = sub.add_parser("requeue", help="publish dead letters to their queue again")
    requeue.add_argument("queue")
    requeue.add_argument("ref", nargs="?", help="index or id; without it, every entry")
    purge = sub.add_parser("purge", help="delete every dead letter of a queue")
    purge.add_argument("queue")
    return p


def when(epoch: object) -> str:
    if not isinstance(epoch, int | float):
        return "-"
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def entry_line(index: int, entry: dict[str, Any]) -> str:
    """``INDEX ID WHEN REASON TASK TASK_ID ERROR`` with the error cut short."""
    error = " ".join(str(entry.get("error") or "").split())
    if len(error) > ERROR_CHARS:
        error = error[: ERROR_CHARS - 3] + "..."
    return "  ".join(
        [
            str(index),
            str(entry.get("id", ""))[:12],
            when(entry.get("dead_lettered_at")),
            str(entry.get("reason")),
            str(entry.get("task") or "-"),
            str(entry.get("task_id") or "-"),
            error,
        ]
    )


@contextmanager
def open_store(settings: WorkerSettings) -> Iterator[DeadLetterStore]:
    client = settings.redis.connect(timeout_s=3.0)  # a command fails fast; a worker retries
    try:
        yield DeadLetterStore(client, max_len=settings.dead_letter_max_len)
    finally:
        client.close()


def run(args: argparse.Namespace, store: DeadLetterStore, settings: WorkerSettings) -> int:
    if args.action == "list" and args.queue is None:
        for queue in store.queues():
            print(f"{queue}  {store.count(queue)}")
        return 0
    if args.action == "list":
        entries = store.entries(args.queue)
        for index, entry in enumerate(entries):
            print(entry_line(index, entry))
        if not entries:
            print(f"no dead letters in {args.queue}", file=sys.stderr)
        return 0
    if args.action == "show":
        found = store.find(args.queue, args.ref)
        if found is None:
            print(f"shoal dlq: no dead letter {args.ref!r} in {args.queue}", file=sys.stderr)
            return 1
        print(json.dumps(found[1], indent=2, sort_keys=True))
        return 0
    if args.action == "requeue":
        count = store.requeue(args.queue, args.ref, priorities=settings.priorities)
        print(f"requeued {count} message(s) to {args.queue}")
        return 0 if count or args.ref is None else 1
    count = store.purge(args.queue)
    print(f"purged {count} dead letter(s) of {args.queue}")
    return 0


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    try:
        settings = from_env()
    except SettingsError as exc:
        print(f"shoal dlq: bad setting: {exc}", file=sys.stderr)
        return 2
    try:
        with open_store(settings) as store:
            return run(args, store, settings)
    except (OSError, RedisError) as exc:
        print(f"shoal dlq: cannot reach Redis: {exc}", file=sys.stderr)
        return 1
