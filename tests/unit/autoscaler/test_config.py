"""The controller's config: every default pinned, every error names the queue and the field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from contract.pools import Pool
from scheduler.autoscaler.config import (
    ConfigError,
    ControllerConfig,
    LeaderElection,
    PolicyType,
    Priorities,
    QueuePolicy,
    RatePolicy,
    RedisConfig,
    ScalingRules,
    SelectPolicy,
    load_config,
    parse_config,
    queue_policies_from_values,
)

FULL = """
pollIntervalSeconds: 2
namespace: shoal
redis:
  url: sentinel://s1:26379;sentinel://s2:26379/0?master_name=main
  passwordFile: /var/run/secrets/redis/password
priority:
  steps: [0, 3, 6, 9]
  separator: "\\x06\\x16"
leaderElection: {enabled: true, leaseName: shoal-autoscaler, leaseDurationSeconds: 15}
metricsPort: 9810
healthPort: 9811
queues:
  - name: emails
    pool: gevent
    concurrency: 200
    deployment: shoal-worker-emails
    autoscaling:
      enabled: true
      minReplicas: 0
      maxReplicas: 20
      targetBacklogPerReplica: 100
      targetLatencySeconds: 30
      activationBacklog: 0
      cooldownSeconds: 300
      fallbackReplicas: 1
      failureThreshold: 3
      scaleUp:
        stabilizationWindowSeconds: 0
        selectPolicy: Max
        policies:
          - {type: Percent, value: 100, periodSeconds: 15}
          - {type: Pods, value: 4, periodSeconds: 15}
      scaleDown:
        stabilizationWindowSeconds: 300
        selectPolicy: Max
        policies:
          - {type: Percent, value: 100, periodSeconds: 15}
