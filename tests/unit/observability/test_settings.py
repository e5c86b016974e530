"""Settings parsing: each bad value is reported with the variable's name and what it accepts."""

from __future__ import annotations

from pathlib import Path

import pytest

from workers.settings import Pool, RateLimit, SettingsError, from_env, unknown_variables


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SHOAL_REDIS_URL": "http://h:6379"}, "SHOAL_REDIS_URL: expected a Redis URL"),
        ({"SHOAL_REDIS_URL": "redis://"}, "SHOAL_REDIS_URL: the URL has no host"),
        ({"SHOAL_REDIS_URL": "redis://h:99999/0"}, "SHOAL_REDIS_URL: bad port"),
        ({"SHOAL_RESULT_BACKEND_URL": "mysql://h/x"}, "SHOAL_RESULT_BACKEND_URL: expected a Redis"),
        ({"SHOAL_QUEUES": " , "}, "SHOAL_QUEUES: expected one or more queue names"),
        ({"SHOAL_QUEUES": "ok,bad name"}, "SHOAL_QUEUES: expected a queue name (1-63 letters"),
        ({"SHOAL_POOL": "threads"}, "SHOAL_POOL: expected one of prefork, gevent, got 'threads'"),
        (
            {"SHOAL_CONCURRENCY": "many"},
            "SHOAL_CONCURRENCY: expected an integer from 1 to 10000, got 'many'",
        ),
        ({"SHOAL_CONCURRENCY": "2.5"}, "SHOAL_CONCURRENCY: expected an integer from 1 to 10000"),
        (
            {"SHOAL_CONCURRENCY": "0"},
            "SHOAL_CONCURRENCY: expected an integer from 1 to 10000, got '0'",
        ),
        ({"SHOAL_AUTOSCALE": "10"}, "SHOAL_AUTOSCALE: expected MAX,MIN"),
        (
            {"SHOAL_AUTOSCALE": "2,5"},
            "SHOAL_AUTOSCALE: expected MAX,MIN with 1 <= MAX and MIN <= MAX",
        ),
        (
            {"SHOAL_PREFETCH_MULTIPLIER": "-1"},
            "SHOAL_PREFETCH_MULTIPLIER: expected an integer from 1 to 1000",
        ),
        (
            {"SHOAL_TASK_TIME_LIMIT_S": "soon"},
            "SHOAL_TASK_TIME_LIMIT_S: expected a number of seconds",
        ),
        (
            {"SHOAL_HEARTBEAT_INTERVAL_S": "0"},
            "SHOAL_HEARTBEAT_INTERVAL_S: expected a number of seconds > 0, got '0'",
        ),
        ({"SHOAL_TASK_TIME_LIMIT_S": "inf"}, "SHOAL_TASK_TIME_LIMIT_S: expected a number of"),
        (
            {"SHOAL_DRAIN_TIMEOUT_S": "2.5"},
            "SHOAL_DRAIN_TIMEOUT_S: expected a whole number of seconds from 0 to 86400, got '2.5'",
        ),
        ({"SHOAL_METRICS_PORT": "70000"}, "SHOAL_METRICS_PORT: expected a port from 0 to 65535"),
        ({"SHOAL_HEALTH_PORT": "http"}, "SHOAL_HEALTH_PORT: expected a port from 0 to 65535"),
        (
            {"SHOAL_RATE_LIMITS": "emails=5/s"},
            "SHOAL_RATE_LIMITS: expected entries like queue:NAME=5/s",
        ),
        ({"SHOAL_RATE_LIMITS": "queue:emails=fast"}, "SHOAL_RATE_LIMITS: expected a rate like 5/s"),
        (
            {"SHOAL_PRIORITY_STEPS": "3,9"},
            "SHOAL_PRIORITY_STEPS: must include 0",
        ),
        (
            {"SHOAL_LOG_LEVEL": "LOUD"},
            "SHOAL_LOG_LEVEL: expected one of DEBUG, INFO, WARNING, ERROR, CRITICAL, got 'LOUD'",
        ),
        (
            {"SHOAL_RESULT_EXPIRES_S": "0"},
            "SHOAL_RESULT_EXPIRES_S: expected a whole number of seconds >= 1, got '0'",
        ),
        (
            {"SHOAL_TASK_SOFT_TIME_LIMIT_S": "400", "SHOAL_TASK_TIME_LIMIT_S": "300"},
            "SHOAL_TASK_SOFT_TIME_LIMIT_S: must not exceed SHOAL_TASK_TIME_LIMIT_S",
        ),
        (
            {"SHOAL_VISIBILITY_TIMEOUT_S": "100"},
            "SHOAL_VISIBILITY_TIMEOUT_S: must exceed SHOAL_TASK_TIME_LIMIT_S",
        ),
        (
            {"SHOAL_AUTOSCALE": "4,1", "SHOAL_CONCURRENCY": "2"},
            "SHOAL_AUTOSCALE: set either SHOAL_AUTOSCALE or SHOAL_CONCURRENCY",
        ),
        (
            {"SHOAL_REDIS_PASSWORD_FILE": "/nonexistent/shoal/pw"},
            "SHOAL_REDIS_PASSWORD_FILE: cannot read '/nonexistent/shoal/pw'",
        ),
    ],
)
def test_bad_setting_names_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError) as caught:
        from_env(env)
    text = str(caught.value)
    assert text.startswith(message), text
    assert "\n" not in text, "one line"


