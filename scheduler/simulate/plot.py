"""One PNG of a run: backlog, replicas and the oldest task's wait over time, per queue."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt

from scheduler.simulate.engine import RunResult
from scheduler.simulate.report import oldest_age_steps

MAX_POINTS = 2000
MAX_QUEUES = 8
STYLES = ("-", "--", ":", "-.")


def _downsample(values: npt.NDArray[np.float64], stride: int) -> npt.NDArray[np.float64]:
    """The maximum of each group of ``stride`` steps, so peaks survive."""
    if stride <= 1:
        return values
    usable = (len(values) // stride) * stride
    head: npt.NDArray[np.float64] = values[:usable].reshape(-1, stride).max(axis=1)
    if usable < len(values):
        head = np.append(head, values[usable:].max())
    return head


def plot_runs(results: list[RunResult], path: Path, *, title: str = "") -> None:
    """Write the PNG; the busiest ``MAX_QUEUES`` queues are drawn, one line style per policy."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(3, 1, figsize=(11, 8), sharex=True)
    for n, result in enumerate(results):
        _draw(axes, result, STYLES[n % len(STYLES)], multi=len(results) > 1)
    axes[0].set_ylabel("backlog (tasks)")
    axes[1].set_ylabel("replicas")
    axes[2].set_ylabel("oldest wait (s)")
    axes[2].set_xlabel("time (s)")
    axes[0].set_title(title or "shoal simulate")
    for ax in axes:
        ax.grid(alpha=0.3)
    axes[0].legend(loc="upper right", fontsize="small")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _draw(axes: npt.NDArray[np.object_], result: RunResult, style: str, *, multi: bool) -> None:
    h = result.history
    steps = h.waiting.shape[0]
    stride = max(1, -(-steps // MAX_POINTS))
    step_s = result.settings.step_s
    busiest = np.argsort(-result.published[-1], kind="stable")[:MAX_QUEUES]
    for rank, i in enumerate(busiest):
        spec = result.queues[i]
        ages = oldest_age_steps(result.published[:, i], h.started[:, i], h.waiting[:, i])
        series = (
            h.waiting[:, i].astype(np.float64),
            h.replicas[:, i].astype(np.float64),
            (ages * step_s).astype(np.float64),
        )
        color = f"C{rank % 10}"
        label = f"{spec.name} ({result.policy})" if multi else spec.name
        for ax, values in zip(axes, series, strict=True):
            sampled = _downsample(values, stride)
            times = np.arange(len(sampled)) * stride * step_s
            ax.plot(times, sampled, style, color=color, linewidth=1, label=label)
