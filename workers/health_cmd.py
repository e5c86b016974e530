"""``shoal worker health``: exit 0 when the worker is live (and ready, with --ready)."""

from __future__ import annotations

import sys


def main(argv: list[str]) -> int:
    print("shoal worker health: not implemented yet", file=sys.stderr)
    return 1
