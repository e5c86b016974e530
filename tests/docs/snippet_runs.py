"""How each Python snippet of the docs is run, and what it must do.

A snippet runs as the reader would paste it, with two fill-ins: the doc's Redis URL becomes
this session's (``Sandbox.fill``), and names a snippet leaves to the reader's own code
(``load`` in the retry example) come from ``PRELUDES``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable

from celery import Celery

from contract.priority import priority_lists
from tests.docs import app_runs
from tests.docs.collect import Snippet
from tests.docs.sandbox import Sandbox
from tests.support.procs import wait_for
from workers.kit import DEFAULT_PRIORITY_STEPS, DEFAULT_SEP, configure

SnippetRunner = Callable[[Snippet, Sandbox], None]


PRELUDES = {
    "docs/publishing.md: from celery import shared_task": (
        "def load(invoice_id):  # the reader's own lookup; no invoice exists here\n"
        "    return None\n\n\n"
    ),
}


ROUTED = {
    # task name, kwargs -> the queue the snippet's routes and hook send it to
    ("billing.charge", 20_000): "billing-large",
    ("billing.invoices.send_email", 0): "invoices",
    ("crm.send_email", 0): "emails",
}
"""More publishes after the snippet's own: the route table's first match wins, the hook first."""


def run_publisher(snippet: Snippet, sb: Sandbox) -> None:
    """The kit routes ``billing.charge`` to ``billing`` and priority 9 to its most urgent list."""
    more = "".join(
        f"app.send_task({name!r}, kwargs={{'amount': {amount}}})\n" for name, amount in ROUTED
    )
    (sb.path / "publish.py").write_text(sb.fill(snippet.code) + more)
    sb.ok("python publish.py", timeout_s=60)
    lists = priority_lists("billing", DEFAULT_PRIORITY_STEPS, DEFAULT_SEP)
    lengths = {name: sb.client.llen(name) for name in lists}
    urgent = lists[-1]
    assert urgent.endswith("9") and lengths == {**dict.fromkeys(lists, 0), urgent: 1}, lengths
    message = json.loads(sb.client.lindex(urgent, 0) or b"{}")
    assert message["headers"]["task"] == "billing.charge"
    assert isinstance(message["headers"]["published_at"], float)
    assert message["properties"]["priority"] == 9
    for (name, _), queue in ROUTED.items():
        tasks = [json.loads(raw)["headers"]["task"] for raw in sb.client.lrange(queue, 0, -1)]
        assert tasks == [name], queue


def run_retrying_task(snippet: Snippet, sb: Sandbox) -> None:
    """A real worker runs the task; a missing invoice is dead-lettered at once, not retried."""
    module = sb.path / "invoices.py"
    module.write_text(PRELUDES[snippet.key] + snippet.code)
    env = {**sb.env, "PYTHONPATH": f"{sb.env['PYTHONPATH']}:{sb.path}", "SHOAL_IMPORTS": "invoices"}
    argv = [sys.executable, "-m", "shoal", "worker", "--queue", "billing"]
    sb.procs.start([*argv, "--pool", "prefork", "--concurrency", "1"], env=env, name="worker")
    client = configure(Celery("billing", set_as_current=False), redis_url=sb.redis_url)
    try:
        client.send_task("invoices.charge", args=[7], queue="billing")
    finally:
        client.close()
    wait_for(
        lambda: sb.client.llen("shoal:dlq:billing"),
        timeout_s=90,
        message="the task to be dead-lettered",
    )
    entry = json.loads(sb.client.lindex("shoal:dlq:billing", 0) or b"{}")
    assert (entry["reason"], entry["task"]) == ("non_retryable", "invoices.charge")
    assert "no invoice 7" in entry["error"]
    assert json.loads(entry["message"]["body"])[0] == [7]
    assert entry["message"]["headers"].get("retries", 0) == 0


SNIPPET_RUNNERS: dict[str, SnippetRunner] = {
    "docs/publishing.md: from celery import Celery": run_publisher,
    "docs/publishing.md: from celery import shared_task": run_retrying_task,
    "docs/your-app.md: # proj/celery.py": app_runs.run_example_file,
    "docs/your-app.md: # proj/settings.py (the Celery part)": app_runs.run_example_lines,
}
