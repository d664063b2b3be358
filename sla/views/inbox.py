"""The in-house inbox: a customer team's pending hand-offs (accept, decline with a reason),
the incidents it owns, its requests for MSSP assistance (ask, withdraw) and what was decided
lately."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import Exists, OuterRef, Prefetch, Q
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from alerts import tlp
from alerts.models import OPEN_STATUSES, Incident
from alerts.selectors import get_incidents
from tenants.access import Access
from tenants.actions import page_perform
from tenants.models import Team, Tenant
from tenants.views import portal_view

from .. import actions, policy
from ..forms import AssistanceForm, DeclineForm
from ..models import ClockState, Escalation, SlaClock
from .common import LIVE_CLOCK_STATES, URGENCY, first_error, refuse

DECIDED_DAYS = 7


def _escalations(access: Access):
    """The caller's tenant's escalations a customer sees (sla.policy.visible_escalations)."""
    return policy.visible_escalations(
        access, Escalation.objects.for_tenant(access.customer_tenant_id)
    )


def _owned_incidents(tenant: Tenant):
    """Open incidents the in-house team owns: its team's, a member's, accepted hand-offs (and,
    for an in-house tenant, every incident nobody at the MSSP has taken); not those the MSSP
    has taken over on a request for assistance."""
    accepted = Escalation.objects.for_tenant(tenant.pk).filter(
        incident=OuterRef("pk"),
        direction=Escalation.Direction.TO_CUSTOMER,
        status=Escalation.Status.ACCEPTED,
    )
    mine = (
        Q(owner_team__tenant_id=tenant.pk, owner_team__kind=Team.Kind.IN_HOUSE)
        | Q(owner__membership__tenant_id=tenant.pk)
        | Q(Exists(accepted))
    )
    if tenant.service_model == Tenant.ServiceModel.IN_HOUSE:
        mine |= Q(owner__isnull=True)
    return (
        Incident.objects.for_tenant(tenant.pk)
        .filter(status__in=OPEN_STATUSES)
        .filter(mine)
        .exclude(owner__staff_role__gt="")
    )


def _inbox_context(request, access: Access, *, decline_forms=None, assistance_forms=None):
    decline_forms, assistance_forms = decline_forms or {}, assistance_forms or {}
    tenant = Tenant.objects.get(pk=access.customer_tenant_id)
    now = timezone.now()
    # may_answer() for a hand-off to this tenant's team, asked once for the whole list
    can_answer = policy.answers_hand_offs(request.user, tenant)
    escalations = _escalations(access).select_related(
        "incident", "team", "requested_by", "responded_by"
    )
    pending = list(
        escalations.filter(
            direction=Escalation.Direction.TO_CUSTOMER, status=Escalation.Status.PENDING
        ).order_by("respond_by", "requested_at")
    )
    for esc in pending:
        esc.at_risk_at = (
            esc.requested_at + (esc.respond_by - esc.requested_at) * 0.75
            if esc.respond_by
            else None
        )
        esc.decline_form = decline_forms.get(esc.pk) or DeclineForm(auto_id=f"decline-{esc.pk}-%s")
    asked = list(
        escalations.filter(
            direction=Escalation.Direction.TO_MSSP, status=Escalation.Status.PENDING
        ).order_by("respond_by")
    )
    asked_for = {esc.incident_id for esc in asked}
    customer_clocks = SlaClock.objects.for_tenant(tenant.pk).filter(
        owner=SlaClock.Owner.CUSTOMER, state__in=[*LIVE_CLOCK_STATES, ClockState.PAUSED]
    )
    owned_qs = tlp.visible_incidents(access, _owned_incidents(tenant))
    owned = list(
        owned_qs.select_related("owner", "owner_team")
        .prefetch_related(Prefetch("sla_clocks", queryset=customer_clocks, to_attr="our_clocks"))
        .order_by(*URGENCY)[:100]
    )
    for incident in owned:
        incident.our_clock = min(
            incident.our_clocks, key=lambda c: c.due_at or incident.respond_by, default=None
        )
        incident.assistance_pending = incident.pk in asked_for
        incident.assistance_form = assistance_forms.get(incident.pk) or AssistanceForm(
            auto_id=f"assist-{incident.pk}-%s"
        )
    decided = list(
        escalations.filter(
            direction__in=[Escalation.Direction.TO_CUSTOMER, Escalation.Direction.TO_MSSP],
            responded_at__gte=now - timedelta(days=DECIDED_DAYS),
        )
        .exclude(status=Escalation.Status.PENDING)
        .order_by("-responded_at")[:50]
    )
    return {
        "tenant": tenant,
        "pending": pending,
        "asked": asked,
        "owned": owned,
        "owned_more": len(owned) == 100,
        "decided": decided,
        "decided_days": DECIDED_DAYS,
        "can_answer": can_answer,
        "can_request": access.is_customer_worker,
    }


def _inbox_page(request, access: Access, *, status: int = 200, **forms):
    context = _inbox_context(request, access, **forms)
    template = "sla/_inbox_live.html" if request.htmx else "sla/inbox.html"
    return render(request, template, context, status=status)


def _after_change(request, access: Access):
    """POST-redirect-GET; an htmx form gets the re-rendered list (with the message) instead."""
    if request.htmx:
        return _inbox_page(request, access)
    return redirect("inbox")


@portal_view
def inbox(request, access):
    if not access.is_customer_worker:
        return _not_in_house(request)
    return _inbox_page(request, access)


def _perform(request, access: Access, action, target, data=None):
    """Run the action as the API does (tenants.actions.page_perform); a refusal is the
    inbox's refusal page, anything else the inbox again with the outcome's message."""
    try:
        page_perform(request, action, access=access, target=target, data=data)
    except PermissionDenied as refusal:
        return refuse(request, str(refusal))
    return _after_change(request, access)


def _escalation_or_404(access: Access, pk):
    """The caller's tenant's escalation (never an MSSP-internal one): another tenant's is a
    404, as through the API."""
    return get_object_or_404(_escalations(access).select_related("incident"), pk=pk)


def _not_in_house(request):
    return refuse(request, "The inbox is for your organisation's in-house team.")


@require_POST
@portal_view
def inbox_accept(request, access, pk):
    """Accept a hand-off (POST /api/v1/escalations/{id}/accept/): actions.ACCEPT."""
    if not access.is_customer_worker:
        return _not_in_house(request)
    esc = _escalation_or_404(access, pk)
    return _perform(request, access, actions.ACCEPT, esc)


@require_POST
@portal_view
def inbox_decline(request, access, pk):
    """Decline a hand-off with a reason (POST /api/v1/escalations/{id}/decline/):
    actions.DECLINE. The form shows the serializer's verdict next to the field."""
    if not access.is_customer_worker:
        return _not_in_house(request)
    esc = _escalation_or_404(access, pk)
    form = DeclineForm(request.POST, auto_id=f"decline-{esc.pk}-%s")
    if not form.is_valid():
        messages.error(request, f"Not declined: {first_error(form)}")
        return _inbox_page(
            request, access, status=200 if request.htmx else 400, decline_forms={esc.pk: form}
        )
    return _perform(request, access, actions.DECLINE, esc)


