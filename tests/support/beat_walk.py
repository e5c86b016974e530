"""``python -m tests.support.beat_walk START STEP_S PASSES [shoal beat options]``: a beat
replica whose clock walks from START in steps of STEP_S seconds, one pass per step, without
sleeping (days of a schedule in seconds). No lease: it acts on every pass.

The clock is injected (``Beat(..., clock=...)``): production has no knob that moves a clock.
"""

from __future__ import annotations

import logging
import os
import sys
from datetime import UTC, datetime, timedelta

from prometheus_client import CollectorRegistry

from contract.connection import RedisSettings
from contract.priority import Priorities
from scheduler.beat.cli import parser
from scheduler.beat.metrics import BeatMetrics
from scheduler.beat.runner import Beat
from scheduler.beat.settings import BeatSettings


class WalkingClock:
    def __init__(self, start: datetime) -> None:
        self.now = start.astimezone(UTC)

    def __call__(self) -> datetime:
        return self.now


def run(argv: list[str]) -> int:
    start, step_s, passes = datetime.fromisoformat(argv[0]), float(argv[1]), int(argv[2])
    args = parser().parse_args(argv[3:])
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    settings = BeatSettings(
        schedules_path=args.schedules,
        app=args.app,
        redis=RedisSettings.from_env(os.environ),
        priorities=Priorities.from_env(os.environ),
        leader_lease=False,
        metrics_port=0,
    )
    clock = WalkingClock(start)
    beat = Beat(settings, settings.redis.connect(), metrics=BeatMetrics(CollectorRegistry()),
                clock=clock)  # fmt: skip
    try:
        for _ in range(passes):
            beat.fire_due(clock.now)
            clock.now += timedelta(seconds=step_s)
    finally:
        beat.catalog.close()
    return 0


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
