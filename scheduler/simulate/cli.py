"""``shoal simulate``: the entry point. The simulator needs numpy (``pip install 'shoal[plot]'``);
without it this says so in one line instead of a traceback.
"""

from __future__ import annotations

import importlib.util
import sys


def main(argv: list[str]) -> int:
    if importlib.util.find_spec("numpy") is None:
        print("shoal simulate: needs numpy: pip install 'shoal[plot]'", file=sys.stderr)
        return 2
    from scheduler.simulate.command import run

    return run(argv)
