"""tenants.jobs.enqueue: services send tasks by name (so they never import their tasks
module), after commit, through Celery's registry (eager in the embedded mode)."""

from __future__ import annotations

import pytest

from tenants.jobs import enqueue


def test_a_name_that_is_no_task_fails_loudly_instead_of_being_sent_nowhere(db):
    with pytest.raises(KeyError):
        enqueue("reports.tasks.no_such_task", 1)


def test_the_task_runs_after_the_transaction_commits_and_not_before(
    db, django_capture_on_commit_callbacks
):
    """reports.tasks.schedule_reports takes no argument and is idempotent: enqueued inside a
    transaction, it is only registered until the commit, then runs (eagerly, as the test
    settings and the embedded mode run tasks)."""
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        enqueue("reports.tasks.schedule_reports")
    assert len(callbacks) == 1
    with django_capture_on_commit_callbacks(execute=True) as ran:
        enqueue("reports.tasks.schedule_reports")
    assert len(ran) == 1


def test_services_modules_never_import_their_tasks_modules():
    """Workers import services, never the reverse (the cycle every app had)."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    offenders = []
    for path in root.glob("*/services.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").endswith("tasks"):
                offenders.append(f"{path.relative_to(root)}:{node.lineno}")
    assert not offenders, offenders
