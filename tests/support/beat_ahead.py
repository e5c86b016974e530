"""``python -m tests.support.beat_ahead OFFSET_S [shoal beat options]``: a beat replica whose
clock runs ``OFFSET_S`` seconds ahead, as if it had started that much later.

The clock is injected (``scheduler.beat.cli.main(argv, clock=...)``): production has no knob
that moves a beat's clock.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta

from scheduler.beat.cli import main


def run(argv: list[str]) -> int:
    offset = timedelta(seconds=float(argv[0]))
    return main(argv[1:], clock=lambda: datetime.now(UTC) + offset)


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
