"""The tenant's escalation policy, read-only (changed through the API)."""

from __future__ import annotations

from django.shortcuts import render

from tenants.format import duration
from tenants.models import Tenant
from tenants.views import portal_view

from .. import escalation, targets
from ..models import EscalationPolicy, StepAction
from .common import refuse


def _minutes(value) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _target_label(tenant_id: int, step: dict) -> str:
    try:
        target = targets.step_target(tenant_id, step)
    except targets.TargetMissing:
        return "(no longer available)"
    if target.person is not None:
        if target.person.is_mssp_staff:  # the customer's page: the MSSP's people unnamed
            return "a named MSSP engineer"
        return target.person.get_full_name() or target.person.username
    if target.schedule is not None:
        return f"whoever is on call on {target.schedule.name}"
    if target.team is not None:
        return target.team.name
    return "your in-house team" if step.get("action") == StepAction.HANDOFF_IN_HOUSE else ""


def _step_rows(steps, tenant_id: int) -> list[dict]:
    rows = []
    for number, step in enumerate(steps if isinstance(steps, list) else [], start=1):
        if not isinstance(step, dict):
            continue
        action = step.get("action")
        conditions = step.get("if") if isinstance(step.get("if"), dict) else {}
        when = []
        if conditions.get("severity"):
            when.append("severity is " + " or ".join(map(str, conditions["severity"])))
        if conditions.get("category"):
            when.append("category is " + " or ".join(map(str, conditions["category"])))
        if conditions.get("unacknowledged"):
            when.append("nobody has acknowledged the incident yet")
        respond = step.get("respond_minutes")
        if action == StepAction.HANDOFF_IN_HOUSE and not respond:
            respond = escalation.DEFAULT_RESPOND_MINUTES
        rows.append(
            {
                "number": number,
                "action": StepAction(action).label if action in StepAction.values else action,
                "team": _target_label(tenant_id, step),
                "wait": duration(_minutes(step.get("wait_minutes")) * 60)
                if _minutes(step.get("wait_minutes"))
                else "at once",
                "respond": duration(_minutes(respond) * 60)
                if action == StepAction.HANDOFF_IN_HOUSE
                else "",
                "when": when,
            }
        )
    return rows


@portal_view
def escalation_policy(request, access):
    if not access.is_customer_worker:
        return refuse(
            request, "Your organisation's admins and responders read its escalation policy."
        )
    tenant = Tenant.objects.get(pk=access.customer_tenant_id)
    policy = EscalationPolicy.objects.for_tenant(tenant.pk).filter(is_active=True).first()
    steps = policy.steps if policy and isinstance(policy.steps, list) else []
    return render(
        request,
        "sla/escalation_policy.html",
        {
            "tenant": tenant,
            "policy": policy,
            "steps": _step_rows(steps, tenant.pk),
        },
    )