@require_POST
@portal_view
def inbox_assistance(request, access, pk):
    """Ask the MSSP for help with an incident (POST /api/v1/incidents/{id}/escalate/
    {"to": "mssp"}): actions.ASK_ASSISTANCE, on the MSSP's acknowledge clock."""
    if not access.is_customer_worker:
        return refuse(request, "Only your organisation's responders and admins ask the MSSP.")
    incident = get_object_or_404(get_incidents(access), pk=pk)
    form = AssistanceForm(request.POST, auto_id=f"assist-{incident.pk}-%s")
    if not form.is_valid():
        messages.error(request, f"Not sent: {first_error(form)}")
        return _inbox_page(
            request,
            access,
            status=200 if request.htmx else 400,
            assistance_forms={incident.pk: form},
        )
    return _perform(request, access, actions.ASK_ASSISTANCE, incident)


@require_POST
@portal_view
def inbox_withdraw(request, access, pk):
    """Withdraw the team's own pending request for assistance (POST
    /api/v1/escalations/{id}/withdraw/): actions.WITHDRAW_ASSISTANCE, only the side that
    asked."""
    if not access.is_customer_worker:
        return _not_in_house(request)
    esc = _escalation_or_404(access, pk)
    return _perform(request, access, actions.WITHDRAW_ASSISTANCE, esc)
