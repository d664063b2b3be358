"""The incident page's fields card (a panel, alerts.extensions): the fields the caller sees,
with their values, editable by those who work the incident."""

from __future__ import annotations

from typing import Any

from django import template

from alerts import policy as incident_policy
from tenants.access import access_for
from tenants.models import Tenant

from .. import custom_fields

register = template.Library()


@register.simple_tag(takes_context=True)
def incident_custom_fields(context, incident) -> dict[str, Any]:
    request = context["request"]
    access = getattr(request, "access", None) or access_for(request.user)
    fields = custom_fields.definitions(incident.tenant_id, staff=access.is_mssp_staff)
    editable = incident_policy.can_work(access, incident)
    rows = custom_fields.shown(fields, incident.custom_fields or {}, with_empty=editable)
    return {"rows": rows, "editable": editable}


@register.simple_tag(takes_context=True)
def new_incident_custom_fields(context) -> list[dict[str, Any]]:
    """The open/raise form's fields: a customer's own tenant's (inputs `cf.<key>`), or, for MSSP
    staff, each customer's they work (inputs `cf.<slug>.<key>`, those of the chosen customer
    taken). Values sent back with a refused form are shown again."""
    request = context["request"]
    access = getattr(request, "access", None) or access_for(request.user)
    posted = context.get("values") or {}
    staff = access.is_mssp_staff
    tenants = {t.pk: t for t in Tenant.objects.filter(pk__in=access.tenant_ids)}
    defined = custom_fields.definitions_for(access.tenant_ids, staff=staff)
    groups = []
    for tenant_id, fields in sorted(defined.items(), key=lambda item: tenants[item[0]].name):
        prefix = f"cf.{tenants[tenant_id].slug}." if staff else "cf."
        rows = [
            (field, posted.get(prefix + field.key) or None)
            for field in fields
            if not field.is_archived
        ]
        if rows:
            groups.append({"tenant": tenants[tenant_id], "prefix": prefix, "rows": rows})
    return groups
