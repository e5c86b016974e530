"""``shoal status [--json]``: one line per queue from the controller's status hash."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import redis

from scheduler.autoscaler import status
from scheduler.autoscaler.config import ConfigError, RedisConfig, load_config


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="shoal status",
        description="Backlog, in flight, oldest age, current and desired replicas and the last "
        "reason of every queue, as the autoscaler last saw them.",
    )
    p.add_argument("--json", action="store_true", help="print JSON (a list of objects)")
    p.add_argument("--config", help="the autoscaler config file (for its Redis URL)")
    p.add_argument("--redis-url", help="overrides SHOAL_REDIS_URL and the config file")
    return p


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    try:
        redis_config = load_config(args.config).redis if args.config else RedisConfig()
        settings = redis_config.settings(os.environ, url_option=args.redis_url)
    except (ConfigError, ValueError) as exc:
        print(f"shoal status: {exc}", file=sys.stderr)
        return 2
    client = settings.connect()
    try:
        records = status.read(client)
    except (redis.RedisError, OSError) as exc:
        print(f"shoal status: cannot read Redis: {exc}", file=sys.stderr)
        return 1
    finally:
        client.close()
    if args.json:
        print(json.dumps(records, indent=2, sort_keys=True))
    elif not records:
        print("no status yet: is the autoscaler running against this Redis?")
    else:
        print(status.table(records, now=time.time()))
    return 0
