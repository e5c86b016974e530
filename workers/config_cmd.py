"""``shoal config [--json]``: the effective worker settings and Celery config, secrets masked.

It reads the same ``SHOAL_*`` variables and options as ``shoal worker``; a bad setting stops it
with exit code 2 and one line naming the setting.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import fields
from enum import Enum
from typing import Any

from workers.redact import MASK, mask_text, settings_secrets
from workers.settings import RateLimit, WorkerSettings

SECRET_FIELDS = ("redis_password",)


def _plain(value: Any) -> Any:
    """JSON-friendly form of a settings value."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, RateLimit):
        return f"{value.scope}:{value.name}={value.per_second:g}/s"
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return repr(value)


def _masked(value: Any, secrets: list[str]) -> Any:
    if isinstance(value, str):
        return mask_text(value, secrets)
    if isinstance(value, list):
        return [_masked(v, secrets) for v in value]
    if isinstance(value, dict):
        return {k: _masked(v, secrets) for k, v in value.items()}
    return value


def effective(settings: WorkerSettings) -> dict[str, Any]:
    """Every setting, the derived values and the Celery config, with every secret masked."""
    from workers.app import celery_config

    secrets = settings_secrets(settings)
    values: dict[str, Any] = {}
    for f in fields(WorkerSettings):
        raw = getattr(settings, f.name)
        values[f.name] = (MASK if raw else None) if f.name in SECRET_FIELDS else _plain(raw)
    derived = {
        "broker_url": settings.broker_url,
        "backend_url": settings.backend_url,
        "effective_concurrency": settings.effective_concurrency,
        "effective_prefetch_multiplier": settings.effective_prefetch_multiplier,
    }
    report = {"settings": values, "derived": derived, "celery": _plain(celery_config(settings))}
    return dict(_masked(_plain(report), secrets))


def render_text(report: dict[str, Any]) -> str:
    lines: list[str] = []
    for section, values in report.items():
        lines.append(f"[{section}]")
        lines += [f"{name} = {json.dumps(value)}" for name, value in values.items()]
        lines.append("")
    return "\n".join(lines)


def parser() -> argparse.ArgumentParser:
    from workers.worker_cmd import parser as worker_parser

    p = worker_parser()
    p.prog = "shoal config"
    p.description = "Print the effective worker settings (same options as shoal worker)."
    p.add_argument("--json", action="store_true", help="print JSON")
    return p


def main(argv: list[str]) -> int:
    from workers.settings import SettingsError, from_env
    from workers.worker_cmd import overlay

    args = parser().parse_args(argv)
    try:
        settings = from_env(overlay(args, os.environ))
    except SettingsError as exc:
        print(f"shoal config: bad setting: {exc}", file=sys.stderr)
        return 2
    report = effective(settings)
    print(json.dumps(report, indent=2, sort_keys=True) if args.json else render_text(report))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
