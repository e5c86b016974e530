"""The live view (plain ANSI redraw on a terminal, plain lines otherwise), the summary, the PNG."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scheduler.autoscaler.status import by_priority
from scheduler.demo.view import History

CLEAR = "\x1b[H\x1b[2J"
BOLD, DIM, RESET = "\x1b[1m", "\x1b[2m", "\x1b[0m"


def _age(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}s"


def _replicas(desired: int | None, workers: int) -> str:
    return f"{'-' if desired is None else desired}/{workers}"


def frame(history: History, *, header: str, pools: dict[str, str], width: int = 100) -> str:
    """One screen: a row per queue, then the recent decisions with their reasons."""
    looks = history.looks[-1]
    rows = [
        ("QUEUE", "POOL", "BACKLOG", "BY PRIORITY", "OLDEST", "IN FLIGHT", "HELD", "DEAD",
         "DELAYED", "NEXT DUE", "REPLICAS d/r", "DONE", "RATE")
    ]  # fmt: skip
    for queue in history.queues:
        look = looks[queue]
        rows.append(
            (
                queue,
                pools.get(queue, ""),
                str(look.backlog),
                by_priority(look.waiting),
                _age(look.oldest_age_s),
                str(look.in_flight),
                str(look.held_live),
                str(look.held_dead),
                str(look.delayed),
                _age(look.next_due_in_s),
                _replicas(look.desired, look.workers),
                str(look.completed),
                f"{history.rate_per_s(queue):.1f}/s",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [f"{BOLD}{header}{RESET}", ""]
    for n, row in enumerate(rows):
        text = "  ".join(
            c.ljust(w) if i < 2 else c.rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        )
        lines.append(f"{BOLD}{text}{RESET}" if n == 0 else text)
    lines.append(
        f"{DIM}HELD / DEAD: tasks held by live / dead workers; DELAYED: waiting for their due "
        f"time (NEXT DUE: the first){RESET}"
    )
    lines += ["", f"{BOLD}recent decisions{RESET} (replicas desired before -> after, reason)"]
    recent = list(history.decisions)[-8:]
    if not recent:
        lines.append(f"{DIM}  none yet{RESET}")
    for d in recent:
        before = "-" if d.before is None else str(d.before)
        text = f"  {d.at_s:5.0f}s  {d.queue:<8} {before:>3} -> {d.after:<3} {d.reason}: {d.detail}"
        lines.append(text[:width])
    lines.append(
        f"\n{DIM}replicas d/r = desired by the autoscaler / workers running. Ctrl-C stops.{RESET}"
    )
    return CLEAR + "\n".join(lines)


def plain_lines(history: History, at_s: float) -> list[str]:
    """The same facts as one line per queue, for logs and CI."""
    looks = history.looks[-1]
    out = []
    for queue in history.queues:
        look = looks[queue]
        out.append(
            f"t={at_s:.0f}s queue={queue} backlog={look.backlog} oldest={_age(look.oldest_age_s)} "
            f"in_flight={look.in_flight} held={look.held_live} dead={look.held_dead} "
            f"delayed={look.delayed} next_due={_age(look.next_due_in_s)} "
            f"replicas={_replicas(look.desired, look.workers)} "
            f"completed={look.completed} rate={history.rate_per_s(queue):.1f}/s "
            f"reason={look.reason or '-'}"
        )
    return out


@dataclass(frozen=True)
class QueueSummary:
    queue: str
    completed: int
    peak_backlog: int
    max_oldest_s: float
    peak_desired: int
    peak_running: int
    decisions: int


def summarize(history: History) -> list[QueueSummary]:
    out = []
    for queue in history.queues:
        looks = [sample[queue] for sample in history.looks]
        out.append(
            QueueSummary(
                queue=queue,
                completed=max((lk.completed for lk in looks), default=0),
                peak_backlog=max((lk.backlog for lk in looks), default=0),
                max_oldest_s=max((lk.oldest_age_s or 0.0 for lk in looks), default=0.0),
                peak_desired=max((lk.desired or 0 for lk in looks), default=0),
                peak_running=max((lk.workers for lk in looks), default=0),
                decisions=history.decision_count.get(queue, 0),
            )
        )
    return out


def summary_text(summaries: list[QueueSummary], *, duration_s: float, png: Path | None) -> str:
    lines = [f"shoal demo summary ({duration_s:.0f}s)"]
    for s in summaries:
        lines.append(
            f"  {s.queue}: completed {s.completed}, peak backlog {s.peak_backlog}, "
            f"max oldest wait {s.max_oldest_s:.0f}s, replicas peak desired {s.peak_desired} "
            f"running {s.peak_running}, {s.decisions} scaling decisions"
        )
    total = sum(s.completed for s in summaries)
    peak = max((s.peak_running for s in summaries), default=0)
    lines.append(f"  total: {total} tasks completed; replicas went up to {peak}")
    if png is not None:
        lines.append(f"  plot: {png}")
    return "\n".join(lines)


def summary_json(summaries: list[QueueSummary], **extra: Any) -> str:
    return json.dumps({"queues": [s.__dict__ for s in summaries], **extra}, indent=2)


def plot(history: History, path: Path) -> None:
    """Backlog, replicas (desired dashed, running solid) and oldest wait over the run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(3, 1, figsize=(10, 7), sharex=True)
    for n, queue in enumerate(history.queues):
        color = f"C{n}"
        axes[0].plot(history.times, history.series(queue, "backlog"), color=color, label=queue)
        axes[1].plot(
            history.times, history.series(queue, "workers"), color=color, label=f"{queue} running"
        )
        axes[1].plot(
            history.times,
            history.series(queue, "desired"),
            "--",
            color=color,
            label=f"{queue} desired",
        )
        axes[2].plot(history.times, history.series(queue, "oldest_age_s"), color=color, label=queue)
    axes[0].set_ylabel("backlog (tasks)")
    axes[1].set_ylabel("replicas")
    axes[2].set_ylabel("oldest wait (s)")
    axes[2].set_xlabel("time since start (s)")
    axes[0].set_title("shoal demo")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(loc="upper right", fontsize="small")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
