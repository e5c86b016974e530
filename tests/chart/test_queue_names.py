"""Queue names: the schema holds the contract's rule, and every name it lets through becomes a
valid Deployment name and valid label values, rendered by the real helm."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from contract import queues
from tests.chart.helm import CHART, KUBE_VERSION, NAMESPACE, Obj, helm_cmd, parse, run_template

# Kubernetes' own rules (k8s.io/apimachinery/pkg/util/validation): a DNS-1123 label and a label
# value, both at most 63 characters. kubernetes-validate checks types, not these formats.
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")

TRICKY = [
    "A.b_c",
    "x--y",
    "Q",
    "9",
    "123",  # a YAML integer unless quoted
    "null",  # YAML null
    "on",  # a YAML 1.1 boolean
    "1e3",
    "0x1F",
    "a.-_.b",
    "Mixed.Case_Name-1",
    "a" * 63,
    "b" * 48 + "._" + "c" * 13,  # the Deployment name is cut just after "--"
]
REFUSED = ["a" * 64, "a:b", "x--", "-x", "_x", "x.", "a b", "", "émails"]


def schema() -> Any:
    return json.loads((CHART / "values.schema.json").read_text())


def test_the_schemas_queue_name_rule_is_the_contracts() -> None:
    queue_name = schema()["properties"]["queues"]["items"]["properties"]["name"]
    assert queue_name["pattern"] == queues.PATTERN
    for name in [*TRICKY, *REFUSED]:
        assert queues.is_queue_name(name) == (name in TRICKY), name


def values_file(tmp_path: Path, names: list[str], **extra: Any) -> Path:
    path = tmp_path / "values.yaml"
    data = {
        "queueDefaults": {"autoscaling": {"targetBacklogPerReplica": 5}},
        "queues": [{"name": n, "pool": "gevent"} for n in names],
        **extra,
    }
    path.write_text(json.dumps(data))  # JSON is YAML with every string quoted
    return path


@pytest.mark.parametrize("name", REFUSED, ids=[repr(n)[:20] for n in REFUSED])
def test_a_name_outside_the_rule_fails_template_and_lint_naming_the_field(
    name: str, tmp_path: Path
) -> None:
    path = values_file(tmp_path, ["fine", name])
    result = run_template([str(path)])
    assert result.returncode != 0 and result.stdout == ""
    assert "at '/queues/1/name'" in result.stderr, result.stderr
    lint = subprocess.run(
        [*helm_cmd("lint", "--strict", str(CHART), "--values", str(path))],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert lint.returncode != 0
    assert "at '/queues/1/name'" in lint.stdout + lint.stderr


def worker_objects(objects: tuple[Obj, ...]) -> list[Obj]:
    return [
        o
        for o in objects
        if o["kind"] in ("Deployment", "PodDisruptionBudget")
        and o["metadata"]["labels"].get("app.kubernetes.io/component") == "worker"
    ]


def label_sets(obj: Obj) -> list[dict[str, Any]]:
    spec = obj["spec"]
    sets = [obj["metadata"]["labels"], spec["selector"]["matchLabels"]]
    if obj["kind"] == "Deployment":
        pod = spec["template"]
        sets.append(pod["metadata"]["labels"])
        for term in pod["spec"]["affinity"]["podAntiAffinity"][
            "preferredDuringSchedulingIgnoredDuringExecution"
        ]:
            sets.append(term["podAffinityTerm"]["labelSelector"]["matchLabels"])
    return sets


@pytest.mark.parametrize(
    "release", ["shoal", "r" * 39 + "-x", "123"], ids=["shoal", "cut-release", "numeric"]
)
def test_every_name_the_rule_allows_gives_valid_names_and_labels(
    release: str, tmp_path: Path
) -> None:
    result = run_template([str(values_file(tmp_path, TRICKY))], release=release)
    assert result.returncode == 0, result.stderr
    rendered = parse(result.stdout)
    for obj in rendered.objects:
        if obj["kind"] not in ("ServiceMonitor", "PrometheusRule"):
            kubernetes_validate.validate(obj, KUBE_VERSION, strict=True)
    objects = worker_objects(rendered.objects)
    names = [o["metadata"]["name"] for o in objects if o["kind"] == "Deployment"]
    assert len(names) == len(set(names)) == len(TRICKY)
    for obj in objects:
        name = obj["metadata"]["name"]
        assert len(name) <= 63 and DNS_LABEL.match(name), name
        for labels in label_sets(obj):
            for key, value in labels.items():
                assert isinstance(value, str), (name, key, value)
                assert len(value) <= 63 and LABEL_VALUE.match(value), (name, key, value)
    queue_names = {
        o["metadata"]["annotations"]["shoal.io/queue-name"]
        for o in objects
        if o["kind"] == "Deployment"
    }
    assert queue_names == set(TRICKY)


def test_a_name_cut_after_a_dash_loses_every_trailing_dash(tmp_path: Path) -> None:
    result = run_template([str(values_file(tmp_path, ["b" * 48 + "._" + "c" * 13]))])
    assert result.returncode == 0, result.stderr
    (deployment,) = [
        o for o in worker_objects(parse(result.stdout).objects) if o["kind"] == "Deployment"
    ]
    assert deployment["metadata"]["name"] == "shoal-worker-" + "b" * 48


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("Emails", "emails"),  # lower-cased
        ("a.b", "a-b"),  # slugged
        ("q" * 50 + "x" * 13, "q" * 50 + "y" * 13),  # cut to 63 characters
    ],
    ids=["case", "slug", "cut"],
)
def test_two_names_that_give_one_deployment_fail_naming_both(
    first: str, second: str, tmp_path: Path
) -> None:
    result = run_template([str(values_file(tmp_path, [first, second]))])
    assert result.returncode != 0 and result.stdout == ""
    assert f"queues[1] ({second}): name: another queue ({first}) gives the same Deployment" in (
        result.stderr
    ), result.stderr


def test_a_long_release_name_still_gives_valid_names(tmp_path: Path) -> None:
    # The longest release helm accepts (53 characters), with the chart's name inside it.
    release = "shoal-" + "z" * 47
    result = run_template(
        [str(values_file(tmp_path, ["a" * 63]))], release=release, namespace=NAMESPACE
    )
    assert result.returncode == 0, result.stderr
    for obj in parse(result.stdout).objects:
        name = obj["metadata"]["name"]
        assert len(name) <= 63 and DNS_LABEL.match(name), name
