"""Stock Celery remote control and canvas work against shoal workers."""

from __future__ import annotations

from typing import Any

import pytest
from celery import Celery, chain, group
from celery.result import AsyncResult

from tests.support.procs import ProcessTracker, wait_for


def _one_reply(replies: dict[str, Any] | None) -> tuple[str, Any]:
    assert replies, "no worker answered"
    assert len(replies) == 1
    return next(iter(replies.items()))


@pytest.mark.timeout(180)
def test_pool_grow_grows_a_prefork_pool_and_inspect_answers(
    procs: ProcessTracker, semantics_env: dict[str, str], stock_client: Celery
) -> None:
    procs.worker("ctl", env={**semantics_env, "SHOAL_WORKER_ID": "ctl-1"})
    inspect = stock_client.control.inspect(timeout=2.0)
    wait_for(lambda: inspect.ping(), timeout_s=90, message="the worker to answer ping")
    hostname, stats = _one_reply(inspect.stats())
    assert hostname.startswith("ctl-1.prefork@")
    assert len(stats["pool"]["processes"]) == 1

    replies = stock_client.control.pool_grow(1, destination=[hostname], reply=True, timeout=5.0)
    assert replies == [{hostname: {"ok": "pool will grow"}}]
    wait_for(
        lambda: len(_one_reply(inspect.stats())[1]["pool"]["processes"]) == 2,
        timeout_s=60,
        message="two pool processes",
    )
    _, queues = _one_reply(inspect.active_queues())
    assert [q["name"] for q in queues] == ["ctl"]
    # The grown pool still runs tasks.
    assert stock_client.send_task("tests.add", args=[1, 1], queue="ctl").get(timeout=60) == 2


@pytest.mark.timeout(180)
def test_a_chain_and_a_group_return_results_through_async_result(
    procs: ProcessTracker, semantics_env: dict[str, str], stock_client: Celery
) -> None:
    procs.worker("canvas", env=semantics_env, concurrency=2)

    def add(*args: int) -> Any:
        return stock_client.signature("tests.add", args=args, queue="canvas")

    chained = chain(add(1, 2), add(3), add(4)).apply_async()
    grouped = group(add(i, i) for i in range(5)).apply_async()
    assert AsyncResult(chained.id, app=stock_client).get(timeout=90) == 10
    assert chained.parent is not None and chained.parent.get(timeout=30) == 6
    assert grouped.get(timeout=90) == [0, 2, 4, 6, 8]
    assert [AsyncResult(r.id, app=stock_client).get(timeout=30) for r in grouped.results] == [
        0,
        2,
        4,
        6,
        8,
    ]
