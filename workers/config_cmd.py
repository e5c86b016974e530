"""``shoal config [--app APP] [--json]``: the effective worker settings and Celery config, with
the source of each Celery setting and every secret masked.

It reads the same ``SHOAL_*`` variables and options as ``shoal worker``; a bad setting stops it
with exit code 2 and one line naming the setting. With ``--app`` it loads the team's app as the
worker does and shows where each setting comes from (``platform``, ``team``, ``environment``)
and every setting of the app the platform overrides.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import fields
from enum import Enum
from typing import TYPE_CHECKING, Any

from workers.redact import MASK, mask_settings, mask_text, settings_secrets
from workers.settings import RateLimit, WorkerSettings

if TYPE_CHECKING:
    from workers.layers import Layered

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


def effective_app(layered: Layered, lines: list[str]) -> dict[str, Any]:
    """:func:`effective` for a team's app: the settings in force, the source of each, and the
    app's settings the platform overrides (the worker's WARNING lines)."""
    report = effective(layered.settings)
    secrets = [*settings_secrets(layered.settings), *layered.secrets]
    entries = {k: e for k, e in sorted(layered.entries.items()) if "." not in k}
    report["celery"] = mask_settings(_plain({k: e.value for k, e in entries.items()}), secrets)
    report["sources"] = {k: str(e.source) for k, e in entries.items()}
    report["overridden"] = mask_settings(
        _plain(
            {
                key: {"app": e.team, "in_force": e.value, "by": str(e.source), "why": e.why}
                for key, e in sorted(layered.entries.items())
                if e.overridden
            }
        ),
        secrets,
    )
    report["lines"] = [mask_text(line, secrets) for line in lines]
    return report


def render_text(report: dict[str, Any]) -> str:
    """INI-like sections; each Celery setting with ``# source``; the app's overridden settings
    as the worker's WARNING lines."""
    lines: list[str] = []
    sources = report.get("sources", {})
    for section in ("settings", "derived", "celery"):
        lines.append(f"[{section}]")
        for name, value in report[section].items():
            source = f"  # {sources[name]}" if section == "celery" and name in sources else ""
            lines.append(f"{name} = {json.dumps(value)}{source}")
        lines.append("")
    if "lines" in report:
        lines.append("[overridden]")
        lines += report["lines"] or ["(nothing: the app sets no setting the platform decides)"]
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
    env = overlay(args, os.environ)
    try:
        settings = from_env(env)
    except SettingsError as exc:
        print(f"shoal config: bad setting: {exc}", file=sys.stderr)
        return 2
    if settings.app:
        from workers.worker_cmd import load_team_app

        loaded = load_team_app(settings, env, prog="shoal config", install_hooks=False)
        if loaded is None:
            return 2
        _, layered, lines = loaded
        report = effective_app(layered, lines)
    else:
        report = effective(settings)
    print(json.dumps(report, indent=2, sort_keys=True) if args.json else render_text(report))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
