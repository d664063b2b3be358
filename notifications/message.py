"""What is sent: one message, already cut to what its recipient may see, in the shape every
channel kind renders its own way (an e-mail, a Slack message, an Adaptive Card, a PagerDuty
event, an SMS). Built by notifications.routing from an event; rendered by
notifications.senders."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from django.conf import settings

# What paging vendors are told, kept in step with the incident (PagerDuty `event_action`,
# Opsgenie's create / acknowledge / close).
TRIGGER, ACKNOWLEDGE, RESOLVE = "trigger", "acknowledge", "resolve"
ACTIONS = (TRIGGER, ACKNOWLEDGE, RESOLVE)


@dataclass(frozen=True)
class Message:
    event_type: str  # "incident.created", "sla.breached", "channel.test", ...
    # Stable for everything about one subject (an incident): PagerDuty's dedup_key and
    # Opsgenie's alias, so that acknowledge and resolve reach the alert that trigger opened.
    subject_key: str
    tenant_name: str  # which customer: every message says so
    title: str  # one line, already free of line breaks: "Critical incident opened: ..."
    text: str  # a few short lines: severity, status, the time left on the clock
    severity: str  # critical | high | medium | low | info, or "" when none applies
    url: str  # absolute link to the portal page the message is about
    action: str = TRIGGER
    delivery_id: str = ""  # the outbox row's id: the receiver's idempotency key
    occurred_at: str = ""  # ISO 8601 time of the event
    # The event as JSON for generic webhooks: only what the recipient may see.
    data: dict[str, Any] = field(default_factory=dict)
    # One-click answers, [label, url] each (notifications.links): made when the message is
    # sent, never stored, each a signed single-use link to a confirmation page.
    links: list[list[str]] = field(default_factory=list)


def incident_url(incident_id: str) -> str:
    return f"{settings.PORTAL_BASE_URL.rstrip('/')}/incidents/{incident_id}/"


NEUTRAL_TITLE = "An incident needs attention"
NEUTRAL_TEXT = (
    "Open the portal to read it: what it is about is classified TLP:AMBER, for your "
    "organisation's responders and admins, and is not shown in shared channels."
)


def neutral(message: Message) -> Message:
    """The message a shared channel gets about something classified TLP:AMBER (alerts.tlp):
    that something needs attention, and the link; no title, severity, status or text."""
    return replace(
        message,
        title=NEUTRAL_TITLE,
        text=NEUTRAL_TEXT,
        severity="",
        data={
            "event": message.data.get("event", message.event_type),
            "incident": message.data.get("incident"),
            "tlp": "amber",
        },
    )
