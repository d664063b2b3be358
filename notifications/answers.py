"""The page a message's one-click answer opens (notifications.links): it checks the link,
shows what the answer will do and asks for a click; the POST performs the portal's own action
for the signed-in user and records the answer on the delivery, once."""

from __future__ import annotations

import uuid

from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone

from alerts.models import Incident
from sla.forms import DeclineForm
from sla.models import Escalation
from tenants import audit
from tenants.access import Access
from tenants.actions import page_perform
from tenants.views import portal_view

from . import links
from .models import Delivery


def _page(request: HttpRequest, status: int, **context: object) -> HttpResponse:
    return render(request, "notifications/answer.html", context, status=status)


@portal_view
def answer(request: HttpRequest, access: Access, token: str) -> HttpResponse:
    try:
        delivery_id, offered = links.read(token)
    except links.LinkExpired:
        return _page(
            request, 410, problem="This link has expired: open the incident in the portal."
        )
    except links.LinkInvalid:
        return _page(request, 400, problem="This is not a link the portal sent (or it was cut).")
    delivery = _delivery(access, delivery_id)
    target = _target(access, delivery, offered) if delivery is not None else None
    if delivery is None or target is None:  # not this user's tenant, or gone
        return _page(request, 404, problem="There is nothing here for you to answer.")
    context = {"delivery": delivery, "offered": offered, "target": target}
    if delivery.acted_at is not None:
        return _page(request, 409, used=True, **context)
    form = DeclineForm(request.POST or None) if offered.verb == "decline" else None
    if request.method != "POST":
        return _page(request, 200, form=form, **context)
    if form is not None and not form.is_valid():
        return _page(request, 400, form=form, **context)
    with transaction.atomic():
        claimed = Delivery.objects.for_tenant(delivery.tenant_id).filter(
            pk=delivery.pk, acted_at=None
        )
        if not claimed.update(acted_at=timezone.now(), acted_by=request.user, acted=offered.verb):
            return _page(request, 409, used=True, **context)  # answered meanwhile
        data = form.inputs() if form is not None else {}
        done, _ = page_perform(request, offered.action, access=access, target=target, data=data)
        if not done:  # the action said no (its message is shown): the link stays usable
            transaction.set_rollback(True)
            return _page(request, 400, form=form, **context)
        audit.record(
            f"delivery.{offered.verb}",
            tenant=delivery.tenant_id,
            obj=delivery,
            request=request,
            summary=f"{offered.label} from a {delivery.get_kind_display()} message",
            data={"delivery": str(delivery.pk), "channel": delivery.kind, "answer": offered.verb},
        )
    return redirect("incident", pk=delivery.incident_id)


def _delivery(access: Access, delivery_id: uuid.UUID) -> Delivery | None:
    found: Delivery | None = (
        Delivery.objects.for_tenants(access.tenant_ids)
        .select_related("acted_by")
        .filter(pk=delivery_id)
        .first()
    )
    return found


def _target(
    access: Access, delivery: Delivery, offered: links.Answer
) -> Incident | Escalation | None:
    if offered.target == "incident":
        incidents = Incident.objects.for_tenants(access.tenant_ids)
        incident: Incident | None = incidents.filter(pk=delivery.incident_id).first()
        return incident
    escalation_id = (delivery.message.get("data") or {}).get("escalation")
    escalation: Escalation | None = (
        Escalation.objects.for_tenants(access.tenant_ids)
        .select_related("incident")
        .filter(pk=escalation_id)
        .first()
        if escalation_id
        else None
    )
    return escalation
