"""The chart's rendered controller config loads, and matches the values file's policies."""

from __future__ import annotations

import pytest
import yaml

from contract.chartvalues import resolve_queues
from scheduler.autoscaler.config import parse_config, queue_policies_from_values

pytestmark = pytest.mark.integration


def test_the_chart_rendered_config_loads() -> None:
    """The chart's ConfigMap, rendered by the real helm, is a valid controller config."""
    import subprocess

    from tests.support.tools import ROOT, require_tool

    helm = require_tool("helm")
    rendered = subprocess.run(
        [helm, "template", "rel", str(ROOT / "charts" / "shoal")],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    docs = [d for d in yaml.safe_load_all(rendered) if d]
    (config_map,) = [
        d
        for d in docs
        if d.get("kind") == "ConfigMap" and "autoscaler.yaml" in (d.get("data") or {})
    ]
    config = parse_config(yaml.safe_load(config_map["data"]["autoscaler.yaml"]))
    values = yaml.safe_load((ROOT / "charts" / "shoal" / "values.yaml").read_text())
    from_values = queue_policies_from_values({"queues": resolve_queues(values, release="rel")})
    assert config.queues == from_values
