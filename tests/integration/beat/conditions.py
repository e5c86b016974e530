"""A ``when`` condition for the beat tests: true while the Redis key shoal:test:flag is 1."""

from __future__ import annotations

import os

import redis


def flag_is_set() -> bool:
    client = redis.Redis.from_url(os.environ["SHOAL_REDIS_URL"])
    try:
        return client.get("shoal:test:flag") == b"1"
    finally:
        client.close()
