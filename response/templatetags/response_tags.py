"""The incident page's "Respond" card (a panel, alerts.extensions): what is in force, the
actions asked for and their state, the request form (targets prefilled from the incident's
observables) and, for the customer's responders and admins, approve and reject."""

from __future__ import annotations

from typing import Any

from django import template
from django.template.context import Context

from alerts import policy as incident_policy
from alerts.models import Incident, IncidentObservable
from connectors.models import Connector
from tenants.access import access_for

from .. import clients, policy
from ..models import TARGET_TYPE, ActionKind, ActionStatus, ResponseAction

register = template.Library()

SHOWN = 50
PREFILL_TYPES = {"hostname", "user", "ip", "domain"}


@register.simple_tag(takes_context=True)
def incident_response(context: Context, incident: Incident) -> dict[str, Any]:
    request = context["request"]
    access = getattr(request, "access", None) or access_for(request.user)
    rows = list(
        ResponseAction.objects.for_tenant(incident.tenant_id)
        .filter(incident=incident)
        .order_by("-requested_at", "-id")[:SHOWN]
    )
    may_request = policy.can_request(access, incident) and incident.is_open
    may_decide = policy.is_customer_approver(access, incident.tenant_id)
    for row in rows:
        row.may_decide = may_decide and row.status == ActionStatus.AWAITING_APPROVAL
        row.may_reverse = may_request and row.in_force
    connectors: list[dict[str, Any]] = []
    observables: dict[str, list[str]] = {}
    if may_request:
        for connector in Connector.objects.for_tenant(incident.tenant_id).filter(is_enabled=True):
            can = clients.actions_of(connector.kind)
            if can:
                connectors.append(
                    {"connector": connector, "actions": [a for a in ActionKind if a in can]}
                )
        visible = incident_policy.visible_observables(
            access,
            IncidentObservable.objects.for_tenant(incident.tenant_id).filter(
                incident=incident, type__in=PREFILL_TYPES
            ),
        )
        for observable in visible.order_by("type", "value")[:200]:
            observables.setdefault(observable.type, []).append(observable.value)
    return {
        "rows": rows,
        "in_force": [row for row in rows if row.in_force],
        "awaiting": [row for row in rows if row.status == ActionStatus.AWAITING_APPROVAL],
        "may_request": may_request and bool(connectors),
        "may_decide": may_decide,
        "connectors": connectors,
        "kinds": ActionKind.choices,
        "target_types": {str(k): v for k, v in TARGET_TYPE.items()},
        "observables": observables,
        "staff": access.is_mssp_staff,
    }
