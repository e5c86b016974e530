"""``shoal config``: every setting shown, every secret masked, bad settings exit 2."""

from __future__ import annotations

import json

import pytest

from workers import config_cmd
from workers.settings import from_env

ENV = {
    "SHOAL_REDIS_URL": "redis://app:urlpass99@redis:6379/0",
    "SHOAL_RESULT_BACKEND_URL": "redis://:backendpw7@results:6379/1",
    "SHOAL_SENTRY_DSN": "https://dsnkey0123@o1.ingest.sentry.io/42",
    "SHOAL_QUEUES": "emails",
    "SHOAL_POOL": "gevent",
}


def test_effective_masks_every_secret() -> None:
    report = config_cmd.effective(from_env(ENV))
    text = json.dumps(report)
    for secret in ("urlpass99", "backendpw7", "dsnkey0123"):
        assert secret not in text
    assert report["settings"]["redis_url"] == "redis://app:***@redis:6379/0"
    assert report["settings"]["sentry_dsn"] == "https://***@o1.ingest.sentry.io/42"
    assert report["celery"]["result_backend"] == "redis://:***@results:6379/1"
    assert report["derived"]["effective_concurrency"] == 200
    assert report["derived"]["effective_prefetch_multiplier"] == 4


def test_password_setting_is_masked_and_put_in_urls() -> None:
    env = {"SHOAL_REDIS_URL": "redis://redis:6379/0", "SHOAL_REDIS_PASSWORD": "envpass42"}
    report = config_cmd.effective(from_env(env))
    assert "envpass42" not in json.dumps(report)
    assert report["settings"]["redis_password"] == "***"
    assert report["derived"]["broker_url"] == "redis://:***@redis:6379/0"


def test_every_field_is_listed() -> None:
    from dataclasses import fields

    from workers.settings import WorkerSettings

    report = config_cmd.effective(from_env({}))
    assert set(report["settings"]) == {f.name for f in fields(WorkerSettings)}


def test_main_json_and_bad_setting(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for key in list(__import__("os").environ):
        if key.startswith("SHOAL_"):
            monkeypatch.delenv(key)
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    assert config_cmd.main(["--json", "--concurrency", "7"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["settings"]["concurrency"] == 7
    monkeypatch.setenv("SHOAL_CONCURRENCY", "lots")
    assert config_cmd.main([]) == 2
    err = capsys.readouterr().err
    assert (
        err == "shoal config: bad setting: SHOAL_CONCURRENCY: expected an integer from 1 to 10000, "
        "got 'lots'\n"
    )