@pytest.mark.parametrize(
    ("env", "field", "value"),
    [
        ({"SHOAL_QUEUES": "a, b,c"}, "queues", ("a", "b", "c")),
        ({"SHOAL_POOL": " GEVENT "}, "pool", Pool.GEVENT),
        ({"SHOAL_CONCURRENCY": "8"}, "concurrency", 8),
        ({"SHOAL_AUTOSCALE": "10,3"}, "autoscale", (10, 3)),
        (
            {"SHOAL_IMPORTS": "billing.tasks,email.tasks"},
            "imports",
            ("billing.tasks", "email.tasks"),
        ),
        ({"SHOAL_METRICS_PORT": "0"}, "metrics_port", 0),
        ({"SHOAL_MAX_MEMORY_PER_CHILD_KB": "0"}, "max_memory_per_child_kb", None),
        ({"SHOAL_PRIORITY_STEPS": "9,0,5"}, "priority_steps", (0, 5, 9)),
        ({"SHOAL_LOG_LEVEL": "debug"}, "log_level", "DEBUG"),
        ({"SHOAL_WORKER_ID": "shoal-worker-emails-7d9f"}, "worker_id", "shoal-worker-emails-7d9f"),
        (
            {"SHOAL_RATE_LIMITS": "queue:emails=5/s,task:b.charge=120/m"},
            "rate_limits",
            (RateLimit("queue", "emails", 5.0), RateLimit("task", "b.charge", 2.0)),
        ),
        ({"SHOAL_CONCURRENCY": ""}, "concurrency", None),
    ],
)
def test_good_values_parse(env: dict[str, str], field: str, value: object) -> None:
    assert getattr(from_env(env), field) == value


def test_password_file_is_read_and_put_into_urls(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("from-file\n")
    settings = from_env(
        {"SHOAL_REDIS_URL": "redis://r:6379/0", "SHOAL_REDIS_PASSWORD_FILE": str(secret)}
    )
    assert settings.redis_password == "from-file"
    assert settings.broker_url == "redis://:from-file@r:6379/0"
    assert "from-file" not in repr(settings), "secrets stay out of repr"


def test_defaults_per_pool() -> None:
    prefork = from_env({})
    gevent = from_env({"SHOAL_POOL": "gevent"})
    assert (prefork.effective_prefetch_multiplier, gevent.effective_prefetch_multiplier) == (1, 4)
    assert gevent.effective_concurrency == 200


def test_typos_are_listed() -> None:
    env = {"SHOAL_QUEUE": "x", "SHOAL_QUEUES": "y", "SHOAL_REDIS_PASSWORD_FILE": "/p", "HOME": "/"}
    assert unknown_variables(env) == ["SHOAL_QUEUE"]
