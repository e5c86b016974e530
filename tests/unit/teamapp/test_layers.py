"""The three layers: platform guarantees over explicit SHOAL_* variables over the team's app over
platform defaults; every override said once, every refusal one line naming the setting."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from workers.guarantees import GUARANTEES
from workers.layers import Layered, Refused, Source, explicit_fields, layer
from workers.settings import from_env

BROKER = "redis://redis.shoal:6379/0"


def run(team: Mapping[str, Any], env: Mapping[str, str] | None = None) -> Layered:
    env = {"SHOAL_REDIS_URL": BROKER, **(env or {})}
    return layer(team, settings=from_env(env), explicit=explicit_fields(env))


# -- the team's settings stand --------------------------------------------------------------
@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("timezone", "Europe/Berlin"),
        ("task_routes", {"orders.tasks.send_daily_email": {"queue": "emails"}}),
        ("result_backend", "redis://cache:6379/1"),
        ("result_backend_transport_options", {"retry_policy": {"timeout": 1.0}}),
        ("task_time_limit", 1800),
        ("task_annotations", {"*": {"rate_limit": "10/s"}}),
        ("beat_schedule", {"x": {"task": "t", "schedule": 60}}),
        ("result_expires", 3600),
        ("worker_send_task_events", True),
        ("worker_redirect_stdouts", True),
        ("task_track_started", True),
    ],
)
def test_the_teams_setting_is_the_one_in_force(key: str, value: Any) -> None:
    layered = run({key: value})
    assert layered.conf[key] == value
    assert layered.entries[key].source is Source.TEAM
    assert layered.lines() == []


def test_platform_defaults_fill_only_what_the_app_left_unset() -> None:
    layered = run({})
    assert layered.conf["task_time_limit"] == 360.0
    assert layered.conf["task_soft_time_limit"] == 300.0
    assert layered.conf["result_expires"] == 86400
    assert layered.conf["result_backend"] == BROKER
    assert layered.entries["result_backend"].source is Source.PLATFORM
    assert layered.lines() == []


def test_time_limits_are_a_pair_an_app_with_a_hard_limit_gets_no_soft_one() -> None:
    layered = run({"task_time_limit": 1800})
    assert (layered.conf["task_time_limit"], layered.conf["task_soft_time_limit"]) == (1800, None)


def test_the_tasks_and_modules_of_the_app_come_first() -> None:
    layered = run({"imports": ("billing.tasks",)}, {"SHOAL_IMPORTS": "extra.tasks"})
    assert layered.conf["imports"] == ("billing.tasks", "workers.tasks", "extra.tasks")
    assert "task_cls" not in layered.conf  # composed, not replaced (workers.compose)
    assert "task_default_queue" not in layered.conf  # the app's, untouched


# -- guarantees: overridden, one line each --------------------------------------------------
@pytest.mark.parametrize(
    ("key", "team", "platform"),
    [
        ("accept_content", ["json", "pickle"], ["json"]),
        ("result_accept_content", ["pickle"], ["json"]),
        ("task_acks_late", False, True),
        ("task_reject_on_worker_lost", False, True),
        ("worker_prefetch_multiplier", 4, 1),
        ("broker_connection_retry_on_startup", False, True),
        ("broker_connection_max_retries", 3, None),
        ("task_create_missing_queues", False, True),
        ("worker_soft_shutdown_timeout", 0, 30.0),
        ("broker_transport", "redis", "workers.transport:Transport"),
    ],
)
def test_a_guarantee_overrides_the_app_with_one_line(key: str, team: Any, platform: Any) -> None:
    layered = run({key: team})
    assert layered.conf[key] == platform
    entry = layered.entries[key]
    assert (entry.source, entry.team) == (Source.PLATFORM, team)
    lines = layered.lines()
    assert lines == [f"{key}: the app sets {team!r}; the platform runs {platform!r}: {entry.why}"]


def test_a_guarantee_the_app_agrees_with_says_nothing() -> None:
    team = {"task_acks_late": True, "accept_content": ("json",), "task_serializer": "json"}
    assert run(team).lines() == []


def test_every_guarantee_has_a_reason() -> None:
    assert all(GUARANTEES.values())


def test_transport_options_keep_the_apps_keys_and_override_the_platforms() -> None:
    team = {"broker_transport_options": {"visibility_timeout": 7200, "socket_keepalive": True}}
    layered = run(team)
    options = layered.conf["broker_transport_options"]
    assert options["visibility_timeout"] == 3600 and options["socket_keepalive"] is True
    assert options["priority_steps"] == [0, 3, 6, 9]
    (line,) = layered.lines()
    assert line.startswith(
        "broker_transport_options.visibility_timeout: the app sets 7200; the platform runs 3600"
    )
    assert "kombu's restore sweep uses the smallest" in line


def test_prefetch_is_per_pool() -> None:
    assert run({}, {"SHOAL_POOL": "gevent"}).conf["worker_prefetch_multiplier"] == 4
    assert run({}, {"SHOAL_PREFETCH_MULTIPLIER": "2"}).conf["worker_prefetch_multiplier"] == 2


def test_gevent_adds_its_connection_pool_and_thread_safe_backend() -> None:
    layered = run({"result_backend_thread_safe": False}, {"SHOAL_POOL": "gevent"})
    assert layered.conf["result_backend_thread_safe"] is True
    assert layered.conf["broker_transport_options"]["max_connections"] == 220
    assert [line.split(":")[0] for line in layered.lines()] == ["result_backend_thread_safe"]


# -- SHOAL_* set explicitly: over the app, with a line --------------------------------------
def test_the_environment_overrides_the_apps_broker_with_a_line() -> None:
    layered = run({"broker_url": "redis://localhost:6379/0"})
    assert layered.conf["broker_url"] == BROKER
    assert layered.settings.redis_url == BROKER
    assert layered.lines() == [
        f"broker_url: the app sets 'redis://localhost:6379/0'; SHOAL_REDIS_URL sets '{BROKER}'"
    ]


def test_without_shoal_redis_url_the_apps_broker_is_the_workers() -> None:
    team = {"broker_url": "redis://cache:6379/3"}
    layered = layer(team, settings=from_env({}), explicit=frozenset())
    assert layered.conf["broker_url"] == "redis://cache:6379/3"
    assert layered.settings.redis_url == "redis://cache:6379/3"  # in-flight, health use it too
    assert layered.entries["broker_url"].source is Source.TEAM


@pytest.mark.parametrize(
    ("env", "team", "key", "expected"),
    [
        ({"SHOAL_TASK_TIME_LIMIT_S": "600"}, {"task_time_limit": 1800}, "task_time_limit", 600.0),
        ({"SHOAL_RESULT_EXPIRES_S": "60"}, {"result_expires": 3600}, "result_expires", 60),
        (
            {"SHOAL_RESULT_BACKEND_URL": "redis://results:6379/2"},
            {"result_backend": "redis://cache:6379/1"},
            "result_backend",
            "redis://results:6379/2",
        ),
        (
            {"SHOAL_MAX_MEMORY_PER_CHILD_KB": "1000"},
            {"worker_max_memory_per_child": 2000},
            "worker_max_memory_per_child",
            1000,
        ),
    ],
)
def test_an_explicit_variable_overrides_the_app(
    env: dict[str, str], team: dict[str, Any], key: str, expected: Any
) -> None:
    layered = run(team, env)
    assert layered.conf[key] == expected
    entry = layered.entries[key]
    assert entry.source is Source.ENVIRONMENT and entry.team == team[key]
    assert len(layered.lines()) == 1


def test_queues_concurrency_and_pool_come_from_the_command_line_or_the_app() -> None:
    team = {"task_default_queue": "orders", "worker_concurrency": 6, "worker_pool": "gevent"}
    layered = run(team)
    assert layered.settings.queues == ("orders",)
    assert layered.settings.concurrency == 6
    assert [line.split(":")[0] for line in layered.lines()] == ["worker_pool"]
    layered = run(team, {"SHOAL_QUEUES": "emails", "SHOAL_CONCURRENCY": "2"})
    assert layered.settings.queues == ("emails",) and layered.settings.concurrency == 2
    keys = [line.split(":")[0] for line in layered.lines()]
    assert keys == ["worker_concurrency", "worker_pool"]  # consuming emails overrides nothing
    assert layered.entries["queues"].source is Source.ENVIRONMENT
    assert all(k not in layered.conf for k in ("worker_pool", "worker_concurrency", "queues"))


def test_the_platforms_password_goes_only_into_the_brokers_own_server() -> None:
    env = {"SHOAL_REDIS_PASSWORD": "s3cret"}
    same = run({"result_backend": "redis://redis.shoal:6379/1"}, env)
    assert same.conf["result_backend"] == "redis://:s3cret@redis.shoal:6379/1"
    other = run({"result_backend": "redis://cache:6379/1"}, env)
    assert other.conf["result_backend"] == "redis://cache:6379/1"
    own = run({"result_backend": "redis://:theirs@cache:6379/1"}, env)
    assert own.secrets == ("theirs",)


def test_the_backend_tls_follows_the_backend_in_use() -> None:
    env = {"SHOAL_REDIS_URL": "rediss://redis.shoal:6380/0"}
    plain = run({"result_backend": "redis://cache:6379/1"}, env)
    assert "redis_backend_use_ssl" not in plain.conf
    assert run({}, env).conf["redis_backend_use_ssl"]["ssl_cert_reqs"] is not None


def test_read_and_write_urls_follow_the_one_broker() -> None:
    layered = run({"broker_read_url": "redis://replica:6379/0"})
    assert layered.conf["broker_read_url"] is None  # Celery falls back to broker_url
    assert layered.lines()[0].startswith("broker_read_url: the app sets 'redis://replica")


# -- refused: one line naming the setting -----------------------------------------------------
@pytest.mark.parametrize(
    ("team", "env", "message"),
    [
        ({"task_serializer": "pickle"}, {}, "task_serializer 'pickle' (the app's): shoal workers"),
        ({"result_serializer": "msgpack"}, {}, "result_serializer 'msgpack' (the app's)"),
        (
            {"broker_url": "amqp://guest@rabbit//"},
            {"SHOAL_REDIS_URL": ""},
            "broker_url 'amqp://***@rabbit//' (the app's): shoal runs on Redis",
        ),
        (
            {"broker_transport_options": {"global_keyprefix": "proj:"}},
            {},
            "broker_transport_options.global_keyprefix 'proj:' (the app's)",
        ),
        ({"worker_consumer": "proj.consumer:Mine"}, {}, "worker_consumer 'proj.consumer:Mine'"),
        (
            {"task_time_limit": 7200},
            {},
            "task_time_limit 7200 (team) is not below the visibility timeout 3600 s",
        ),
        (
            {"task_soft_time_limit": 600},
            {},
            "task_soft_time_limit 600 (team) exceeds task_time_limit 360.0 (platform); set both",
        ),
        ({"task_time_limit": None}, {}, "task_time_limit None (team): a task without a hard"),
        ({"task_default_queue": "my queue"}, {}, "task_default_queue 'my queue' (the app's)"),
    ],
)
def test_what_cannot_run_is_refused_with_one_line(
    team: dict[str, Any], env: dict[str, str], message: str
) -> None:
    env = {"SHOAL_REDIS_URL": BROKER, **env}
    env = {k: v for k, v in env.items() if v}
    with pytest.raises(Refused) as caught:
        layer(team, settings=from_env(env), explicit=explicit_fields(env))
    text = str(caught.value)
    assert text.startswith(message), text
    assert "\n" not in text


def test_an_explicit_broker_variable_runs_an_app_written_for_another_broker() -> None:
    layered = run({"broker_url": "amqp://guest@rabbit//"})
    assert layered.conf["broker_url"] == BROKER
    assert len(layered.lines()) == 1


# -- properties over random apps ------------------------------------------------------------
TEAM_VALUES = st.fixed_dictionaries(
    {},
    optional={
        "task_acks_late": st.booleans(),
        "worker_prefetch_multiplier": st.integers(1, 8),
        "accept_content": st.sampled_from([["json"], ["json", "pickle"], ["pickle"]]),
        "timezone": st.sampled_from(["UTC", "Europe/Berlin"]),
        "task_time_limit": st.integers(1, 3000),
        "result_expires": st.integers(1, 10**6),
        "worker_concurrency": st.integers(1, 64),
        "broker_url": st.sampled_from(["redis://a:6379/0", "redis://b:6379/4"]),
    },
)
ENV_VALUES = st.fixed_dictionaries(
    {},
    optional={
        "SHOAL_REDIS_URL": st.sampled_from(["redis://a:6379/0", "redis://c:6379/0"]),
        "SHOAL_CONCURRENCY": st.sampled_from(["1", "8"]),
        "SHOAL_TASK_TIME_LIMIT_S": st.sampled_from(["400", "2000"]),
    },
)


@given(team=TEAM_VALUES, env=ENV_VALUES)
def test_guarantees_always_hold_and_every_difference_has_its_line(
    team: dict[str, Any], env: dict[str, str]
) -> None:
    layered = layer(team, settings=from_env(env), explicit=explicit_fields(env))
    conf = layered.conf
    assert conf["task_acks_late"] is True and conf["accept_content"] == ["json"]
    assert conf["task_time_limit"] < conf["broker_transport_options"]["visibility_timeout"]
    said = {line.split(":")[0] for line in layered.lines()}
    for key, value in team.items():
        in_force = conf.get(key, layered.entries[key].value)
        if key == "worker_concurrency":
            in_force = layered.settings.effective_concurrency
        if in_force != value:
            assert key in said, (key, value, in_force)
        else:
            assert key not in said
