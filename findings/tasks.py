"""Thin tasks: they take ids and call a service that opens the tenant's scope it needs, locks
and re-checks the row, so a redelivered task is harmless."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.db import transaction
from django.utils import timezone

from tenants.rls import rls_bypass

STALLED_AFTER = timedelta(minutes=5)


@shared_task(ignore_result=True)
def run_import(tenant_id: int, import_id: str) -> bool:
    """An import, to its end: the service reads the file outside any transaction and
    commits a chunk at a time, each in the tenant's scope (not a TenantTask, whose one
    transaction would hold every chunk, and on SQLite the database's write lock, until the
    end). Returns False: nothing is left to queue."""
    from .imports import import_run_or_fail

    return import_run_or_fail(int(tenant_id), str(import_id))


@shared_task(ignore_result=True)
def resume_stalled_imports() -> int:
    """Every minute: imports whose task was lost or whose worker died go on from their last
    committed chunk (a running import commits one every few seconds)."""
    from .models import ScanImport

    cutoff = timezone.now() - STALLED_AFTER
    with transaction.atomic(), rls_bypass("stalled imports of every tenant"):
        stalled = list(
            ScanImport.objects.dangerously_unscoped("stalled imports")
            .filter(status__in=[ScanImport.Status.QUEUED, ScanImport.Status.RUNNING])
            .filter(updated_at__lt=cutoff)
            .values_list("tenant_id", "pk")[:100]
        )
        from .imports import enqueue_import

        # Marked as taken up now, so that the next minute's run does not start another
        # chain of tasks for the same import while this one is still queued.
        ScanImport.objects.dangerously_unscoped("stalled imports").filter(
            pk__in=[pk for _, pk in stalled]
        ).update(updated_at=timezone.now())
        for tenant_id, pk in stalled:
            enqueue_import(tenant_id, pk)
    return len(stalled)
