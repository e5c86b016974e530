"""Which runner runs which doc command: the one table of what runs here.

``RUNNERS`` maps a command's exact text to its runner; ``PREFIX_RUNNERS`` maps a prefix to the
runner of a family checked alike (``shoal simulate``); every inline ``shoal`` synopsis is
checked by ``run_help``. What is in none of these must be in ``NOT_RUN_HERE``
(tests/docs/test_docs_commands.py) with the reason it cannot run on this machine.
"""

from __future__ import annotations

from collections.abc import Callable

from tests.docs import app_runs as app
from tests.docs import inline_runs as inline
from tests.docs import runs
from tests.docs.collect import Command
from tests.docs.sandbox import Sandbox

Runner = Callable[[Command, Sandbox], None]

RATE_LIMITS = (
    'SHOAL_RATE_LIMITS="queue:emails=5/s,task:billing.charge=100/m,task:reports.build=1000/h"'
)
RUNNERS: dict[str, Runner] = {
    # fenced blocks
    "shoal beat --check schedules.yaml --next 2": runs.run_beat_check,
    "shoal beat --schedules schedules.yaml": runs.run_beat,
    "shoal beat --check --app proj --next 2": runs.run_beat_app_check,
    "shoal beat --app proj": runs.run_beat_app,
    "shoal dlq list": runs.run_dlq,
    "shoal dlq list emails": runs.run_dlq,
    "shoal dlq show emails 0": runs.run_dlq,
    "shoal dlq requeue emails 3f2a9c": runs.run_dlq,
    "shoal dlq requeue emails": runs.run_dlq,
    "shoal dlq purge emails": runs.run_dlq,
    RATE_LIMITS: runs.run_rate_limits,
    "shoal status": runs.run_status,
    # docs/your-app.md: the example Django project in the sandbox
    "python manage.py migrate": app.run_migrate,
    "shoal worker --app proj --concurrency 2": app.run_app_worker,
    (
        'python manage.py shell --verbosity 0 -c "from orders.tasks import touch; '
        "print(touch.delay('A-1').get(timeout=30))\""
    ): app.run_publish,
    "celery -A proj inspect active_queues": app.run_celery_tool,
    "shoal config --app proj": app.run_config_app,
    "helm template shoal charts/shoal --set queues[0].name=a --set queues[0].pool=threads": (
        runs.run_failing_helm
    ),
    # inline in prose
    "shoal status --json": inline.run_status_json,
    "shoal beat --check --app proj": runs.run_beat_app_check,
    "shoal config": inline.run_config,
    "python -m shoal": inline.run_usage,
    "shoal worker": inline.run_worker,
    "shoal worker --pool prefork --concurrency 2": inline.run_worker,
    "shoal worker health": inline.run_worker_health,
    "helm template shoal charts/shoal -f values-prod.yaml >/dev/null": inline.run_quiet_helm,
    "helm template": inline.run_chart_check,
    "helm lint": inline.run_chart_check,
    "helm lint --strict": inline.run_chart_check,
    "promtool check rules": inline.run_promtool,
    "promtool test rules tests/chart/alerts_test.yaml": inline.run_promtool,
    # inline names of a shoal command in a sentence: the command and its options exist
    "shoal autoscaler": inline.run_help,
    "shoal beat": inline.run_help,
    "shoal beat --schedules": inline.run_help,
    "shoal demo": inline.run_help,
    "shoal dlq": inline.run_help,
    "shoal load": inline.run_help,
    "shoal simulate": inline.run_help,
}
PREFIX_RUNNERS: dict[str, Runner] = {"shoal simulate ": runs.run_simulate}


def runner_for(command: Command) -> Runner | None:
    if command.inline and command.synopsis and command.text.startswith("shoal "):
        return inline.run_help
    if command.text in RUNNERS:
        return RUNNERS[command.text]
    found = [r for prefix, r in PREFIX_RUNNERS.items() if command.text.startswith(prefix)]
    return found[0] if found else None
