"""Every command and Python snippet in the docs runs here, or is listed with the reason it
cannot; so a doc command that stops working, or a new one nobody runs, fails the tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.docs import collect
from tests.docs.registry import PREFIX_RUNNERS, RUNNERS, runner_for
from tests.docs.sandbox import Sandbox
from tests.docs.snippet_runs import PRELUDES, SNIPPET_RUNNERS
from tests.support.procs import ProcessTracker
from tests.support.redis_server import RedisServer

CLUSTER = "needs a Kubernetes cluster (tests/e2e runs the chart on one: make e2e)"
E2E = "builds and starts a Kubernetes control plane from source; many minutes (make e2e)"
BENCH = "a benchmark: minutes of timed runs, figures in docs/benchmarks.md (make bench)"
NOT_RUN_HERE: dict[str, str] = {
    "make demo": "runs until Ctrl-C with a live view (tests/integration/demo runs `shoal demo`)",
    "make test": "the whole test suite, this test included; many minutes",
    "pytest -s tests/integration/simulate/test_fidelity.py": (
        "a test of the suite itself (make test runs it); real workers for about 80 s"
    ),
    "make lint": "ruff, mypy and import-linter over the whole tree; CI runs it as its own step",
    "make lock": (
        "moves every dependency to its newest release over the network and runs the suite; "
        "tests/unit/test_lock.py checks the lock it writes"
    ),
    "make e2e": E2E,
    "time make e2e": E2E,
    "time scripts/e2e-tools.sh": E2E,
    "go build": E2E,
    "go install": E2E,
    "go install pkg@version": E2E,
    "go mod tidy": E2E,
    "pytest -m e2e tests/e2e/test_X.py": E2E,
    "make bench": BENCH,
    "python -m bench.run_all": BENCH,
    "python -m bench.worker_throughput": BENCH,
    "python -m bench.worker_throughput --variants shoal,plain --rounds 5": BENCH,
    "python -m bench.worker_throughput --rounds 5": BENCH,
    "python -m bench.autoscaler_bench --only census --repeats 20": BENCH,
    "python -m bench.delivery_soak": BENCH,
    "python -m bench.gevent_io": BENCH,
    "python -m bench.app_throughput": BENCH,
    "python -m bench.autoscaler_bench": BENCH,
    "python -m bench.simulate_bench": BENCH,
    "python -m bench.beat_bench": BENCH,
    "python -m bench.beat_bench --skip-anchor": BENCH,
    "python -m tests.chart.render_k8s": (
        "rewrites k8s/base in the shared working tree; tests/chart/test_k8s.py runs its --check"
    ),
    "shoal beat --schedules /etc/shoal/schedules.yaml": (
        "the path the chart mounts in a beat pod; the same command on docs/beat.md's file runs"
    ),
    "helm template shoal charts/shoal -n NS -f values.yaml": (
        "a synopsis (NS, the reader's values.yaml); the docs' own values files render in "
        "test_cluster_inputs.py"
    ),
    "docker build -t ghcr.io/shoal/shoal:0.1.0 .": "needs a Docker engine (none here)",
    "docker build -t registry.example.com/orders/worker:1.4.2 .": (
        "needs a Docker engine (none here); tests/chart/test_team_app.py lints that Dockerfile"
    ),
    "helm upgrade shoal charts/shoal -n shoal --reuse-values -f shoal-values.yaml": (
        f"{CLUSTER}; tests/chart/test_team_app.py renders and validates shoal-values.yaml"
    ),
    "kubectl create namespace shoal": CLUSTER,
    "kubectl -n shoal create secret generic shoal-redis --from-literal=password='s3cret'": CLUSTER,
    "kubectl -n shoal create secret generic shoal-redis --from-literal=password='...'": CLUSTER,
    "helm install shoal charts/shoal -n shoal -f values-prod.yaml": CLUSTER,
    "helm install shoal charts/shoal -n shoal -f my-values.yaml": CLUSTER,
    "kubectl -n shoal get deploy -l app.kubernetes.io/instance=shoal -w": CLUSTER,
    "kubectl -n shoal exec deploy/shoal-autoscaler -- shoal status": CLUSTER,
    "kubectl -n shoal get events --field-selector involvedObject.kind=Deployment": CLUSTER,
    "kubectl -n shoal logs deploy/shoal-autoscaler -f": CLUSTER,
    "kubectl -n shoal exec deploy/shoal-worker-celery -- shoal dlq list": CLUSTER,
    "kubectl kustomize k8s/overlays/example | kubectl apply -f -": CLUSTER,
    "helm install shoal charts/shoal -f values.yaml": CLUSTER,
    "helm install": CLUSTER,
    "helm upgrade": CLUSTER,
    "helm rollback": CLUSTER,
    "kubectl auth can-i": CLUSTER,
    "kubectl create token": CLUSTER,
    "kubectl get deploy,rs,pods,lease -o wide": CLUSTER,
}
"""Command -> why it cannot run on this machine. Every other doc command is run below."""


def unique(commands: list[collect.Command]) -> list[collect.Command]:
    """One per text, the first found (fenced blocks first: they carry the output shown)."""
    first: dict[str, collect.Command] = {}
    for command in commands:
        first.setdefault(command.text, command)
    return sorted(first.values(), key=lambda c: c.text)


COMMANDS = unique(collect.commands() + collect.all_inline_commands())
RUN = [c for c in COMMANDS if c.text not in NOT_RUN_HERE]
SNIPPETS = collect.snippets()


@pytest.fixture
def sandbox(
    tmp_path: Path, redis_server: RedisServer, redis_client: redis.Redis, procs: ProcessTracker
) -> Iterator[Sandbox]:
    work = tmp_path / "work"
    work.mkdir()
    yield Sandbox.create(work, redis_url=redis_server.url, client=redis_client, procs=procs)


@pytest.mark.timeout(150)
@pytest.mark.parametrize("command", RUN, ids=[c.text[:60] for c in RUN])
def test_doc_command_runs(command: collect.Command, sandbox: Sandbox) -> None:
    runner = runner_for(command)
    assert runner, (
        f"{command.doc}:{command.line}: nothing runs {command.text!r}: add a runner in "
        "tests/docs/registry.py, or list it in NOT_RUN_HERE with the reason it cannot run here"
    )
    runner(command, sandbox)


@pytest.mark.timeout(150)
@pytest.mark.parametrize("snippet", SNIPPETS, ids=[s.key for s in SNIPPETS])
def test_doc_snippet_runs(snippet: collect.Snippet, sandbox: Sandbox) -> None:
    runner = SNIPPET_RUNNERS.get(snippet.key)
    assert runner, f"{snippet.doc}:{snippet.line}: add a runner in tests/docs/snippet_runs.py"
    runner(snippet, sandbox)


def test_the_docs_have_commands_to_run_and_to_list() -> None:
    assert len(COMMANDS) == len(RUN) + len(NOT_RUN_HERE)
    assert len(RUN) >= 40
    assert sum(c.inline for c in RUN) >= 20
    assert {c.doc for c in RUN} >= {"docs/beat.md", "docs/publishing.md", "docs/simulate.md"}
    assert len(SNIPPETS) >= 2


def test_not_run_here_has_no_stale_entry_and_every_reason_is_given() -> None:
    texts = {c.text for c in COMMANDS}
    assert sorted(set(NOT_RUN_HERE) - texts) == []
    assert all(len(reason) > 10 for reason in NOT_RUN_HERE.values())


def test_every_runner_runs_a_doc_command_and_none_is_also_listed_as_not_run() -> None:
    texts = {c.text for c in COMMANDS}
    assert sorted(set(RUNNERS) - texts) == []
    assert [p for p in PREFIX_RUNNERS if not any(t.startswith(p) for t in texts)] == []
    assert sorted(c.text for c in COMMANDS if c.text in NOT_RUN_HERE and runner_for(c)) == []
    keys = {s.key for s in SNIPPETS}
    assert sorted(set(SNIPPET_RUNNERS) - keys) == []
    assert sorted(set(PRELUDES) - keys) == []


def test_every_fence_in_the_docs_names_its_language() -> None:
    bare = [f"{b.doc}:{b.line}" for b in collect.all_blocks() if not b.lang]
    assert bare == []
