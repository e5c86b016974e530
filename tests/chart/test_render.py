"""The chart renders for every values file of the matrix, and each object is valid Kubernetes."""

from __future__ import annotations

import math

import kubernetes_validate
import pytest

from tests.chart.helm import (
    KUBE_VERSION,
    NAMESPACE,
    VALUES,
    Obj,
    autoscaler_config,
    deployment_container,
    env_of,
    render,
    workers,
)

MATRIX = sorted(p.name for p in VALUES.glob("*.yaml"))
# Prometheus Operator CRDs: kubernetes-validate carries only built-in kinds, so these two are
# checked by structure here and their rules by promtool (test_alerts.py).
CRD_KINDS = {"ServiceMonitor", "PrometheusRule"}
STANDARD_LABELS = (
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/component",
    "app.kubernetes.io/version",
    "app.kubernetes.io/managed-by",
    "app.kubernetes.io/part-of",
    "helm.sh/chart",
)


def test_the_matrix_covers_the_required_cases() -> None:
    assert {
        "minimal.yaml",
        "multi-queue.yaml",
        "scale-to-zero.yaml",
        "external-redis-tls.yaml",
        "beat-off.yaml",
        "monitoring.yaml",
    } <= set(MATRIX)


@pytest.mark.parametrize("values", MATRIX)
def test_every_object_validates_against_the_kubernetes_schemas(values: str) -> None:
    rendered = render(values)
    assert len(rendered.objects) >= 4
    checked = 0
    for obj in rendered.objects:
        if obj["kind"] in CRD_KINDS:
            assert obj["apiVersion"] == "monitoring.coreos.com/v1"
            continue
        kubernetes_validate.validate(obj, KUBE_VERSION, strict=True)
        checked += 1
    crds = [o for o in rendered.objects if o["kind"] in CRD_KINDS]
    assert checked == len(rendered.objects) - len(crds) >= 4


@pytest.mark.parametrize("values", MATRIX)
def test_every_object_has_the_standard_labels_and_the_release_namespace(values: str) -> None:
    for obj in render(values).objects:
        labels = obj["metadata"]["labels"]
        missing = [k for k in STANDARD_LABELS if k not in labels]
        assert not missing, f"{obj['kind']} {obj['metadata']['name']} lacks {missing}"
        assert labels["app.kubernetes.io/managed-by"] == "Helm"
        assert obj["metadata"]["namespace"] == NAMESPACE


def pods_of(values: str) -> list[tuple[str, Obj]]:
    rendered = render(values)
    workloads = rendered.of_kind("Deployment") + rendered.of_kind("StatefulSet")
    return [(w["metadata"]["name"], w["spec"]["template"]["spec"]) for w in workloads]


@pytest.mark.parametrize("values", MATRIX)
def test_every_pod_runs_restricted(values: str) -> None:
    for name, pod in pods_of(values):
        sc = pod["securityContext"]
        assert sc["runAsNonRoot"] is True, name
        assert sc["seccompProfile"] == {"type": "RuntimeDefault"}, name
        for c in pod["containers"]:
            csc = c["securityContext"]
            assert csc["allowPrivilegeEscalation"] is False, name
            assert csc["readOnlyRootFilesystem"] is True, name
            assert csc["capabilities"] == {"drop": ["ALL"]}, name
            assert csc["runAsNonRoot"] is True, name
            assert {"requests", "limits"} <= set(c["resources"]), name


@pytest.mark.parametrize("values", MATRIX)
def test_only_the_autoscaler_mounts_a_service_account_token(values: str) -> None:
    for name, pod in pods_of(values):
        expected = name.endswith("-autoscaler")
        assert pod["automountServiceAccountToken"] is expected, name
    for sa in render(values).of_kind("ServiceAccount"):
        assert sa["automountServiceAccountToken"] is False