"""


def test_the_documented_example_loads(tmp_path: Path) -> None:
    path = tmp_path / "autoscaler.yaml"
    path.write_text(FULL)
    config = load_config(path)
    assert config.namespace == "shoal"
    assert config.redis == RedisConfig(
        "sentinel://s1:26379;sentinel://s2:26379/0?master_name=main",
        "/var/run/secrets/redis/password",
    )
    assert config.priority == Priorities((0, 3, 6, 9), "\x06\x16")
    emails = config.queue("emails")
    assert (emails.pool, emails.concurrency, emails.deployment) == (
        Pool.GEVENT,
        200,
        "shoal-worker-emails",
    )
    assert (emails.min_replicas, emails.max_replicas, emails.fallback_replicas) == (0, 20, 1)
    assert emails.target_latency_s == 30.0


def test_defaults_are_the_hpa_behaviour_defaults_plus_shoals() -> None:
    config = parse_config(
        {
            "queues": [
                {"name": "q", "concurrency": 4, "autoscaling": {"targetBacklogPerReplica": 10}}
            ]
        }
    )
    assert config.poll_interval_s == 2.0
    assert config.leader_election == LeaderElection(True, "shoal-autoscaler", 15)
    assert (config.metrics_port, config.health_port, config.namespace) == (9810, 9811, "default")
    q = config.queues[0]
    assert q == QueuePolicy(
        name="q",
        concurrency=4,
        pool=Pool.PREFORK,
        deployment="shoal-worker-q",
        enabled=True,
        min_replicas=1,
        max_replicas=10,
        target_backlog_per_replica=10.0,
        target_latency_s=None,
        activation_backlog=0,
        cooldown_s=300.0,
        fallback_replicas=None,
        failure_threshold=3,
        scale_up=ScalingRules(
            0,
            SelectPolicy.MAX,
            (RatePolicy(PolicyType.PERCENT, 100, 15), RatePolicy(PolicyType.PODS, 4, 15)),
        ),
        scale_down=ScalingRules(300, SelectPolicy.MAX, (RatePolicy(PolicyType.PERCENT, 100, 15),)),
    )


def test_a_partial_behavior_block_keeps_the_other_defaults() -> None:
    config = parse_config(
        {
            "queues": [
                {
                    "name": "q",
                    "concurrency": 1,
                    "autoscaling": {
                        "targetBacklogPerReplica": 5,
                        "scaleDown": {"stabilizationWindowSeconds": 10},
                    },
                }
            ]
        }
    )
    down = config.queues[0].scale_down
    assert down == ScalingRules(10, SelectPolicy.MAX, (RatePolicy(PolicyType.PERCENT, 100, 15),))


def queue(**autoscaling: Any) -> dict[str, Any]:
    return {
        "queues": [
            {"name": "reports", "concurrency": 2, "autoscaling": {"targetBacklogPerReplica": 10}},
            {
                "name": "emails",
                "concurrency": 2,
                "autoscaling": {"targetBacklogPerReplica": 10, **autoscaling},
            },
        ]
    }


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            queue(minReplicas=5, maxReplicas=3),
            "queues[1] (emails).autoscaling.minReplicas: must be <= maxReplicas (5 > 3)",
        ),
        (
            queue(minReplica=1),
            "queues[1] (emails).autoscaling.minReplica: unknown field (did you mean minReplicas?)",
        ),
        (
            queue(minReplicas=-1),
            "queues[1] (emails).autoscaling.minReplicas: expected an integer from 0 to 1000, got -1",  # noqa: E501
        ),
        (
            queue(maxReplicas="ten"),
            "queues[1] (emails).autoscaling.maxReplicas: expected an integer from 1 to 1000, got 'ten'",  # noqa: E501
        ),
        (
            queue(maxReplicas=True),
            "queues[1] (emails).autoscaling.maxReplicas: expected an integer from 1 to 1000, got True",  # noqa: E501
        ),
        (
            queue(targetBacklogPerReplica=0),
            "queues[1] (emails).autoscaling.targetBacklogPerReplica: expected a number > 0, got 0",
        ),
        (
            queue(fallbackReplicas=50),
            "queues[1] (emails).autoscaling.fallbackReplicas: must be within minReplicas..maxReplicas (1..10), got 50",  # noqa: E501
        ),
        (
            queue(failureThreshold=0),
            "queues[1] (emails).autoscaling.failureThreshold: expected an integer from 1 to 1000, got 0",  # noqa: E501
        ),
        (
            queue(scaleUp={"selectPolicy": "Biggest"}),
            "queues[1] (emails).autoscaling.scaleUp.selectPolicy: expected one of Max, Min, Disabled, got 'Biggest'",  # noqa: E501
        ),
        (
            queue(scaleDown={"policies": [{"type": "Pods", "value": 1, "periodSeconds": 4000}]}),
            "queues[1] (emails).autoscaling.scaleDown.policies[0].periodSeconds: expected a whole number of seconds from 1 to 1800, got 4000",  # noqa: E501
        ),
        (
            queue(scaleDown={"policies": [{"type": "Replicas", "value": 1, "periodSeconds": 10}]}),
            "queues[1] (emails).autoscaling.scaleDown.policies[0].type: expected one of Pods, Percent, got 'Replicas'",  # noqa: E501
        ),
        (
            queue(scaleDown={"policies": []}),
            "queues[1] (emails).autoscaling.scaleDown.policies: needs at least one policy unless selectPolicy is Disabled",  # noqa: E501
        ),
        (
            queue(scaleUp={"stabilizationWindowSeconds": 7200}),
            "queues[1] (emails).autoscaling.scaleUp.stabilizationWindowSeconds: expected a whole number of seconds from 0 to 3600, got 7200",  # noqa: E501
        ),
        (
            {"queues": [{"name": "emails", "concurrency": 2, "autoscaling": {}}]},
            "queues[0] (emails).autoscaling.targetBacklogPerReplica: set targetBacklogPerReplica and/or targetLatencySeconds",  # noqa: E501
        ),
        (
            {"queues": [{"name": "emails", "autoscaling": {"targetBacklogPerReplica": 1}}]},
            "queues[0] (emails).concurrency: is required",
        ),
        (
            {"queues": [{"name": "emails", "pool": "threads", "concurrency": 1}]},
            "queues[0] (emails).pool: expected one of prefork, gevent, got 'threads'",
        ),
        (
            {"queues": [{"name": "bad name", "concurrency": 1}]},
            "queues[0] (bad name).name: expected a queue name (1-63 letters, digits, _ . -, starting and ending with a letter or digit), got 'bad name'",  # noqa: E501
        ),
        (
            {
                "queues": [
                    {"name": "a", "concurrency": 1, "autoscaling": {"targetBacklogPerReplica": 1}}
                ]
                * 2
            },
            "queues[1] (a).name: duplicate queue name 'a'",
        ),
        (
            {"pollIntervalSeconds": 0},
            "pollIntervalSeconds: expected a number of seconds > 0 and <= 300, got 0",
        ),
        (
            {"leaderElection": {"leaseName": "Shoal_Lease"}},
            "leaderElection.leaseName: expected a Kubernetes name (a-z 0-9 - .), got 'Shoal_Lease'",
        ),
        (
            {"pollInterval": 2},
            "pollInterval: unknown field (did you mean pollIntervalSeconds?)",
        ),
        ({"colour": "red"}, "colour: unknown field (check the spelling)"),
        (
            {"redis": {"url": "http://x"}},
            "redis.url: expected a Redis URL (redis://, rediss://, sentinel://, sentinels://, "
            "unix://), got scheme 'http'",
        ),
        (
            {"priority": {"steps": [3, 6]}},
            "priority.steps: must include 0 (the queue's own list), got [3, 6]",
        ),
        ({"metricsPort": 70000}, "metricsPort: expected a port from 0 to 65535, got 70000"),
        ({"queues": {"name": "q"}}, "queues: expected a list, got a mapping"),
    ],
)
def test_errors_name_the_queue_and_the_field(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_config(data)
    assert str(error.value) == message


def test_an_unreadable_or_invalid_file_says_which(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("queues: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)


def test_values_file_queues_use_the_same_names_and_tolerate_chart_keys() -> None:
    values = yaml.safe_load(
        """
image: {repository: shoal}
queues:
  - name: emails
    pool: gevent
    concurrency: 200
    resources: {requests: {cpu: 100m}}
    autoscaling: {minReplicas: 0, maxReplicas: 20, targetBacklogPerReplica: 100}
"""
    )
    (emails,) = queue_policies_from_values(values)
    assert (emails.name, emails.min_replicas, emails.max_replicas) == ("emails", 0, 20)
    assert emails.deployment == "shoal-worker-emails"
    with pytest.raises(ConfigError, match=r"queues\[0\] \(emails\).autoscaling.maxReplica:"):
        queue_policies_from_values(
            {"queues": [{"name": "emails", "concurrency": 1, "autoscaling": {"maxReplica": 2}}]}
        )


def test_controller_config_is_frozen() -> None:
    config = ControllerConfig()
    with pytest.raises(AttributeError):
        config.poll_interval_s = 1  # type: ignore[misc]
