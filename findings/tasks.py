"""Thin tasks: they take ids and call a service that opens the tenant's scope it needs, locks
and re-checks the row, so a redelivered task is harmless."""

from __future__ import annotations

from celery import shared_task


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
    from .imports import resume_stalled_imports as resume

    return resume()
