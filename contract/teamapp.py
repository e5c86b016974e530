"""STAND-IN for the one app loader of worker and beat (written on the ``app`` branch).

This minimal version exists only so that ``shoal beat --app`` works on the ``beatsrc`` branch;
at merge the ``app`` branch's module of the same path, name and signature replaces it.

``load_app(spec, env=...)`` resolves ``spec`` as ``celery -A`` does (``find_app``) and sets
Django up first when ``DJANGO_SETTINGS_MODULE`` is set (before or by the app's module).
Celery and Django are imported inside the function: the contract imports nothing heavy.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from celery import Celery


class TeamAppError(ValueError):
    """The app cannot be loaded; the message is one line naming the app."""


def load_app(spec: str, *, env: Mapping[str, str]) -> Celery:
    """The team's Celery app named by ``spec`` (``proj``, ``proj.celery:app`` ...)."""
    from celery import Celery
    from celery.app.utils import find_app

    if env.get("DJANGO_SETTINGS_MODULE"):
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", env["DJANGO_SETTINGS_MODULE"])
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        found = find_app(spec)
    except Exception as exc:  # whatever the team's module raises, one line
        raise TeamAppError(f"--app {spec}: {type(exc).__name__}: {exc}") from None
    if not isinstance(found, Celery):
        raise TeamAppError(f"--app {spec}: {found!r} is not a Celery app")
    if os.environ.get("DJANGO_SETTINGS_MODULE"):
        import django

        try:
            django.setup()
        except Exception as exc:
            raise TeamAppError(f"--app {spec}: Django setup: {type(exc).__name__}: {exc}") from None
    return found
