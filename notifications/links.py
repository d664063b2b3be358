"""One-click answers from a message: acknowledge an incident, accept or decline a hand-off,
approve or reject a response action awaiting the customer's approval.

A link is signed (django.core.signing, its own salt) and names one delivery and one answer;
it expires (NOTIFICATION_LINK_MAX_AGE) and works once. It is made when the message is sent and
never stored, so the database holds nothing a reader could click. Clicking it only opens a
confirmation page: that needs the recipient's own session (the login page comes first), and
the answer is the portal's own action (alerts.actions.ACKNOWLEDGE, sla.actions.ACCEPT /
DECLINE, response.actions.APPROVE / REJECT) with every check it makes, so a link forwarded
to someone who may not answer is refused like their click in the portal would be. Who
answered, and through which channel, is on the delivery and in the audit log."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core import signing
from django.urls import reverse

from alerts import actions as incident_actions
from response import actions as response_actions
from response.forms import RejectForm
from sla import actions as escalation_actions
from sla.forms import DeclineForm
from tenants.actions import Action
from tenants.forms import SerializerForm

from .models import Delivery, Event

SALT = "notifications.links"


@dataclass(frozen=True)
class Answer:
    verb: str
    label: str  # the button's words
    action: Action
    # what the action is done to: "incident", "escalation" or "response_action"
    target: str
    # the inputs the confirmation page asks for (the action's serializer decides), or None
    form: type[SerializerForm] | None = None


ANSWERS = {
    "acknowledge": Answer("acknowledge", "Acknowledge", incident_actions.ACKNOWLEDGE, "incident"),
    "accept": Answer("accept", "Accept the hand-off", escalation_actions.ACCEPT, "escalation"),
    "decline": Answer("decline", "Decline…", escalation_actions.DECLINE, "escalation", DeclineForm),
    "approve": Answer("approve", "Approve the action", response_actions.APPROVE, "response_action"),
    "reject": Answer("reject", "Reject…", response_actions.REJECT, "response_action", RejectForm),
}
# Which answers a message about each event offers.
OFFERED = {
    Event.INCIDENT_OPENED: ("acknowledge",),
    Event.SLA_AT_RISK: ("acknowledge",),
    Event.SLA_BREACHED: ("acknowledge",),
    Event.ESCALATION_REQUESTED: ("accept", "decline"),
    # the customer's on-call approves or rejects a response action on its systems
    Event.ACTION_APPROVAL_REQUESTED: ("approve", "reject"),
    # a person paged: a hand-off to their team or an approval is answered, anything else
    # acknowledged
    "page": ("acknowledge", "accept", "decline", "approve", "reject"),
}


class LinkInvalid(ValueError):
    """Not a link the portal made (or altered since)."""


class LinkExpired(ValueError):
    """A link the portal made, but too long ago."""


def token(delivery_id: str, verb: str) -> str:
    return signing.dumps({"d": str(delivery_id), "v": verb}, salt=SALT, compress=True)


def read(value: str) -> tuple[uuid.UUID, Answer]:
    """(delivery id, answer) of a link's token; LinkInvalid or LinkExpired."""
    try:
        payload: Any = signing.loads(value, salt=SALT, max_age=settings.NOTIFICATION_LINK_MAX_AGE)
    except signing.SignatureExpired:
        raise LinkExpired("this link has expired") from None
    except signing.BadSignature:
        raise LinkInvalid("this is not a link the portal made") from None
    try:
        return uuid.UUID(payload["d"]), ANSWERS[payload["v"]]
    except (KeyError, TypeError, ValueError):
        raise LinkInvalid("this is not a link the portal made") from None


def read_any_age(value: str) -> tuple[uuid.UUID, Answer, bool]:
    """(delivery id, answer, expired) of a token, however old: a Slack click is verified with
    the signing secret of the token's delivery's channel before it is told that the token has
    expired. LinkInvalid when the portal did not make it."""
    try:
        delivery_id, answer = read(value)
    except LinkExpired:
        try:
            payload: Any = signing.loads(value, salt=SALT)
            return uuid.UUID(payload["d"]), ANSWERS[payload["v"]], True
        except (signing.BadSignature, KeyError, TypeError, ValueError):
            raise LinkInvalid("this is not a link the portal made") from None
    return delivery_id, answer, False


def links_for(delivery: Delivery) -> list[list[str]]:
    """[label, url] of each answer the delivery's message offers (none for a test)."""
    if delivery.is_test or delivery.incident_id is None:
        return []
    verbs = OFFERED.get(delivery.event_type, ())
    base = settings.PORTAL_BASE_URL.rstrip("/")
    return [
        [
            ANSWERS[verb].label,
            base + reverse("notification-answer", args=[token(str(delivery.pk), verb)]),
        ]
        for verb in verbs
        if ANSWERS[verb].target == _answers_about(delivery)
    ]


def _answers_about(delivery: Delivery) -> str:
    """What the delivery's answers are done to: a response action awaiting the customer's
    approval (never from an MSSP team's message: approval is the customer's yes), a hand-off
    made to the customer's own team, else the incident."""
    if response_action_of(delivery):
        return "" if delivery.staff_only else "response_action"
    data = delivery.message.get("data") or {}
    if data.get("escalation") and data.get("direction") == "to_customer":
        return "escalation"
    return "incident"


def response_action_of(delivery: Delivery) -> str:
    """The id of the response action a delivery asks to approve ("" for none): the
    approval request's message names it, a page about it names it as what it is about."""
    data = delivery.message.get("data") or {}
    if data.get("response_action"):
        return str(data["response_action"])
    if data.get("direction") == "approval" and data.get("escalation"):
        return str(data["escalation"])
    return ""