def test_one_worker_deployment_per_queue_with_its_command_env_and_probes() -> None:
    deps = workers("multi-queue.yaml")
    assert sorted(deps) == ["billing_charges", "emails", "reports", "webhooks"]
    emails = deps["emails"]
    assert emails["metadata"]["name"] == "shoal-worker-emails"
    c = deployment_container(emails)
    assert c["args"] == ["worker"]
    assert "command" not in c  # the image's entrypoint is `shoal`
    assert c["image"] == "registry.example.com/mail/worker:2.3.1"
    env = env_of(c)
    assert env["SHOAL_QUEUES"] == "emails"
    assert env["SHOAL_POOL"] == "gevent"
    assert env["SHOAL_CONCURRENCY"] == "300"
    assert env["SHOAL_PREFETCH_MULTIPLIER"] == "4"
    assert env["SHOAL_IMPORTS"] == "mail.tasks,mail.templates"
    assert env["SHOAL_REDIS_URL"] == "redis://redis:6379/0"
    assert env["SHOAL_METRICS_PORT"] == "9808"
    assert env["SHOAL_HEALTH_PORT"] == "9809"
    assert env["SHOAL_DRAIN_TIMEOUT_S"] == "30"
    assert env["SHOAL_WORKER_ID"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert env["PROMETHEUS_MULTIPROC_DIR"] == "/var/run/shoal/prometheus"
    assert env["MAIL_RELAY"] == "smtp.example.com"
    assert "SHOAL_REDIS_PASSWORD_FILE" not in env
    mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
    volumes = {v["name"]: v for v in emails["spec"]["template"]["spec"]["volumes"]}
    assert "emptyDir" in volumes[mounts["/var/run/shoal/prometheus"]]
    assert "emptyDir" in volumes[mounts["/tmp"]]
    for probe, path in (("livenessProbe", "/livez"), ("readinessProbe", "/readyz")):
        assert c[probe]["httpGet"] == {"path": path, "port": "health"}
    assert c["startupProbe"]["httpGet"]["path"] == "/livez"
    assert {p["name"]: p["containerPort"] for p in c["ports"]} == {"metrics": 9808, "health": 9809}
    assert "inspect" not in str(c)  # never `celery inspect ping`
    pod = emails["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"workload": "io"}
    assert pod["tolerations"][0]["key"] == "io-only"
    assert pod["topologySpreadConstraints"][0]["topologyKey"] == "topology.kubernetes.io/zone"
    assert pod["priorityClassName"] == "shoal-high"


def test_pool_defaults_set_concurrency_prefetch_and_resources() -> None:
    deps = workers("multi-queue.yaml")
    reports = env_of(deployment_container(deps["reports"]))
    # prefork: one process per requested CPU, rounded up (1500m -> 2), prefetch 1.
    assert reports["SHOAL_CONCURRENCY"] == "2"
    assert reports["SHOAL_PREFETCH_MULTIPLIER"] == "1"
    assert reports["SHOAL_IMPORTS"] == "analytics.tasks"
    webhooks_c = deployment_container(deps["webhooks"])
    assert env_of(webhooks_c)["SHOAL_CONCURRENCY"] == "200"
    assert env_of(webhooks_c)["SHOAL_PREFETCH_MULTIPLIER"] == "4"
    assert webhooks_c["resources"]["requests"]["cpu"] == "500m"
    minimal = deployment_container(workers("minimal.yaml")["default"])
    assert env_of(minimal)["SHOAL_CONCURRENCY"] == "1"
    assert minimal["resources"]["requests"]["cpu"] == "1"
    assert minimal["image"] == "ghcr.io/shoal/shoal:0.1.0"


def test_grace_period_is_the_drain_time_plus_the_margin() -> None:
    deps = workers("multi-queue.yaml")
    reports = deps["reports"]["spec"]["template"]["spec"]
    assert env_of(deployment_container(deps["reports"]))["SHOAL_DRAIN_TIMEOUT_S"] == "120"
    assert reports["terminationGracePeriodSeconds"] == 135
    assert deps["emails"]["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] == 45


def test_replicas_are_left_to_the_autoscaler_only_for_autoscaled_queues() -> None:
    deps = workers("multi-queue.yaml")
    for name in ("reports", "emails", "webhooks"):
        assert "replicas" not in deps[name]["spec"], name
    assert deps["billing_charges"]["spec"]["replicas"] == 3
    assert deps["billing_charges"]["metadata"]["name"] == "shoal-worker-billing-charges"
    assert workers("beat-off.yaml")["default"]["spec"]["replicas"] == 2


def test_beat_runs_two_replicas_with_its_schedules_from_a_configmap() -> None:
    rendered = render("beat-schedules.yaml")
    dep = rendered.get("Deployment", "shoal-beat")
    assert dep["spec"]["replicas"] == 3
    assert render("minimal.yaml").get("Deployment", "shoal-beat")["spec"]["replicas"] == 2
    c = deployment_container(dep)
    assert c["args"] == [
        "beat",
        "--schedules",
        "/etc/shoal/schedules.yaml",
        "--metrics-port",
        "9812",
    ]
    assert c["livenessProbe"]["httpGet"] == {"path": "/metrics", "port": "metrics"}
    assert c["readinessProbe"]["tcpSocket"] == {"port": "metrics"}
    assert env_of(c)["SHOAL_REDIS_URL"] == "redis://redis:6379/0"
    assert "SHOAL_REDIS_PASSWORD" not in env_of(c)
    schedules = rendered.config_map_yaml("shoal-beat", "schedules.yaml")
    assert [s["name"] for s in schedules["schedules"]] == ["daily-report-email", "heartbeat"]
    assert schedules["schedules"][0]["cron"] == "0 15 * * *"
    annotations = dep["spec"]["template"]["metadata"]["annotations"]
    minimal = render("minimal.yaml").get("Deployment", "shoal-beat")
    assert (
        annotations["checksum/schedules"]
        != (minimal["spec"]["template"]["metadata"]["annotations"]["checksum/schedules"])
    )
    pdb = rendered.get("PodDisruptionBudget", "shoal-beat")
    assert pdb["spec"]["minAvailable"] == 1


def test_a_django_teams_beat_runs_its_app_in_its_image_with_the_database_url_as_a_file() -> None:
    dep = render("beat-django.yaml").get("Deployment", "shoal-beat")
    c = deployment_container(dep)
    assert c["image"] == "registry.example.com/orders/app:2.1.0"
    env = env_of(c)
    assert env["SHOAL_APP"] == "proj"
    assert env["DATABASE_URL_FILE"] == "/var/run/secrets/database/url"
    assert "DATABASE_URL" not in env  # the URL holds a password: a file, never the environment
    mounts = {m["name"]: m for m in c["volumeMounts"]}
    assert mounts["database-url"] == {
        "name": "database-url", "mountPath": "/var/run/secrets/database", "readOnly": True,
    }  # fmt: skip
    volumes = {v["name"]: v for v in dep["spec"]["template"]["spec"]["volumes"]}
    assert volumes["database-url"]["secret"] == {
        "secretName": "orders-db", "items": [{"key": "database-url", "path": "url"}],
    }  # fmt: skip
    plain = deployment_container(render("minimal.yaml").get("Deployment", "shoal-beat"))
    assert "SHOAL_APP" not in env_of(plain) and plain["image"].startswith("ghcr.io/shoal/shoal:")


def test_beat_off_and_autoscaler_off_render_no_such_objects() -> None:
    rendered = render("beat-off.yaml")
    names = rendered.names("Deployment")
    assert names == ["shoal-worker-default"]
    assert rendered.names("Role") == []
    assert rendered.names("ConfigMap") == []


def test_external_redis_with_tls_and_an_existing_secret() -> None:
    rendered = render("external-redis-tls.yaml")
    url = (
        "rediss://redis.prod.example.com:6380/2"
        "?ssl_cert_reqs=required&ssl_ca_certs=/var/run/secrets/redis-tls/ca.pem"
    )
    # Every shoal process (workers and beat alike) reads the password and the Sentry DSN from
    # mounted files: no secret is in any shoal container's environment (the beat used to take
    # both through env, against values.yaml's "mounted as a file, never in env").
    for name in ("shoal-worker-default", "shoal-beat"):
        dep = rendered.get("Deployment", name)
        c = deployment_container(dep)
        env = env_of(c)
        assert env["SHOAL_REDIS_URL"] == url, name
        assert env["SHOAL_REDIS_PASSWORD_FILE"] == "/var/run/secrets/redis/password", name
        assert env["SHOAL_SENTRY_DSN_FILE"] == "/var/run/secrets/sentry/dsn", name
        assert "SHOAL_REDIS_PASSWORD" not in env and "SHOAL_SENTRY_DSN" not in env, name
        volumes = {v["name"]: v for v in dep["spec"]["template"]["spec"]["volumes"]}
        assert volumes["redis-password"]["secret"] == {
            "secretName": "shoal-redis",
            "items": [{"key": "redis-password", "path": "password"}],
        }
        assert volumes["sentry-dsn"]["secret"]["secretName"] == "shoal-sentry", name
        assert volumes["redis-tls"]["secret"]["secretName"] == "shoal-redis-ca"
        mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
        assert mounts["redis-password"] == "/var/run/secrets/redis"
        assert mounts["sentry-dsn"] == "/var/run/secrets/sentry"
        assert mounts["redis-tls"] == "/var/run/secrets/redis-tls"
    for dep in rendered.of_kind("Deployment"):
        if dep["metadata"]["name"].startswith("shoal-") and "flower" not in dep["metadata"]["name"]:
            for c in dep["spec"]["template"]["spec"]["containers"]:
                refs = [e["name"] for e in c.get("env", []) if "secretKeyRef" in str(e)]
                assert refs == [], (dep["metadata"]["name"], refs)
    cfg = autoscaler_config("external-redis-tls.yaml")
    assert cfg["redis"] == {"url": url, "passwordFile": "/var/run/secrets/redis/password"}
    scaler = deployment_container(rendered.get("Deployment", "shoal-autoscaler"))
    assert {m["name"] for m in scaler["volumeMounts"]} >= {"redis-password", "redis-tls"}
    assert not rendered.of_kind("StatefulSet")


def test_in_chart_redis_has_persistence_and_workers_point_at_it() -> None:
    rendered = render("internal-redis.yaml")
    sts = rendered.get("StatefulSet", "shoal-redis")
    claim = sts["spec"]["volumeClaimTemplates"][0]
    assert claim["spec"]["resources"]["requests"]["storage"] == "2Gi"
    assert "--appendonly" in deployment_container(sts)["args"]
    worker = env_of(deployment_container(rendered.get("Deployment", "shoal-worker-default")))
    assert worker["SHOAL_REDIS_URL"] == "redis://shoal-redis:6379/0"
    flower = deployment_container(rendered.get("Deployment", "shoal-flower"))
    env = env_of(flower)
    assert env["FLOWER_BASIC_AUTH"] == {"secretKeyRef": {"name": "shoal-flower", "key": "auth"}}
    assert env["SHOAL_BROKER_URL"] == "redis://:$(SHOAL_REDIS_PASSWORD)@shoal-redis:6379/0"


def test_minimal_install_has_no_optional_objects() -> None:
    rendered = render("minimal.yaml")
    kinds = {o["kind"] for o in rendered.objects}
    assert kinds == {
        "ConfigMap",
        "Deployment",
        "PodDisruptionBudget",
        "Role",
        "RoleBinding",
        "Service",
        "ServiceAccount",
    }
    assert rendered.names("Deployment") == [
        "shoal-autoscaler",
        "shoal-beat",
        "shoal-worker-default",
    ]


def test_monitoring_objects_and_metrics_services() -> None:
    rendered = render("monitoring.yaml")
    sm = rendered.get("ServiceMonitor", "shoal")
    assert sm["spec"]["endpoints"][0]["port"] == "metrics"
    assert sm["metadata"]["labels"]["release"] == "prometheus"
    selector = sm["spec"]["selector"]["matchLabels"]
    services = [
        s
        for s in rendered.of_kind("Service")
        if all(s["metadata"]["labels"].get(k) == v for k, v in selector.items())
    ]
    assert sorted(s["metadata"]["name"] for s in services) == [
        "shoal-autoscaler",
        "shoal-beat",
        "shoal-worker",
    ]
    for s in services:
        assert s["spec"]["ports"][0]["name"] == "metrics"
    dashboard = rendered.get("ConfigMap", "shoal-dashboard")
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert "shoal_autoscaler_backlog" in dashboard["data"]["shoal.json"]
    policy = rendered.get("NetworkPolicy", "shoal")
    assert policy["spec"]["ingress"][0]["ports"] == [{"port": "metrics", "protocol": "TCP"}]


def test_prometheus_rule_has_one_latency_alert_per_queue_with_its_target() -> None:
    rule = render("monitoring.yaml").get("PrometheusRule", "shoal")
    alerts = [r for g in rule["spec"]["groups"] for r in g["rules"]]
    latency = {
        r["labels"]["queue"]: (r["alert"], r["expr"])
        for r in alerts
        if r["alert"] in ("ShoalQueueLatencyHigh", "ShoalQueueWaitHigh")
    }
    assert latency == {
        "emails": (
            "ShoalQueueLatencyHigh",
            'max(shoal_autoscaler_oldest_age_seconds{job="shoal-autoscaler", '
            'namespace="shoal", queue="emails"}) > 30',
        ),
        "reports": (  # not autoscaled: the autoscaler does not observe it, the workers do
            "ShoalQueueWaitHigh",
            "histogram_quantile(0.95, sum by (le) (rate(shoal_task_queue_wait_seconds_bucket"
            '{job="shoal-worker", namespace="shoal", queue="reports"}[10m]))) > 300',
        ),
    }
    at_max = [r for r in alerts if r["alert"] == "ShoalQueueAtMaxReplicas"]
    assert [(r["labels"]["queue"], r["for"]) for r in at_max] == [("emails", "15m")]
    assert at_max[0]["expr"].endswith(">= 20")
    assert {r["alert"] for r in alerts} == {
        "ShoalQueueLatencyHigh",
        "ShoalQueueAtMaxReplicas",
        "ShoalQueueWaitHigh",
        "ShoalDeadLetterGrowing",
        "ShoalTaskFailureRatioHigh",
        "ShoalAutoscalerDown",
        "ShoalBeatDown",
        "ShoalBeatNoLeader",
    }


@pytest.mark.parametrize("values", MATRIX)
def test_worker_pdbs_and_concurrency_in_range(values: str) -> None:
    rendered = render(values)
    for name, dep in workers(values).items():
        pdb = rendered.get("PodDisruptionBudget", dep["metadata"]["name"])
        assert pdb["spec"]["maxUnavailable"] == 1, name
        assert pdb["spec"]["selector"]["matchLabels"] == dep["spec"]["selector"]["matchLabels"]
        concurrency = int(env_of(deployment_container(dep))["SHOAL_CONCURRENCY"])
        assert 1 <= concurrency <= 10_000, name
        cpu = deployment_container(dep)["resources"]["requests"]["cpu"]
        if (
            env_of(deployment_container(dep))["SHOAL_POOL"] == "prefork"
            and name != "billing_charges"
        ):
            millis = int(cpu[:-1]) if cpu.endswith("m") else int(float(cpu) * 1000)
            assert concurrency == max(1, math.ceil(millis / 1000)), name
