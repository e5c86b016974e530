"""Settings of the example Django project: the shape a Django team's project has.

The database is sqlite beside this file unless ``DATABASE_URL`` (or ``DATABASE_URL_FILE``, a
mounted Secret) names a PostgreSQL database (``postgres://user:password@host:port/name``).
"""

import os
from pathlib import Path
from urllib.parse import unquote, urlsplit

from celery.schedules import crontab

BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "example-only-not-a-secret")
DEBUG = False
ALLOWED_HOSTS = ["*"]
USE_TZ = True
TIME_ZONE = "Europe/Berlin"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django_celery_beat",
    "orders",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
ROOT_URLCONF = "proj.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.request",
            ]
        },
    }
]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"


def _database() -> dict[str, object]:
    url = os.environ.get("DATABASE_URL")
    path = os.environ.get("DATABASE_URL_FILE")
    if not url and path:
        url = Path(path).read_text().strip()
    if not url:
        name = os.environ.get("EXAMPLE_SQLITE_PATH", str(BASE_DIR / "db.sqlite3"))
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": name}
    parts = urlsplit(url)
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": parts.path.lstrip("/"),
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": parts.hostname or "",
        "PORT": str(parts.port or ""),
    }


DATABASES = {"default": _database()}

# Celery, read by proj/celery.py with namespace="CELERY".
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "redis://localhost:6379/0")
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND", "redis://localhost:6379/1")
CELERY_TIMEZONE = "Europe/Berlin"
CELERY_TASK_TIME_LIMIT = 1800
CELERY_TASK_ROUTES = {"orders.tasks.send_daily_email": {"queue": "emails"}}
CELERY_RESULT_EXPIRES = 6 * 3600
# Tuned on the team's own servers before the move to a platform.
CELERY_WORKER_CONCURRENCY = 4
CELERY_WORKER_PREFETCH_MULTIPLIER = 4
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 7200}
# django-celery-beat's tables are the schedule (edited in the admin); CELERY_BEAT_SCHEDULE is
# synced into them at the beat's start. The variable lets a test run the plain scheduler.
CELERY_BEAT_SCHEDULER = os.environ.get(
    "CELERY_BEAT_SCHEDULER", "django_celery_beat.schedulers:DatabaseScheduler"
)
CELERY_BEAT_SCHEDULE = {
    "daily-email": {
        "task": "orders.tasks.send_daily_email",
        "schedule": crontab(hour=15, minute=0),
    },
}
