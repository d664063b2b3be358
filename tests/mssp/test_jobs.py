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

    root = Path(__file__).resolve().parent.parent.parent
    offenders = []
    for path in root.glob("*/services.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").endswith("tasks"):
                offenders.append(f"{path.relative_to(root)}:{node.lineno}")
    assert not offenders, offenders


# --- the rules every background job follows -------------------------------------------------------
PORTAL_APPS = ("tenants", "alerts", "sla", "reports", "findings", "intel")


def test_every_tracked_job_derives_from_the_kit():
    """A tracked job (a row whose state a background task moves and a page polls: it has a
    status, a start and a progress) is a tenants.jobs.TrackedJob, so it gets the kit's
    vocabulary, heartbeat and stalled sweep rather than a fifth copy of them."""
    from django.apps import apps

    from tenants.jobs import JobStatus, TrackedJob

    tracked = []
    for model in apps.get_models():
        fields = {field.name for field in model._meta.get_fields()}
        if {"status", "started_at"} <= fields and hasattr(model, "progress"):
            tracked.append(model._meta.label)
            assert issubclass(model, TrackedJob), model._meta.label
            # the same members, whatever value a job stores for one
            assert {member.name for member in model.Status} == {m.name for m in JobStatus}
    assert {
        "findings.ScanImport",
        "reports.Report",
        "intel.IndicatorImport",
        "intel.RetroHunt",
    } <= set(tracked)


def test_every_task_of_the_portal_takes_the_tenant_id_first():
    """One argument order: a task given arguments takes the tenant id first (then the job's
    or object's id), so a message reads the same whichever app it is for, and a TenantTask's
    scope can be set from it. Sweeps take none."""
    import inspect

    from tenants.jobs import _registry

    tasks = {
        name: task
        for name, task in _registry().items()
        if name.split(".")[0] in PORTAL_APPS and ".tasks." in name
    }
    assert "intel.tasks.run_retro_hunt" in tasks and "reports.tasks.generate_report" in tasks
    wrong = {
        name: list(parameters)
        for name, task in tasks.items()
        # a bound task's `run` is a method: its `self` is not among the parameters
        if (parameters := inspect.signature(task.run).parameters)
        and next(iter(parameters)) != "tenant_id"
    }
    assert not wrong, wrong
