"""Run every benchmark module that exists (``make bench``), one after the other.

Each module's ``main()`` prints its table and writes ``bench/out/<name>.json``. A module that
is not there yet is listed as missing; one that fails or misses its threshold makes the exit
code 1, and the others still run.

    python -m bench.run_all [--only worker_throughput,gevent_io]
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import inspect
import sys
import time
import traceback

from bench import common

MODULES = (
    "worker_throughput",
    "app_throughput",
    "gevent_io",
    "autoscaler_bench",
    "simulate_bench",
    "beat_bench",
)


def run_one(name: str) -> int | None:
    """The module's exit code; None when the module does not exist."""
    module_name = f"bench.{name}"
    if importlib.util.find_spec(module_name) is None:
        return None
    module = importlib.import_module(module_name)
    main = module.main
    takes_argv = bool(inspect.signature(main).parameters)
    result = main([]) if takes_argv else main()
    return int(result or 0)


def main(argv: list[str] | None = None) -> int:
    common.exit_on_sigterm()
    p = argparse.ArgumentParser(prog="python -m bench.run_all", description=__doc__)
    p.add_argument("--only", default="", help=f"comma separated, from: {', '.join(MODULES)}")
    args = p.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()] or list(MODULES)
    unknown = [n for n in names if n not in MODULES]
    if unknown:
        p.error(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(MODULES)}")
    outcomes: list[tuple[str, str, float]] = []
    for name in names:
        print(f"\n=== bench.{name}", flush=True)
        started = time.monotonic()
        try:
            code = run_one(name)
        except Exception:  # one broken benchmark must not hide the others' figures
            traceback.print_exc()
            code = 1
        outcome = "missing" if code is None else ("ok" if code == 0 else f"exit {code}")
        outcomes.append((name, outcome, time.monotonic() - started))
    print("\n=== summary")
    print(
        common.table(
            ["benchmark", "outcome", "seconds"], [[n, o, f"{s:.0f}"] for n, o, s in outcomes]
        )
    )
    return 1 if any(o.startswith("exit") for _, o, _ in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
