"""Thin tasks: they take ids and call a service, which claims its row and does nothing when
the work is already done (tenants.jobs)."""

from __future__ import annotations

from celery import shared_task


@shared_task(ignore_result=True)  # type: ignore[untyped-decorator]
def run_action(tenant_id: int, action_id: str) -> str:
    from .services import run_action as run

    return run(tenant_id, action_id)
