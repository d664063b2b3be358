"""The incident page's "Enrichment" card (a panel, alerts.extensions): what the sources say of
each observable the viewer sees, an "Enrich" button for those who work the incident, and, for
those who see the tenant's connectors, the incident's latest connector calls (redacted)."""

from __future__ import annotations

from typing import Any

from django import template

from alerts import policy as incident_policy
from alerts.models import IncidentObservable
from tenants.access import access_for

from .. import enrichment, policy
from ..models import ConnectorCall, Enrichment

register = template.Library()

SHOWN = 100
CALLS_SHOWN = 20


@register.simple_tag(takes_context=True)
def incident_enrichment(context: Any, incident: Any) -> dict[str, Any]:
    request = context["request"]
    access = getattr(request, "access", None) or access_for(request.user)
    observables = list(
        incident_policy.visible_observables(
            access,
            IncidentObservable.objects.for_tenant(incident.tenant_id).filter(incident=incident),
        ).order_by("type", "value")[:SHOWN]
    )
    results: dict[Any, list[Enrichment]] = {}
    for row in (
        Enrichment.objects.for_tenant(incident.tenant_id)
        .filter(observable__in=[o.pk for o in observables])
        .order_by("source", "source_name")
    ):
        results.setdefault(row.observable_id, []).append(row)
    may_enrich = policy.may_enrich(access, incident.tenant_id)
    has_services = bool(enrichment.enrichment_connectors(incident.tenant_id))
    rows = [{"observable": o, "results": results.get(o.pk, [])} for o in observables]
    calls: list[ConnectorCall] = []
    if policy.may_see(access, incident.tenant_id):  # those who see the tenant's connectors
        calls = list(
            ConnectorCall.objects.for_tenant(incident.tenant_id)
            .filter(incident=incident)
            .order_by("-at", "-id")[:CALLS_SHOWN]
        )
    return {
        "rows": rows,
        "may_enrich": may_enrich,
        "has_services": has_services,
        "calls": calls,
    }
