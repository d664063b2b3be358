"""PagerDuty Webhooks v3, read for notifications.inbound: the signature, and the body of an
incident.acknowledged or incident.resolved event.

PagerDuty signs the raw body with the subscription's secret, HMAC-SHA256 in hex, and sends it
as X-PagerDuty-Signature: "v1=<hex>", several comma-separated while a secret is rotated; any
one that matches is enough. The event:

    {"event": {"id": "01DEN...", "event_type": "incident.acknowledged",
               "occurred_at": "2026-12-07T14:00:00.000Z",
               "agent": {"id": "PLH1HKV", "summary": "Jane Doe", "type": "user_reference"},
               "data": {"id": "PGR0VU2", "type": "incident",
                        "incident_key": "incident:<the portal's incident id>", ...}}}

`incident_key` is the Events API dedup_key the portal sent (senders.paging)."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from django.http import HttpRequest
from django.utils.dateparse import parse_datetime

from .inbound import ACKNOWLEDGED, RESOLVED, Inbound, Refused, endpoint, text
from .models import Kind

SIGNATURE_HEADER = "HTTP_X_PAGERDUTY_SIGNATURE"
VERBS = {"incident.acknowledged": ACKNOWLEDGED, "incident.resolved": RESOLVED}
MAX_SIGNATURES = 10


def sign(secret: str, body: bytes) -> str:
    """The header value PagerDuty sends for `body`."""
    return "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(request: HttpRequest, secret: str) -> None:
    header = request.META.get(SIGNATURE_HEADER, "")
    if not header.strip():
        raise Refused(401, "Send X-PagerDuty-Signature: the request is not signed.")
    expected = sign(secret, request.body).removeprefix("v1=")
    offered = [part.strip() for part in header.split(",")][:MAX_SIGNATURES]
    matched = False
    for signature in offered:
        version, _, value = signature.partition("=")
        if version == "v1" and hmac.compare_digest(expected, value.strip().lower()):
            matched = True  # every one compared: no hint from timing which one matched
    if not matched:
        raise Refused(401, "X-PagerDuty-Signature does not match the body and this secret.")


def parse(data: dict[str, Any]) -> Inbound:
    event = data.get("event")
    if not isinstance(event, dict):
        raise Refused(400, "Not a PagerDuty v3 webhook: no event object.")
    event_id = text(event.get("id"), 200)
    event_type = text(event.get("event_type"), 100)
    if not event_id or not event_type:
        raise Refused(400, "A PagerDuty event has an id and an event_type.")
    verb = VERBS.get(event_type, "")
    if not verb:
        return Inbound(event_id=event_id, verb="", event_type=event_type)
    raw_time = text(event.get("occurred_at"), 60)
    occurred_at = parse_datetime(raw_time) if raw_time else None
    if raw_time and (occurred_at is None or occurred_at.tzinfo is None):
        raise Refused(400, "occurred_at is not an ISO 8601 time with its zone.")
    incident = event.get("data")
    if not isinstance(incident, dict) or not text(incident.get("incident_key"), 300):
        raise Refused(400, "The event's data is not an incident with an incident_key.")
    agent = event.get("agent")
    agent = agent if isinstance(agent, dict) else {}
    is_user = agent.get("type") in ("user_reference", "user")
    return Inbound(
        event_id=event_id,
        verb=verb,
        event_type=event_type,
        subject_key=text(incident.get("incident_key"), 300),
        agent=text(agent.get("id"), 40) if is_user else "",
        agent_name=text(agent.get("summary"), 100),
        occurred_at=occurred_at,
    )


# POST /integrations/pagerduty/<channel id>/
webhook = endpoint(Kind.PAGERDUTY, verify, parse)
