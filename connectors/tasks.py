"""Thin tasks: they load by id inside the tenant's scope and call connectors.enrichment."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from tenants.tasks import TenantTask


@shared_task(base=TenantTask)  # type: ignore[untyped-decorator]
def enrich_observable(
    tenant_id: int,
    observable_id: str,
    actor_id: int | None = None,
    connector_ids: list[str] | None = None,
    refresh: bool = False,
) -> int:
    """Enrich one observable of the tenant (a click on the incident page, or the API): the
    sources' answers are rows; a fresh one is kept. Returns how many results it holds."""
    from alerts.models import IncidentObservable
    from tenants.models import User

    from .enrichment import enrich

    observable = (
        IncidentObservable.objects.for_tenant(tenant_id)
        .select_related("incident")
        .filter(pk=observable_id)
        .first()
    )
    if observable is None:  # removed since it was asked for
        return 0
    actor: Any = User.objects.filter(pk=actor_id).first() if actor_id else None
    return len(
        enrich(observable, actor=actor, connector_ids=connector_ids, refresh=refresh).enrichments
    )


@shared_task  # type: ignore[untyped-decorator]
def sweep_connector_calls() -> int:
    """Hourly (beat): connector calls older than CONNECTOR_CALL_RETENTION_DAYS are deleted
    (the audit log keeps what was done; a call's excerpt is for diagnosing). Returns how many."""
    from datetime import timedelta

    from django.conf import settings
    from django.utils import timezone

    from tenants.rls import rls_bypass

    from .models import ConnectorCall

    days = int(getattr(settings, "CONNECTOR_CALL_RETENTION_DAYS", 90))
    cutoff = timezone.now() - timedelta(days=days)
    with rls_bypass("sweep: old connector calls of every tenant"):
        deleted, _ = (
            ConnectorCall.objects.dangerously_unscoped("retention sweep")
            .filter(at__lt=cutoff)
            .delete()
        )
    return int(deleted)
