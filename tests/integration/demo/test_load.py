"""``shoal load`` publishes what it is told to real Redis, with the kit's headers."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from tests.support.redis_server import RedisServer
from tests.support.tools import ROOT


def shoal_load(server: RedisServer, *args: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-m", "shoal", "load", "--redis-url", server.url, "--json", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    summary: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return summary


def test_a_burst_lands_in_the_queue_with_published_at(
    redis_server: RedisServer, redis_client: redis.Redis
) -> None:
    summary = shoal_load(redis_server, "--queue", "reports", "--burst", "250", "--service-s", "1.5")
    assert summary["total"] == 250
    assert redis_client.llen("reports") == 250
    message = json.loads(redis_client.lindex("reports", -1) or b"{}")
    assert message["headers"]["task"] == "shoal.io_wait"
    assert isinstance(message["headers"]["published_at"], float)
    body = json.loads(base64.b64decode(message["body"]))
    assert body[0] == [1.5]


def test_a_trace_is_replayed_in_time_order_per_queue(
    redis_server: RedisServer, redis_client: redis.Redis, tmp_path: Path
) -> None:
    trace = tmp_path / "t.csv"
    trace.write_text(
        "time_s,queue,tasks,mean_service_s\n4,emails,5,0.3\n0,emails,3,0.3\n2,reports,2,3.0\n"
    )
    summary = shoal_load(redis_server, "--trace", str(trace), "--speed", "4")
    assert summary["published"] == {"emails": 8, "reports": 2}
    assert 0.9 <= float(str(summary["elapsed_s"])) < 30
    assert redis_client.llen("emails") == 8
    assert redis_client.llen("reports") == 2


def test_priorities_go_to_the_priority_lists(
    redis_server: RedisServer, redis_client: redis.Redis
) -> None:
    shoal_load(redis_server, "--queue", "q", "--burst", "7", "--priority", "9")
    assert redis_client.llen("q") == 0
    assert redis_client.llen("q\x06\x169") == 7


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("1,q,x,1", "line 3: tasks: expected an integer >= 0, got 'x'"),
        ("nan,q,1,1", "line 3: time_s: expected seconds >= 0, got 'nan'"),
        ("1,q,1,inf", "line 3: mean_service_s: expected seconds > 0, got 'inf'"),
    ],
)
def test_a_bad_trace_line_is_named_and_nothing_is_published(
    redis_server: RedisServer, redis_client: redis.Redis, tmp_path: Path, line: str, message: str
) -> None:
    trace = tmp_path / "t.csv"
    trace.write_text(f"time_s,queue,tasks,mean_service_s\n0,q,5,0.1\n{line}\n")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "shoal",
            "load",
            "--trace",
            str(trace),
            "--redis-url",
            redis_server.url,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr == f"shoal load: {trace}: {message}\n"
    assert redis_client.llen("q") == 0
