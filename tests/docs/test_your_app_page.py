"""docs/your-app.md shows the example project's own files and the worker's own lines: the
Dockerfile and the values are the example's, each start-up error is what a worker prints."""

from __future__ import annotations

from tests.docs.collect import blocks
from tests.integration.teamapp.test_bad_input import CASES
from tests.support.tools import ROOT

PAGE = ROOT / "docs" / "your-app.md"
EXAMPLE = ROOT / "examples" / "django_project"


def block(lang: str, containing: str) -> str:
    (found,) = [b.text for b in blocks(PAGE) if b.lang == lang and containing in b.text]
    return found


def test_the_dockerfile_and_the_values_are_the_example_projects() -> None:
    assert block("dockerfile", "FROM ") == (EXAMPLE / "Dockerfile").read_text()
    assert block("yaml", "queues:") == (EXAMPLE / "shoal-values.yaml").read_text()


def test_every_start_up_error_shown_is_a_line_a_worker_prints() -> None:
    shown = block("text", "cannot import it").splitlines()
    printed = {line for _, _, line in CASES}
    worker_lines = [line for line in shown if line.startswith("shoal worker:")]
    assert len(worker_lines) == 5 and [line for line in worker_lines if line not in printed] == []
    assert shown[-1].startswith("shoal: /app/workers is named like shoal's own package")


def test_publishing_links_to_the_page() -> None:
    assert "(your-app.md)" in (ROOT / "docs" / "publishing.md").read_text()


def test_every_setting_the_platform_decides_is_named_on_the_page() -> None:
    from workers.guarantees import FROM_ENVIRONMENT, GUARANTEES, TRANSPORT_WHY

    text = PAGE.read_text()
    named = [*GUARANTEES, *TRANSPORT_WHY, *FROM_ENVIRONMENT, "worker_pool", "broker_read_url"]
    assert [key for key in named if f"`{key}`" not in text] == []
