"""A queue's dead letters read straight from Redis (the key contract, not the store's code)."""

from __future__ import annotations

import json

import redis

from tests.support.procs import wait_for


def entries(client: redis.Redis, queue: str) -> list[dict[str, object]]:
    return [json.loads(raw) for raw in client.lrange(f"shoal:dlq:{queue}", 0, -1)]


def wait_for_count(client: redis.Redis, queue: str, count: int, *, timeout_s: float) -> None:
    """Wait until ``queue`` holds exactly ``count`` dead letters."""
    wait_for(
        lambda: client.llen(f"shoal:dlq:{queue}") == count,
        timeout_s=timeout_s,
        message=f"{count} dead letter(s) of {queue}",
    )
