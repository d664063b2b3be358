"""Background work: enqueueing a task by name, and the kit every tracked job uses.

Services decide that work must happen; tasks (workers) call services. Enqueueing by the task's
registered name keeps that one-way: a services module never imports its app's tasks module,
which imports the services (the import cycle every app had). The name is looked up in Celery's
registry, so the embedded mode's eager execution and the queues' routing apply as they do to
`task.delay()`, and a name that is not a task fails loudly instead of being sent nowhere.

A tracked job (a scanner import, a report, an indicator import, a retro-hunt) is a row whose
state the work moves: queued → running → done or failed. Its task is a nudge carrying
(tenant_id, job_id); the row says what is left. Each committed step bumps the row's heartbeat
(`updated_at`), so a job whose task was lost or whose worker died is found by `stalled` and
enqueued again by its app's periodic sweep. Every task of the portal takes the tenant id
first (tests/mssp/test_jobs.py holds the rule).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from celery import current_app
from django.conf import settings
from django.db import connections, models, transaction
from django.db.models.functions import Coalesce
from django.utils import timezone

logger = logging.getLogger("mssp.jobs")


@cache
def _registry() -> Any:  # Celery's TaskRegistry (celery ships no type information)
    # Celery imports the apps' tasks modules when a worker starts; a web process (and the
    # embedded mode's eager tasks) may not have imported them yet.
    current_app.loader.import_default_modules()
    return current_app.tasks


def enqueue(task: str, *args: Any, on_commit: bool = True) -> None:
    """Send `task` (its registered name, "app.tasks.function") with `args`: after the current
    transaction commits (the default, so a worker never looks for a row not yet visible), or
    at once with `on_commit=False`."""
    registered = _registry()[task]  # KeyError: not a task

    def send() -> None:
        registered.delay(*args)

    if on_commit:
        transaction.on_commit(send)
    else:
        send()


# --- the tracked job ----------------------------------------------------------------------------
class JobStatus(models.TextChoices):
    """One vocabulary for every tracked job. A job may store another value for a member where
    its API has always shown it (intel's QUEUED is stored and shown as "pending"): code names
    the member (`Model.Status.QUEUED`), never the value."""

    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class TrackedJob(models.Model):
    """What every tracked job's row holds. A model's `Status` names the same four members as
    JobStatus; `status` is declared again by a model that stores other values."""

    Status = JobStatus

    status = models.CharField(max_length=10, choices=JobStatus.choices, default=JobStatus.QUEUED)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # The heartbeat: set with each committed step (`heartbeat`), and by the sweep that
    # enqueues the job again. Empty until the first; the job's age counts until then.
    updated_at = models.DateTimeField(
        null=True, blank=True, help_text="The last committed step (the job's heartbeat)."
    )

    class Meta:
        abstract = True

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.DONE, self.Status.FAILED)


def embedded_thread() -> bool:
    """The embedded mode (no worker; `make run` sets REPORTS_BACKGROUND_THREAD for it): a job
    runs in a thread beside the server, so the page answers at once and shows the progress,
    and the scheduler's SLA sweep never waits for it."""
    return bool(settings.CELERY_TASK_ALWAYS_EAGER and settings.REPORTS_BACKGROUND_THREAD)


def start_after_commit(
    task_name: str,
    tenant_id: int | None,
    job_id: Any,
    *,
    run_in_thread: Callable[[Any, str], object] | None = None,
) -> None:
    """Start the job after the current transaction commits: its Celery task by name, called
    (tenant_id, job_id), or in the embedded mode `run_in_thread(tenant_id, job_id)` on a
    daemon thread that closes its own database connections. A job without `run_in_thread`
    always goes through Celery (eagerly in the embedded mode)."""
    job = str(job_id)
    if run_in_thread is not None and embedded_thread():
        transaction.on_commit(lambda: _start_thread(task_name, tenant_id, job, run_in_thread))
    else:
        enqueue(task_name, tenant_id, job)


def _start_thread(
    task_name: str, tenant_id: Any, job_id: str, run: Callable[[Any, str], object]
) -> None:
    def target() -> None:
        try:
            run(tenant_id, job_id)
        except Exception:  # the job stays unfinished; its app's stalled sweep takes it up
            logger.exception(
                "%s %s of tenant %s: background thread failed", task_name, job_id, tenant_id
            )
        finally:
            connections.close_all()  # this thread's own connections

    name = f"{task_name.rsplit('.', 1)[-1]}-{job_id}"
    threading.Thread(target=target, name=name, daemon=True).start()


def heartbeat(jobs: models.QuerySet[Any], **changes: Any) -> int:
    """Store a step's `changes` (progress, counts, a cursor) with the heartbeat, in one UPDATE.
    Called inside the job's scope; a scope's transaction is short and commits at once, so a
    page polling the job sees it move and the stalled sweep sees it alive."""
    return jobs.update(updated_at=timezone.now(), **changes)


def stalled(
    jobs: models.QuerySet[Any],
    now: datetime,
    *,
    queued_for: timedelta,
    running_for: timedelta,
) -> models.QuerySet[Any]:
    """The jobs whose task was lost (queued, no heartbeat for `queued_for`) or whose worker
    died (running, none for `running_for`); a job with no heartbeat yet counts from its
    creation."""
    status: type[JobStatus] = jobs.model.Status
    beat = Coalesce("updated_at", "created_at")
    found: models.QuerySet[Any] = jobs.annotate(last_beat=beat).filter(
        models.Q(status=status.QUEUED, last_beat__lt=now - queued_for)
        | models.Q(status=status.RUNNING, last_beat__lt=now - running_for)
    )
    return found
