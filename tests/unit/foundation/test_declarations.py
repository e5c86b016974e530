"""Every declared setting follows the naming rules, and every default is pinned here (kopf's
tests/settings/test_defaults.py): a default changes by a visible edit to this table."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from contract.fields import REQUIRED, ConfigError
from contract.pools import Pool
from contract.priority import Priorities
from scheduler.autoscaler.config import LeaderElection, RedisConfig, parse_config
from scheduler.beat.settings import BeatSettings
from tests.support.declarations import all_declared, unique_settings
from workers.settings import from_env, known_variables, unknown_variables

DECLARED = all_declared()
UNIT_SUFFIX = {"s": "_s", "kB": "_kb"}
KEY = re.compile(r"^[a-z][A-Za-z]*(\.[a-z][A-Za-z]*)*$")
ENV = re.compile(r"^SHOAL_[A-Z0-9_]+$")


def test_there_are_declarations_to_check() -> None:
    owners = {d.owner for d in DECLARED}
    assert {"WorkerSettings", "BeatSettings", "ControllerConfig", "QueuePolicy", "Entry"} <= owners
    assert len(unique_settings()) >= 60


@pytest.mark.parametrize("item", DECLARED, ids=lambda d: f"{d.owner}.{d.attr or d.setting.doc}")
def test_each_declaration_follows_the_rules(item: Any) -> None:
    setting = item.setting
    assert setting.doc.strip() and "\n" not in setting.doc and setting.doc.endswith("."), (
        "one line that ends with a full stop"
    )
    assert setting.key is None or KEY.match(setting.key), "YAML keys are camelCase"
    assert setting.env is None or ENV.match(setting.env), "variables are SHOAL_*"
    assert all(o.startswith("-") for o in setting.options)
    unit = setting.kind.unit
    if item.attr and unit in UNIT_SUFFIX:
        assert item.attr.endswith(UNIT_SUFFIX[unit]), f"{item.attr}: the unit in the name"
    if setting.key and unit == "s" and setting.key != "expires":  # expires: Celery's own name
        assert setting.key.endswith("Seconds"), setting.key
    if setting.default not in (None, REQUIRED) and setting.factory is None:
        setting.kind.to_value(setting.default)  # a default the kind can write back


def test_a_setting_given_by_variable_and_by_option_is_the_same_setting() -> None:
    for setting in unique_settings():
        if setting.secret:
            assert setting.env and not setting.options, "a secret never goes on a command line"


WORKER_DEFAULTS = {
    "redis_url": "redis://localhost:6379/0",
    "redis_password": None,
    "result_backend_url": None,
    "queues": ("celery",),
    "app": None,
    "pool": Pool.PREFORK,
    "concurrency": None,
    "autoscale": None,
    "imports": (),
    "prefetch_multiplier": None,
    "task_soft_time_limit_s": 300.0,
    "task_time_limit_s": 360.0,
    "visibility_timeout_s": 3600.0,
    "result_expires_s": 86400,
    "drain_timeout_s": 30.0,
    "max_memory_per_child_kb": 512_000,
    "metrics_port": 9808,
    "health_port": 9809,
    "heartbeat_interval_s": 2.0,
    "liveness_timeout_s": 15.0,
    "park_threshold_s": 10.0,
    "sentry_dsn": None,
    "rate_limits": (),
    "priority_steps": (0, 3, 6, 9),
    "priority_sep": "\x06\x16",
    "log_level": "WARNING",
    "dead_letter_max_len": 10_000,
}


def test_every_worker_default_is_pinned() -> None:
    settings = from_env({})
    values = {name: getattr(settings, name) for name in WORKER_DEFAULTS}
    assert values == WORKER_DEFAULTS
    assert set(vars(settings)) == {*WORKER_DEFAULTS, "worker_id"}


def test_every_beat_default_is_pinned() -> None:
    beat = BeatSettings(schedules_path=Path("s.yaml"))
    assert (beat.leader_lease, beat.lease_s, beat.metrics_port, beat.log_level) == (
        True, 10.0, 9812, "INFO",
    )  # fmt: skip
    assert (beat.reload_interval_s, beat.max_sleep_s, beat.sentry_dsn) == (1.0, 1.0, None)
    assert beat.priorities == Priorities((0, 3, 6, 9), "\x06\x16")


def test_every_controller_default_is_pinned() -> None:
    config = parse_config({})
    assert (config.poll_interval_s, config.namespace, config.queues) == (2.0, "default", ())
    assert (config.metrics_port, config.health_port) == (9810, 9811)
    assert config.redis == RedisConfig("redis://localhost:6379/0", None)
    assert config.leader_election == LeaderElection(True, "shoal-autoscaler", 15)
    # the per-queue defaults: tests/unit/autoscaler/test_config.py, against the HPA's


def test_unknown_variables_are_those_nobody_declares() -> None:
    known = known_variables()
    assert {"SHOAL_QUEUES", "SHOAL_REDIS_PASSWORD_FILE", "SHOAL_SENTRY_DSN_FILE"} <= known
    assert {"SHOAL_PRIORITY_STEPS", "SHOAL_PRIORITY_SEP", "SHOAL_HEALTH_FILE"} <= known
    env = {"SHOAL_QUEUE": "x", "SHOAL_CONFIG": "/etc/x", "SHOAL_POOL": "gevent", "HOME": "/"}
    assert unknown_variables(env) == ["SHOAL_CONFIG", "SHOAL_QUEUE"]


def test_an_error_is_one_line_where_colon_what() -> None:
    with pytest.raises(ConfigError) as caught:
        from_env({"SHOAL_DEAD_LETTER_MAX_LEN": "lots"})
    assert (caught.value.where, caught.value.problem) == (
        "SHOAL_DEAD_LETTER_MAX_LEN",
        "expected an integer >= 1, got 'lots'",
    )
