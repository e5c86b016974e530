"""Run the real `helm template` over charts/shoal and hand back the rendered objects."""

from __future__ import annotations

import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from tests.support.tools import ROOT, require_tool

CHART = ROOT / "charts" / "shoal"
VALUES = Path(__file__).resolve().parent / "values"
RELEASE = "shoal"
NAMESPACE = "shoal"
# The Kubernetes release the rendered objects are validated against (kubernetes-validate carries
# its schemas); it matches the client libraries of the pinned helm (k8s.io/* v0.34).
KUBE_VERSION = "1.34.0"

Obj = dict[str, Any]


@dataclass(frozen=True)
class Rendered:
    objects: tuple[Obj, ...]

    def of_kind(self, kind: str) -> list[Obj]:
        return [o for o in self.objects if o["kind"] == kind]

    def get(self, kind: str, name: str) -> Obj:
        found = [o for o in self.of_kind(kind) if o["metadata"]["name"] == name]
        assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
        return found[0]

    def names(self, kind: str) -> list[str]:
        return sorted(o["metadata"]["name"] for o in self.of_kind(kind))

    def config_map_yaml(self, name: str, key: str) -> Any:
        return yaml.safe_load(self.get("ConfigMap", name)["data"][key])


def helm_cmd(*args: str) -> list[str]:
    return [require_tool("helm"), *args]


def run_template(
    values: Sequence[str] = (),
    *,
    sets: Iterable[str] = (),
    namespace: str = NAMESPACE,
    release: str = RELEASE,
) -> subprocess.CompletedProcess[str]:
    """`helm template` with values files (names in tests/chart/values/ or paths)."""
    cmd = helm_cmd("template", release, str(CHART), "--namespace", namespace)
    for v in values:
        path = Path(v) if Path(v).is_absolute() else VALUES / v
        cmd += ["--values", str(path)]
    for s in sets:
        cmd += ["--set", s]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)


def parse(stream: str) -> Rendered:
    docs = [d for d in yaml.safe_load_all(stream) if d]
    return Rendered(tuple(docs))


@lru_cache(maxsize=64)
def _render_cached(values: tuple[str, ...], sets: tuple[str, ...]) -> Rendered:
    result = run_template(values, sets=sets)
    assert result.returncode == 0, f"helm template failed:\n{result.stderr}"
    return parse(result.stdout)


def render(*values: str, sets: Iterable[str] = ()) -> Rendered:
    return _render_cached(tuple(values), tuple(sets))


def deployment_container(obj: Obj) -> Obj:
    containers = obj["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return dict(containers[0])


def env_of(container: Obj) -> dict[str, Any]:
    """Env as name -> value (or the valueFrom mapping)."""
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def workers(values: str) -> dict[str, Obj]:
    return {
        d["metadata"]["annotations"]["shoal.io/queue-name"]: d
        for d in render(values).of_kind("Deployment")
        if d["metadata"]["labels"]["app.kubernetes.io/component"] == "worker"
    }


def autoscaler_config(values: str) -> Obj:
    cfg = render(values).config_map_yaml("shoal-autoscaler", "autoscaler.yaml")
    assert isinstance(cfg, dict)
    return cfg
