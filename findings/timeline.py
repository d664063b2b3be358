"""A finding's change, told everywhere it is read: its timeline, the audit log and the
tenant's stream (staff and customer alike)."""

from __future__ import annotations

from tenants import audit, events
from tenants.models import User

from .models import Finding, FindingEvent

AUDIENCE = (events.STAFF, events.CUSTOMER)


def record_change(
    finding: Finding,
    actor: User | None,
    kind: str,
    summary: str,
    data: dict | None = None,
    request=None,
) -> None:
    """One change of a finding: on its timeline, in the audit log, and on the stream of its
    tenant's staff and customer users. Workflow functions and the sweep call it inside their
    transaction, so the three are written with the change or not at all."""
    FindingEvent.objects.create(
        tenant_id=finding.tenant_id,
        finding=finding,
        actor=actor,
        actor_name=getattr(actor, "username", "") or "",
        kind=kind,
        summary=summary[:500],
        data=data or {},
    )
    audit.record(
        f"finding.{kind}",
        actor=actor,
        tenant=finding.tenant_id,
        obj=finding,
        request=request,
        summary=f"{finding.title[:200]}: {summary}"[:300],
        data=data or {},
    )
    events.tenant_event(
        finding.tenant_id,
        finding.tenant.slug,
        "finding.updated",
        str(finding.pk),
        {"change": kind, "status": finding.status},
        audience=AUDIENCE,
    )
