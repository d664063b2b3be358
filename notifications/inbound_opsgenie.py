"""Opsgenie's outgoing webhook, read for notifications.inbound: its token, and the body of an
Acknowledge or Close action.

Opsgenie does not sign its webhooks; its Webhook integration sends custom headers, so the
channel's webhook secret is sent as X-MSSP-Token and compared in constant time. The body:

    {"action": "Acknowledge",
     "alert": {"alertId": "…", "alias": "incident:<the portal's incident id>",
               "username": "jane@customer.example", "updatedAt": 1765116000000, …},
     "source": {"name": "…", "type": "mobile"}, "integrationName": "…"}

`alias` is the alias the portal created the alert with (senders.paging); `username` is the
Opsgenie user who acted (their e-mail address). Opsgenie gives an event no id of its own: one
is the alert, the action and the alert's update time."""

from __future__ import annotations

import hmac
from typing import Any

from django.http import HttpRequest

from .inbound import ACKNOWLEDGED, RESOLVED, Inbound, Refused, endpoint, text
from .models import Kind

TOKEN_HEADER = "HTTP_X_MSSP_TOKEN"  # noqa: S105 (a header name)
VERBS = {"Acknowledge": ACKNOWLEDGED, "Close": RESOLVED}


def verify(request: HttpRequest, secret: str) -> None:
    token = request.META.get(TOKEN_HEADER, "")
    if not token:
        raise Refused(401, "Send the channel's webhook secret in X-MSSP-Token.")
    if not hmac.compare_digest(token.encode(), secret.encode()):
        raise Refused(401, "X-MSSP-Token is not this channel's webhook secret.")


def parse(data: dict[str, Any]) -> Inbound:
    action = text(data.get("action"), 60)
    alert = data.get("alert")
    if not action or not isinstance(alert, dict):
        raise Refused(400, "Not an Opsgenie webhook: no action and alert.")
    alert_id = text(alert.get("alertId"), 100)
    if not alert_id:
        raise Refused(400, "The alert has no alertId.")
    updated = alert.get("updatedAt")
    stamp = str(updated) if isinstance(updated, int | str) else ""
    event_id = f"{alert_id}:{action}:{stamp[:40]}"
    verb = VERBS.get(action, "")
    if not verb:
        return Inbound(event_id=event_id, verb="", event_type=action)
    alias = text(alert.get("alias"), 512)
    if not alias:
        raise Refused(400, "The alert has no alias.")
    username = text(alert.get("username"), 254)
    return Inbound(
        event_id=event_id,
        verb=verb,
        event_type=action,
        subject_key=alias,
        agent=username,
        agent_name=username,
    )


# POST /integrations/opsgenie/<channel id>/
webhook = endpoint(Kind.OPSGENIE, verify, parse)
