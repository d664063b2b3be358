"""Thin tasks: they take ids and call a service, which opens the scope it needs, locks and
re-checks its row, and does nothing when the work is already done."""

from __future__ import annotations

from celery import shared_task


@shared_task(ignore_result=True)
def run_import(tenant_id: int | None, import_id: str) -> str:
    from .services import import_run

    return import_run(import_id, tenant_id)


@shared_task(ignore_result=True)
def run_retro_hunt(tenant_id: int | None, hunt_id: str) -> str:
    from .services import retro_hunt_run

    return retro_hunt_run(hunt_id, tenant_id)


@shared_task(ignore_result=True)
def expire_indicators() -> int:
    """Every minute (beat, or run_periodic in the embedded mode)."""
    from .services import expire_indicators as expire

    return expire()


@shared_task(ignore_result=True)
def resume_stalled_jobs() -> int:
    """Every minute: imports and retro-hunts whose task was lost are taken up again."""
    from .services import resume_stalled as resume

    return resume()
