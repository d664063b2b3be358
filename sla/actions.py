"""What a user can do with escalations, one Action each, run by the pages (sla.views) and the
API (sla.api.escalations) alike through tenants.actions: the rules are sla.policy's, the
inputs sla.api.serializers', the writes sla.escalation's."""

from __future__ import annotations

from dataclasses import replace
from uuid import UUID

from django.http import HttpRequest

from alerts.models import Incident
from tenants.access import Access
from tenants.actions import Action
from tenants.models import User

from . import escalation, policy
from .api.serializers import AssistanceSerializer, DeclineSerializer, EscalateSerializer
from .models import Escalation


def _escalate(
    incident: Incident,
    *,
    actor: User,
    access: Access,
    request: HttpRequest | None,
    to: str,
    team: UUID | None = None,
    respond_minutes: int | None = None,
    note: str = "",
) -> Escalation:
    # Who may escalate where depends on the input's "to", so the rule
    # (policy.check_escalate) is asked by escalate_as once the input is valid.
    return escalation.escalate_as(
        access,
        incident,
        to,
        actor=actor,
        team_id=team,
        respond_minutes=respond_minutes,
        note=note,
    )


def _check_answer(access: Access, esc: Escalation) -> None:
    policy.check_answer(access, esc)


def _check_withdraw(access: Access, esc: Escalation) -> None:
    policy.check_withdraw(access, esc)


def _accept(
    esc: Escalation, *, actor: User, access: Access, request: HttpRequest | None
) -> Escalation:
    return escalation.escalation_accept(esc, actor=actor)


def _decline(
    esc: Escalation, *, actor: User, access: Access, request: HttpRequest | None, reason: str
) -> Escalation:
    return escalation.escalation_decline(esc, actor=actor, reason=reason)


def _withdraw(
    esc: Escalation, *, actor: User, access: Access, request: HttpRequest | None
) -> Escalation:
    return escalation.escalation_withdraw(esc, actor=actor)


def _title(esc: Escalation) -> str:
    title: str = (
        Incident.objects.for_tenant(esc.tenant_id)
        .values_list("title", flat=True)
        .get(pk=esc.incident_id)
    )
    return title


# An MSSP analyst hands an incident off (in-house team, NOC, tier); a customer's in-house
# team asks the MSSP for assistance. POST /incidents/{id}/escalate/ and the incident page.
ESCALATE = Action(
    name="escalate",
    serializer=EscalateSerializer,
    do=_escalate,
    done=lambda esc: f"Escalated: {esc.get_direction_display()}.",
)
# The inbox's "ask the MSSP" form: the same action, its input always "to": "mssp".
ASK_ASSISTANCE = replace(
    ESCALATE,
    name="ask_assistance",
    serializer=AssistanceSerializer,
    done=lambda esc: f"The MSSP has been asked to help with “{_title(esc)}”.",
)

# Answering: the team an escalation went to accepts it or declines it with a reason.
ACCEPT = Action(
    name="accept",
    check=_check_answer,
    do=_accept,
    done=lambda esc: f"Accepted: “{_title(esc)}” is now your team's.",
)
DECLINE = Action(
    name="decline",
    check=_check_answer,
    serializer=DeclineSerializer,
    do=_decline,
    done=lambda esc: f"Declined: “{_title(esc)}” goes back to the MSSP with your reason.",
)

# Only the side that asked withdraws a pending escalation.
WITHDRAW = Action(
    name="withdraw",
    check=_check_withdraw,
    do=_withdraw,
    done="Escalation withdrawn.",
)
# The inbox withdraws the team's own request for assistance.
WITHDRAW_ASSISTANCE = replace(
    WITHDRAW,
    name="withdraw_assistance",
    done=lambda esc: f"Your request for help with “{_title(esc)}” is withdrawn.",
)
