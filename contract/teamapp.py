"""Loading an application team's own Celery app, as ``celery -A APP`` does, for every shoal
process that runs one (``shoal worker --app``, ``shoal beat --app``, ``shoal config --app``).

``APP`` is resolved by Celery's own :func:`celery.app.utils.find_app`: ``proj`` (the module's
``app`` or ``celery`` attribute, then ``proj.celery``, then any Celery instance in the module),
``proj.celery`` or ``proj.celery:app``. When the app is configured from Django settings
(``config_from_object("django.conf:settings", ...)``) or ``DJANGO_SETTINGS_MODULE`` is set,
Django is set up (``django.setup()``) before any task module is imported, and Celery's Django
fix-up is on the app (it closes database connections around each task and after a fork).
Then the app's task modules are imported (``imports``, ``include`` and ``autodiscover_tasks()``),
so a module that fails to import stops the start here, not inside the worker.

Every failure is one :class:`TeamAppError` whose message names the value and the error, for
one line and exit code 2. Celery and Django are imported only inside :func:`load_app`: the
contract stands on nothing heavy.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from contract.fields import Helm
from contract.kinds import Text

if TYPE_CHECKING:
    from celery import Celery

SETTINGS_ENV = "DJANGO_SETTINGS_MODULE"
DJANGO_SOURCE = "django.conf:settings"


APP_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*(:[A-Za-z_][A-Za-z0-9_.]*)?$"
"""What ``celery -A`` takes: a module path, optionally ``:attribute`` (``proj``,
``proj.celery``, ``proj.celery:app``)."""

APP_KIND = Text(pattern=APP_PATTERN, rule="a module path, optionally with :attribute")
"""The kind of every ``--app`` / ``SHOAL_APP`` setting (the worker's and the beat's)."""


def app_helm(path: str) -> Helm:
    """Where the chart feeds an app setting from: no app is an empty string in the values."""
    return Helm(
        path,
        {"default": "", "type": "string", "pattern": "^$|" + APP_PATTERN},
        "the chart writes no app as an empty string, and sets SHOAL_APP only when given",
    )


class TeamAppError(ValueError):
    """The app cannot be loaded; the message names the value and the error, on one line."""


def one_line(exc: BaseException) -> str:
    """``Type: message`` with the message's lines joined (a traceback never reaches the user)."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def load_app(spec: str, *, env: Mapping[str, str]) -> Celery:
    """The Celery app ``spec`` names, Django set up where it is used, task modules imported.

    ``env`` is the process environment the command runs with; a ``DJANGO_SETTINGS_MODULE`` in
    it is put into ``os.environ`` (where Django and Celery's fix-up read it) before the app's
    module is imported.
    """
    spec = spec.strip()
    if not spec:
        raise TeamAppError("--app: empty (expected proj, proj.celery or proj.celery:app)")
    settings_module = (env.get(SETTINGS_ENV) or "").strip()
    if settings_module:
        os.environ[SETTINGS_ENV] = settings_module
    app = _find(spec)
    if uses_django(app):
        _setup_django(app)
    try:
        app.loader.import_default_modules()
    except (Exception, SystemExit) as exc:
        raise TeamAppError(
            f"--app {spec!r}: loading its task modules failed: {one_line(exc)}"
        ) from None
    return app


def _find(spec: str) -> Celery:
    from celery import Celery
    from celery.app.utils import find_app

    try:
        found = find_app(spec)
    except ModuleNotFoundError as exc:
        if exc.name == spec and ":" in spec:  # find_app's fallback: import the whole "a:b"
            module, _, attribute = spec.partition(":")
            raise TeamAppError(
                f"--app {spec!r}: module {module!r} has no attribute {attribute!r}"
            ) from None
        raise TeamAppError(f"--app {spec!r}: cannot import it: {one_line(exc)}") from None
    except AttributeError as exc:
        if ":" in spec:
            raise TeamAppError(f"--app {spec!r}: {one_line(exc)}") from None
        raise TeamAppError(
            f"--app {spec!r}: no Celery app in module {spec!r} (looked for {spec}.app, "
            f"{spec}.celery, {spec}.celery:app and any Celery instance in it)"
        ) from None
    except (Exception, SystemExit) as exc:
        raise TeamAppError(f"--app {spec!r}: importing it failed: {one_line(exc)}") from None
    if not isinstance(found, Celery):
        kind = type(found).__name__
        raise TeamAppError(f"--app {spec!r}: is a {kind}, not a Celery app")
    return found


def uses_django(app: Any) -> bool:
    """The app reads Django's settings, or the process names a Django settings module."""
    source = getattr(app, "_config_source", None)
    from_django = (isinstance(source, str) and source.lower() == DJANGO_SOURCE) or (
        type(source).__module__.startswith("django.conf")
    )
    return from_django or bool(os.environ.get(SETTINGS_ENV))


def _setup_django(app: Any) -> None:
    settings_module = os.environ.get(SETTINGS_ENV)
    where = f"{SETTINGS_ENV}={settings_module!r}" if settings_module else f"{SETTINGS_ENV} unset"
    try:
        import django

        django.setup()
    except (Exception, SystemExit) as exc:
        raise TeamAppError(f"Django cannot start ({where}): {one_line(exc)}") from None
    _ensure_django_fixup(app)


def _ensure_django_fixup(app: Any) -> None:
    """Celery installs its Django fix-up when the app is created with DJANGO_SETTINGS_MODULE
    set; an app created before the variable was set gets it here, as ``celery -A`` would have
    given it had the variable been set first."""
    from celery.fixups.django import DjangoFixup, fixup

    fixups = getattr(app, "_fixups", None)
    if fixups is None or any(isinstance(f, DjangoFixup) for f in fixups):
        return
    installed = fixup(app)
    if installed is not None:
        fixups.append(installed)
