"""Metric helpers that need no running worker."""

from __future__ import annotations

from pathlib import Path

import pytest

from workers.metrics import prepare_dir, queue_wait_s


@pytest.mark.parametrize(
    ("published_at", "now", "wait_s"),
    [
        (100.0, 103.5, 3.5),
        ("100.25", 101.0, 0.75),
        (105.0, 100.0, 0.0),
        (None, 100.0, None),
        ("yesterday", 100.0, None),
        (True, 100.0, None),
        (-5, 100.0, None),
        (float("nan"), 100.0, None),
        ([1], 100.0, None),
    ],
)
def test_queue_wait_from_published_at(
    published_at: object, now: float, wait_s: float | None
) -> None:
    assert queue_wait_s(published_at, now) == wait_s


def test_prepare_dir_cleans_old_files(tmp_path: Path) -> None:
    target = tmp_path / "prom"
    target.mkdir()
    (target / "counter_123.db").write_bytes(b"old")
    (target / "keep.txt").write_text("not ours")
    assert prepare_dir({"PROMETHEUS_MULTIPROC_DIR": str(target)}, prefork=True, pid=1) == target
    assert sorted(p.name for p in target.iterdir()) == ["keep.txt"]


def test_prepare_dir_modes(tmp_path: Path) -> None:
    assert prepare_dir({}, prefork=False, pid=1) is None, "gevent without the variable: in-process"
    made = prepare_dir({}, prefork=True, pid=987654)
    assert made is not None and made.name == "shoal-prometheus-987654" and made.is_dir()
    made.rmdir()
