"""The incident page's findings: the open findings of the hosts among its observables."""

from __future__ import annotations

from django import template

from ..selectors import get_open_findings_for_observables

register = template.Library()


@register.simple_tag(takes_context=True)
def incident_findings(context, incident, observables):
    """Read inside the page's own tenant scope: the incident's tenant, which the caller
    may see (the incident page loaded it through the caller's scope)."""
    access = getattr(context.get("request"), "access", None)
    if access is None or incident.tenant_id not in access.tenant_ids:
        return []
    return get_open_findings_for_observables(incident.tenant_id, observables)
