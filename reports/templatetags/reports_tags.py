"""The post-incident report's card on the incident page (a panel, alerts.extensions)."""

from __future__ import annotations

from typing import Any

from django import template

from tenants.access import access_for

from .. import policy
from ..models import IncidentReport

register = template.Library()


@register.simple_tag(takes_context=True)
def incident_report_card(context, incident) -> dict[str, Any]:
    """What the card offers the signed-in caller: staff the workflow's next step, the customer
    a link once the report is shared (and nothing before)."""
    request = context["request"]
    access = getattr(request, "access", None) or access_for(request.user)
    report = (
        IncidentReport.objects.for_tenant(incident.tenant_id)
        .filter(incident=incident)
        .only("id", "status", "edited_by_id", "shared_at", "approved_at", "incident_id")
        .first()
    )
    staff = policy.works_incident_report(access, incident.tenant_id)
    supervises = policy.supervises_incident_report(access, incident.tenant_id)
    if not staff:
        shared = report is not None and report.status == IncidentReport.Status.SHARED
        return {"show": shared, "report": report if shared else None, "staff": False}
    draft = report is not None and report.status == IncidentReport.Status.DRAFT
    return {
        "show": True,
        "staff": True,
        "report": report,
        "may_draft": report is None,
        "may_approve": supervises and draft and report.edited_by_id != access.user_id,
        "may_share": supervises
        and report is not None
        and report.status == IncidentReport.Status.APPROVED,
    }
