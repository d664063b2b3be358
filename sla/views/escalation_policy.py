"""The tenant's escalation policy, read-only (changed through the API)."""

from __future__ import annotations

import uuid

from django.db.models import Q
from django.shortcuts import render

from tenants.format import duration
from tenants.models import Team, Tenant
from tenants.views import portal_view

from .. import escalation
from ..models import EscalationPolicy, StepAction
from .common import refuse


def _minutes(value) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _step_rows(steps, teams: dict[str, Team]) -> list[dict]:
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
        team = teams.get(str(step.get("team") or ""))
        respond = step.get("respond_minutes")
        if action == StepAction.HANDOFF_IN_HOUSE and not respond:
            respond = escalation.DEFAULT_RESPOND_MINUTES
        rows.append(
            {
                "number": number,
                "action": StepAction(action).label if action in StepAction.values else action,
                "team": team.name
                if team
                else ("your in-house team" if action == StepAction.HANDOFF_IN_HOUSE else ""),
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
    team_ids = {str(step["team"]) for step in steps if isinstance(step, dict) and step.get("team")}
    teams = {}
    valid = []
    for value in team_ids:
        try:
            valid.append(uuid.UUID(value))
        except ValueError:
            continue
    if valid:
        teams = {
            str(team.pk): team
            for team in Team.objects.dangerously_unscoped("the MSSP's teams and this tenant's")
            .filter(pk__in=valid)
            .filter(Q(tenant__isnull=True) | Q(tenant_id=tenant.pk))
        }
    return render(
        request,
        "sla/escalation_policy.html",
        {
            "tenant": tenant,
            "policy": policy,
            "steps": _step_rows(steps, teams),
        },
    )
