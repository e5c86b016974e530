"""``shoal worker health``: exit 0 when the worker is live (and ready, with --ready), else 1.

By default it reads the heartbeat file the worker writes (``SHOAL_HEALTH_FILE``, default
``/tmp/shoal-health``) and also checks that the process that wrote it still exists; with
``--port`` it asks the worker's HTTP endpoint (``/livez`` or ``/readyz``) instead.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from workers import health


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="shoal worker health", description="Exit 0 if the worker is live (ready)."
    )
    p.add_argument("--ready", action="store_true", help="require readiness (consuming)")
    p.add_argument("--max-age-s", type=float, help="heartbeat age limit (default: the worker's)")
    p.add_argument(
        "--file", help="heartbeat file (default: $SHOAL_HEALTH_FILE or /tmp/shoal-health)"
    )
    p.add_argument("--port", type=int, help="ask http://127.0.0.1:PORT/livez|readyz instead")
    return p


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def check_file(path: Path, *, ready: bool, max_age_s: float | None, now: float) -> health.Verdict:
    snap = health.read_file(path)
    if snap is None:
        return health.Verdict(False, f"no readable heartbeat file at {path}")
    if not pid_alive(snap.pid):
        return health.Verdict(False, f"the worker (pid {snap.pid}) is gone")
    check = health.readiness if ready else health.liveness
    return check(snap, now, max_age_s)


def check_http(port: int, *, ready: bool, timeout_s: float = 3.0) -> health.Verdict:
    url = f"http://127.0.0.1:{port}/{'readyz' if ready else 'livez'}"
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as reply:
            return health.Verdict(True, reply.read().decode().strip())
    except urllib.error.HTTPError as exc:
        return health.Verdict(False, exc.read().decode(errors="replace").strip())
    except (urllib.error.URLError, OSError) as exc:
        return health.Verdict(False, f"{url}: {getattr(exc, 'reason', exc)}")


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    if args.port is not None:
        verdict = check_http(args.port, ready=args.ready)
    else:
        path = Path(args.file) if args.file else health.health_file_path()
        verdict = check_file(path, ready=args.ready, max_age_s=args.max_age_s, now=time.time())
    what = "ready" if args.ready else "live"
    print(f"{what if verdict.ok else 'not ' + what}: {verdict.reason}")
    return 0 if verdict.ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
