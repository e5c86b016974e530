"""A team's own app on the chart: per queue ``app`` (SHOAL_APP), the team's image and its
environment; the example Django project's values render, validate and cover its queues."""

from __future__ import annotations

import runpy
import subprocess

import kubernetes_validate
import yaml

from tests.chart.helm import CHART, KUBE_VERSION, deployment_container, render, run_template
from tests.chart.test_lint import hadolint_path
from tests.support.tools import ROOT

EXAMPLE = ROOT / "examples" / "django_project"
VALUES = str(EXAMPLE / "shoal-values.yaml")


def env_of(container: dict[str, object]) -> dict[str, object]:
    return {
        e["name"]: e.get("value", e.get("valueFrom"))  # type: ignore[index]
        for e in container["env"]  # type: ignore[attr-defined]
    }


def test_the_example_values_run_the_projects_app_from_its_image_on_every_queue() -> None:
    rendered = render(VALUES)
    for obj in rendered.objects:
        kubernetes_validate.validate(obj, KUBE_VERSION, strict=True)
    names = [n for n in rendered.names("Deployment") if n.startswith("shoal-worker-")]
    assert names == ["shoal-worker-celery", "shoal-worker-emails"]
    for name in names:
        container = deployment_container(rendered.get("Deployment", name))
        env = env_of(container)
        assert env["SHOAL_APP"] == "proj"
        assert env["DJANGO_SETTINGS_MODULE"] == "proj.settings"
        assert env["DATABASE_URL"] == {"secretKeyRef": {"name": "orders-database", "key": "url"}}
        assert env["SHOAL_QUEUES"] == name.removeprefix("shoal-worker-")
        assert container["image"] == "registry.example.com/orders/worker:1.4.2"
        assert container["args"] == ["worker"]


def test_the_example_values_have_a_worker_for_every_queue_the_project_uses() -> None:
    settings = runpy.run_path(str(EXAMPLE / "proj" / "settings.py"))
    routed = {route["queue"] for route in settings["CELERY_TASK_ROUTES"].values()}
    default = settings.get("CELERY_TASK_DEFAULT_QUEUE", "celery")
    values = yaml.safe_load((EXAMPLE / "shoal-values.yaml").read_text())
    assert {q["name"] for q in values["queues"]} == routed | {default}


def test_without_app_no_shoal_app_variable_and_a_bad_app_is_named() -> None:
    worker = deployment_container(render().get("Deployment", "shoal-worker-celery"))
    assert "SHOAL_APP" not in env_of(worker)
    result = run_template(sets=["queues[0].name=a", "queues[0].app=proj x"])
    assert result.returncode != 0
    assert "at '/queues/0/app'" in result.stderr, result.stderr


def test_the_projects_dockerfile_builds_from_the_charts_image_and_lints_clean() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    image = yaml.safe_load((CHART / "values.yaml").read_text())["image"]["repository"]
    dockerfile = (EXAMPLE / "Dockerfile").read_text()
    assert f"FROM {image}:{chart['appVersion']}\n" in dockerfile
    assert dockerfile.rstrip().endswith("USER 10001:10001")  # the platform's non-root user
    result = subprocess.run(
        [hadolint_path(), "--failure-threshold", "style", str(EXAMPLE / "Dockerfile")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (result.returncode, result.stdout) == (0, ""), result.stdout + result.stderr
