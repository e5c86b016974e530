"""A team's app that set up Sentry itself keeps its own; the platform's DSN is then unused."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sentry_sdk

from workers import sentry_setup
from workers.settings import WorkerSettings

PLATFORM_DSN = "https://platform0123@o1.ingest.sentry.io/1"
TEAM_DSN = "https://team4567@o2.ingest.sentry.io/2"


@pytest.fixture
def no_sentry() -> Iterator[None]:
    sentry_sdk.init()  # a client without a DSN: sends nothing
    try:
        yield
    finally:
        sentry_sdk.init()


def test_the_apps_own_sentry_is_kept_with_a_line(
    no_sentry: None, caplog: pytest.LogCaptureFixture
) -> None:
    sentry_sdk.init(dsn=TEAM_DSN, default_integrations=False)
    assert sentry_setup.init(WorkerSettings(sentry_dsn=PLATFORM_DSN)) is False
    assert str(sentry_sdk.get_client().dsn) == TEAM_DSN
    assert "the app set up Sentry itself and keeps it; SHOAL_SENTRY_DSN unused" in caplog.text


def test_without_the_apps_own_the_platforms_dsn_is_used(no_sentry: None) -> None:
    assert sentry_setup.init(WorkerSettings(sentry_dsn=PLATFORM_DSN)) is True
    assert str(sentry_sdk.get_client().dsn) == PLATFORM_DSN
