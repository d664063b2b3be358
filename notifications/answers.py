"""The page a message's one-click answer opens (notifications.links): it checks the link,
shows what the answer will do and asks for a click; the POST performs the portal's own action
for the signed-in user and records the answer on the delivery, once.

`perform_answer` is that answer, whoever asks: this page (via "link") and a Slack app's
button (notifications.slack, via "slack") both claim the delivery once, perform the same
Action for the same user with every check it makes, record acted / acted_by / acted_at on the
delivery and audit which way the answer came."""

from __future__ import annotations

import uuid
from typing import Any, cast

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone

from alerts.models import Incident
from alerts.selectors import get_incidents
from response import policy as response_policy
from response.models import ActionStatus, ResponseAction
from sla.models import Escalation
from tenants import audit
from tenants.access import Access
from tenants.actions import Invalid, Refused, error_sentence, perform
from tenants.models import User
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
    delivery = delivery_for(access, delivery_id)
    target = target_for(access, delivery, offered) if delivery is not None else None
    if delivery is None or target is None:  # not this user's tenant, or gone
        return _page(request, 404, problem="There is nothing here for you to answer.")
    context = {"delivery": delivery, "offered": offered, "target": target}
    if delivery.acted_at is not None:
        return _page(request, 409, used=True, **context)
    settled = settled_sentence(target)
    if settled:
        return _page(request, 409, problem=settled)
    form = offered.form(request.POST or None) if offered.form is not None else None
    if request.method != "POST":
        return _page(request, 200, form=form, **context)
    if form is not None and not form.is_valid():
        return _page(request, 400, form=form, **context)
    data = form.inputs() if form is not None else {}
    user = cast(User, request.user)  # portal_view: signed in
    try:
        result = perform_answer(
            delivery,
            offered,
            target,
            user=user,
            access=access,
            data=data,
            via="link",
            request=request,
        )
    except AlreadyAnswered:
        return _page(request, 409, used=True, **context)  # answered meanwhile
    except Refused as exc:
        raise PermissionDenied(error_sentence(exc.detail)) from None
    except Invalid as exc:  # the action said no (its message is shown): the link stays usable
        messages.error(request, error_sentence(exc.detail))
        return _page(request, 400, form=form, **context)
    messages.success(request, offered.action.done_message(result))
    return redirect("incident", pk=delivery.incident_id)


class AlreadyAnswered(Exception):
    """The delivery's answer was given already (by this way or another)."""


def perform_answer(
    delivery: Delivery,
    offered: links.Answer,
    target: Incident | Escalation | ResponseAction,
    *,
    user: User,
    access: Access,
    data: dict[str, Any],
    via: str,
    request: HttpRequest | None = None,
) -> Any:
    """Claim `delivery`'s answer once and perform `offered`'s Action on `target` for `user`
    (with `access`: theirs), recording who, which and when on the delivery and, in the audit
    log, `via` which way ("link", "slack"). Raises AlreadyAnswered, or the action's Refused /
    Invalid, and then nothing is changed (the claim is undone: the answer stays possible)."""
    with transaction.atomic():
        claimed = Delivery.objects.for_tenant(delivery.tenant_id).filter(
            pk=delivery.pk, acted_at=None
        )
        if not claimed.update(acted_at=timezone.now(), acted_by=user, acted=offered.verb):
            raise AlreadyAnswered(offered.verb)
        result = perform(
            offered.action, access=access, target=target, data=data, actor=user, request=request
        )
        audit.record(
            f"delivery.{offered.verb}",
            actor=user,
            tenant=delivery.tenant_id,
            obj=delivery,
            request=request,
            summary=f"{offered.label} from a {delivery.get_kind_display()} message ({via})",
            data={
                "delivery": str(delivery.pk),
                "channel": delivery.kind,
                "answer": offered.verb,
                "via": via,
            },
        )
    return result


def delivery_for(access: Access, delivery_id: uuid.UUID) -> Delivery | None:
    found: Delivery | None = (
        Delivery.objects.for_tenants(access.tenant_ids)
        .select_related("acted_by")
        .filter(pk=delivery_id)
        .first()
    )
    return found


def settled_sentence(target: Incident | Escalation | ResponseAction) -> str:
    """Why a response action can no longer be answered ("" while it awaits approval): it was
    approved or rejected (in the portal, another message), or its clock ran out."""
    if not isinstance(target, ResponseAction) or target.status == ActionStatus.AWAITING_APPROVAL:
        return ""
    who = f" by {target.decided_by_name}" if target.decided_by_name else ""
    status = ActionStatus(target.status).label.lower()
    if target.status == ActionStatus.EXPIRED:
        return "Nobody answered in time: this response action expired and will not run."
    if target.status in (ActionStatus.APPROVED, ActionStatus.REJECTED):
        return f"This response action was {status}{who} already: nothing more to answer."
    return f"This response action is {status}: it no longer awaits approval."


def target_for(
    access: Access, delivery: Delivery, offered: links.Answer
) -> Incident | Escalation | ResponseAction | None:
    if offered.target == "response_action":
        action_id = links.response_action_of(delivery)
        action: ResponseAction | None = (
            response_policy.visible_actions(
                access, ResponseAction.objects.for_tenants(access.tenant_ids)
            )
            .select_related("incident")
            .filter(pk=action_id)
            .first()
            if action_id
            else None
        )
        return action
    if offered.target == "incident":
        incidents = get_incidents(access)
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
