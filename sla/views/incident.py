"""The incident page's SLA and escalation actions: escalate (a hand-off by MSSP staff, or a
customer asking the MSSP for assistance) and withdraw. Same rules as the API
(sla.escalation.escalate_as / withdraw_as); the incident page itself is alerts.views.incidents."""

from __future__ import annotations

from django.contrib import messages
from django.db import transaction
from django.http import Http404, HttpResponseRedirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from alerts.models import Incident
from tenants.views import error_text, portal_view

from .. import escalation, policy
from ..api.escalations import EscalateSerializer
from ..models import Escalation


@require_POST
@portal_view
def incident_escalate(request, access, pk):
    incident = Incident.objects.for_tenants(access.tenant_ids).filter(pk=pk).first()
    if incident is None:
        raise Http404("No such incident.")
    back = HttpResponseRedirect(reverse("incident", args=[incident.pk]))
    serializer = EscalateSerializer(data=request.POST)
    if not serializer.is_valid():
        messages.error(request, error_text(serializer.errors))
        return back
    data = serializer.validated_data
    try:
        with transaction.atomic():
            esc = escalation.escalate_as(
                access,
                incident,
                data["to"],
                actor=request.user,
                respond_minutes=data.get("respond_minutes"),
                note=data.get("note", ""),
            )
    except (policy.NotAllowed, escalation.EscalationError) as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Escalated: {esc.get_direction_display()}.")
    return back


@require_POST
@portal_view
def escalation_withdraw(request, access, pk):
    escalations = policy.visible_escalations(
        access, Escalation.objects.for_tenants(access.tenant_ids)
    )
    esc = escalations.filter(pk=pk).first()
    if esc is None:
        raise Http404("No such escalation.")
    try:
        with transaction.atomic():
            policy.check_withdraw(access, esc)
            escalation.escalation_withdraw(esc, actor=request.user)
    except (policy.NotAllowed, escalation.EscalationError) as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "Escalation withdrawn.")
    return HttpResponseRedirect(reverse("incident", args=[esc.incident_id]))
