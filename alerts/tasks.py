"""Thin tasks: they take ids, lock and re-check state, and call the intake pipeline."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.utils import timezone

from tenants.rls import rls_bypass
from tenants.tasks import TenantTask

from .intake.base import NormalizedAlert
from .models import IntakeSource


@shared_task
def check_silent_sources() -> int:
    """Every minute (beat): each active source silent for longer than its expected interval
    raises one alert in its own tenant. Returns how many were raised."""
    now = timezone.now()
    with rls_bypass("sweep: silent intake sources of every tenant"):
        candidates = list(
            IntakeSource.objects.dangerously_unscoped("silence sweep")
            .filter(
                status=IntakeSource.Status.ACTIVE,
                expected_interval_minutes__isnull=False,
                silence_alerted_at__isnull=True,
                tenant__status="active",
            )
            .values_list(
                "pk", "tenant_id", "expected_interval_minutes", "last_seen_at", "created_at"
            )
        )
    due = [
        (source_id, tenant_id)
        for source_id, tenant_id, minutes, last_seen, created in candidates
        if (last_seen or created) + timedelta(minutes=minutes) < now
    ]
    for source_id, tenant_id in due:
        raise_source_silence.delay(tenant_id, str(source_id))
    return len(due)


@shared_task(base=TenantTask)
def raise_source_silence(tenant_id: int, source_id: str) -> bool:
    """Idempotent: the source row is locked and silence_alerted_at claims the silence."""
    from .ingest import ingest

    source = (
        IntakeSource.objects.for_tenant(tenant_id)
        .select_for_update()
        .select_related("tenant")
        .filter(pk=source_id, silence_alerted_at__isnull=True)
        .first()
    )
    if source is None or source.expected_interval_minutes is None:
        return False
    since = source.last_seen_at or source.created_at
    silent_for = timezone.now() - since
    if silent_for < timedelta(minutes=source.expected_interval_minutes):
        return False
    minutes = int(silent_for.total_seconds() // 60)
    IntakeSource.objects.for_tenant(tenant_id).filter(pk=source.pk).update(
        silence_alerted_at=timezone.now()
    )
    alert = NormalizedAlert(
        title=f"Intake source '{source.name}' silent for {minutes} minutes",
        severity="medium",
        category="availability",
        description=(
            f"No alert has arrived from {source.name} ({source.kind}) since "
            f"{since:%Y-%m-%d %H:%M} UTC; it is expected at least every "
            f"{source.expected_interval_minutes} minutes. Check the sensor, its "
            "forwarder and its intake key."
        ),
        raw={
            "source": str(source.pk),
            "last_seen_at": since.isoformat(),
            "expected_interval_minutes": source.expected_interval_minutes,
        },
        source_ref=f"silence:{since.isoformat()}",
        fingerprint=f"silence:{source.pk}",
        rule_id="mssp.source_silent",
        rule_name="Intake source silent",
    )
    ingest(source, [alert], mark_seen=False)
    return True


@shared_task(ignore_result=True)
def run_scheduled_hunts() -> int:
    """Every minute (beat, or run_periodic): the scheduled hunts that are due, each as its
    owner."""
    from .hunts import run_due_hunts

    return run_due_hunts()
