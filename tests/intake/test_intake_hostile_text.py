"""What a hostile or careless log source puts in an alert's text is stored and shown as one
line of bounded length, through the real endpoint: a line break in a title, or the longest
title the intake keeps, breaks nothing downstream (timeline entries, notifications)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from alerts.intake.base import MAX_TITLE
from alerts.models import Alert, Incident, IncidentEvent, IntakeSource
from tenants.rls import rls_bypass

pytestmark = pytest.mark.django_db
SAMPLES = Path(__file__).parent.parent / "intake" / "samples"


def source_of(tenant, kind):
    with rls_bypass("test fixture"):
        source = IntakeSource(tenant=tenant, name=f"{kind} sensor", kind=kind)
        key = source.set_new_key()
        source.save()
    return key


def post(client, kind, key, document, content_type="application/json"):
    body = document if isinstance(document, bytes) else json.dumps(document).encode()
    return client.generic(
        "POST",
        f"/api/v1/intake/{kind}/",
        body,
        content_type=content_type,
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )


def rows(model, tenant):
    with rls_bypass("test"):
        return list(model.objects.for_tenant(tenant))


def test_a_title_with_line_breaks_is_stored_as_one_line(client, two_tenants):
    key = source_of(two_tenants["a"], "generic")
    response = post(
        client,
        "generic",
        key,
        {"title": "Login\r\nBcc: attacker@evil.example\u2028now", "severity": "high"},
    )
    assert response.status_code == 202, response.content
    (alert,) = rows(Alert, two_tenants["a"])
    (incident,) = rows(Incident, two_tenants["a"])
    assert alert.title == incident.title == "Login Bcc: attacker@evil.example now"


def test_a_resolved_notice_of_the_longest_title_is_recorded(client, two_tenants):
    """Alertmanager's resolved notice adds "Source reports resolved: <title>" to the
    incident's timeline: with a title of MAX_TITLE characters that was longer than the
    column, and on PostgreSQL the whole request failed (the resolution never recorded, the
    sender retrying for ever)."""
    key = source_of(two_tenants["a"], "alertmanager")
    firing = json.loads((SAMPLES / "alertmanager_firing.json").read_text())
    firing["alerts"] = firing["alerts"][:1]
    firing["alerts"][0]["annotations"]["summary"] = "s" * 2000
    assert post(client, "alertmanager", key, firing).status_code == 202
    (alert,) = rows(Alert, two_tenants["a"])
    assert len(alert.title) == MAX_TITLE
    resolved = copy.deepcopy(firing)
    resolved["status"] = resolved["alerts"][0]["status"] = "resolved"
    resolved["alerts"][0]["endsAt"] = "2026-11-27T10:45:00Z"
    response = post(client, "alertmanager", key, resolved)
    assert response.status_code == 202, response.content[:300]
    (alert,) = rows(Alert, two_tenants["a"])
    assert alert.status == "resolved"
    (event,) = [e for e in rows(IncidentEvent, two_tenants["a"]) if e.kind == "alert_resolved"]
    assert event.summary.startswith("Source reports resolved: InstanceDown: sss")
    assert len(event.summary) <= IncidentEvent._meta.get_field("summary").max_length
