from __future__ import annotations

import pytest

TASKS = "tests.integration.semantics.tasks_for_tests"


@pytest.fixture
def semantics_env(worker_env: dict[str, str]) -> dict[str, str]:
    """The worker environment plus the test tasks."""
    return {**worker_env, "SHOAL_IMPORTS": TASKS}
