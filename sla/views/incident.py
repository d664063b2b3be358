"""The incident page's SLA and escalation buttons: escalate (a hand-off by MSSP staff, or a
customer asking the MSSP for assistance) and withdraw. Both run the API's actions
(sla.actions.ESCALATE, WITHDRAW); the incident page itself is alerts.views.incidents."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from alerts.selectors import get_incidents
from tenants.actions import page_perform
from tenants.views import portal_view

from .. import actions, policy
from ..models import Escalation


def _perform_on_incident_page(request, action, *, access, target) -> None:
    """The incident page shows a refusal as a message above the incident, as an invalid
    input or state, rather than a 403 page: the caller stays where they were."""
    try:
        page_perform(request, action, access=access, target=target)
    except PermissionDenied as refusal:
        messages.error(request, str(refusal))


@require_POST
@portal_view
def incident_escalate(request, access, pk):
    incident = get_incidents(access).filter(pk=pk).first()
    if incident is None:
        raise Http404("No such incident.")
    _perform_on_incident_page(request, actions.ESCALATE, access=access, target=incident)
    return HttpResponseRedirect(reverse("incident", args=[incident.pk]))


@require_POST
@portal_view
def escalation_withdraw(request, access, pk):
    escalations = policy.visible_escalations(
        access, Escalation.objects.for_tenants(access.tenant_ids)
    )
    esc = escalations.filter(pk=pk).first()
    if esc is None:
        raise Http404("No such escalation.")
    _perform_on_incident_page(request, actions.WITHDRAW, access=access, target=esc)
    return HttpResponseRedirect(reverse("incident", args=[esc.incident_id]))
