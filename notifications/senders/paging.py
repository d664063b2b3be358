"""Paging: PagerDuty Events API v2 and Opsgenie Alert API v2. The message's subject key is
PagerDuty's dedup_key and Opsgenie's alias, so acknowledge and resolve reach the alert that
trigger opened."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from django.conf import settings

from ..message import ACKNOWLEDGE, TRIGGER, Message
from .base import CLIENT, JSON_HEADERS, Answer, bounded_key, cut, post, secret, tenant_of, to_json

_PAGERDUTY_SEVERITY = {"critical": "critical", "high": "error", "medium": "warning"}  # else info
_OPSGENIE_PRIORITY = {"critical": "P1", "high": "P2", "medium": "P3", "low": "P4"}  # else P5


def send_pagerduty(target: str, secrets: Mapping[str, str], message: Message) -> Answer:
    event: dict[str, Any] = {
        "routing_key": secret(secrets, "routing_key"),
        "event_action": message.action,
        "dedup_key": bounded_key(message.subject_key, 255),
    }
    if message.action == TRIGGER:
        tenant = tenant_of(message)
        payload: dict[str, Any] = {
            "summary": cut(f"[{tenant}] {message.title}", 1024),
            "source": f"{tenant} via {CLIENT}",
            "severity": _PAGERDUTY_SEVERITY.get(message.severity, "info"),
            "custom_details": {
                "customer": tenant,
                "event": message.event_type,
                "details": message.text,
                "url": message.url,
            },
        }
        if message.occurred_at:
            payload["timestamp"] = message.occurred_at
        event |= {"payload": payload, "client": CLIENT}
        if message.url:
            event["client_url"] = message.url
            event["links"] = [{"href": message.url, "text": f"Open in the {CLIENT}"}]
    return post(settings.PAGERDUTY_EVENTS_URL, to_json(event).encode(), JSON_HEADERS)


def send_opsgenie(target: str, secrets: Mapping[str, str], message: Message) -> Answer:
    headers = {"Authorization": f"GenieKey {secret(secrets, 'api_key')}", **JSON_HEADERS}
    alerts = settings.OPSGENIE_API_URL.rstrip("/") + "/v2/alerts"
    alias = bounded_key(message.subject_key, 512)
    if message.action == TRIGGER:
        tenant = tenant_of(message)
        alert = {
            "message": cut(f"[{tenant}] {message.title}", 130),
            "alias": alias,
            "description": cut(f"{message.text}\n\n{message.url}".strip(), 15000),
            "priority": _OPSGENIE_PRIORITY.get(message.severity, "P5"),
            "source": CLIENT,
            "details": {"tenant": tenant, "event": message.event_type, "url": message.url},
        }
        return post(alerts, to_json(alert).encode(), headers)
    verb = "acknowledge" if message.action == ACKNOWLEDGE else "close"
    url = f"{alerts}/{quote(alias, safe='')}/{verb}?identifierType=alias"
    note = {"source": CLIENT, "note": cut(message.title, 1000)}
    return post(url, to_json(note).encode(), headers)
