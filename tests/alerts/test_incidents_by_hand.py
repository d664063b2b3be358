"""Incidents opened by hand (a customer's report, an analyst's call) and alerts promoted into
one: who may, for which tenant, and what bad input answers."""

from __future__ import annotations

import pytest
from django.urls import reverse

from alerts.models import Alert, Incident
from tests.cases.conftest import incident_of, make_world, rows
from tests.cases.test_cases import REPORT, raise_incident

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(two_tenants):
    return make_world(two_tenants)


def test_viewers_cannot_open_incidents_and_nobody_opens_one_elsewhere(world, api, client):
    response = api(world["a_viewer"]).post("/api/v1/incidents/", REPORT, format="json")
    assert response.status_code == 403
    response = api(world["a_admin"]).post(
        "/api/v1/incidents/", {**REPORT, "tenant": "tenant-b"}, format="json"
    )
    assert response.status_code == 400 and "tenant" in response.json()["fields"]
    response = api(world["analyst_a"]).post(
        "/api/v1/incidents/", {**REPORT, "tenant": "tenant-b"}, format="json"
    )
    assert response.status_code == 400
    client.force_login(world["a_viewer"])
    assert client.get(reverse("incident-new")).status_code == 403
    assert not rows(Incident, tenant=world["b"])


def test_an_analyst_opens_one_by_hand_with_the_templates_severity(world, api):
    body = {"tenant": "tenant-a", "title": "Phone call: CEO fraud attempt", "category": "phishing"}
    response = api(world["analyst_a"]).post("/api/v1/incidents/", body, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["origin"] == "analyst" and response.json()["severity"] == "high"
    response = api(world["a_admin"]).post(
        "/api/v1/incidents/", {**REPORT, "severity": "critical"}, format="json"
    )
    assert response.status_code == 400 and "severity" in response.json()["fields"]


@pytest.mark.parametrize(
    "body,field",
    [
        ({}, "title"),
        ({"title": "   "}, "title"),
        ({"title": "x", "occurred_at": "yesterday"}, "occurred_at"),
        ({"title": "x", "occurred_at": "2999-01-01T00:00:00Z"}, "occurred_at"),
        ({"title": "x", "urgency": "whenever"}, "urgency"),
        ({"title": "x", "category": "<img src=x>"}, "category"),
        ({"title": "x" * 501}, "title"),
        ({"title": "x", "affected_assets": ["a"] * 101}, "affected_assets"),
        ({"title": "x", "description": "y" * 20_001}, "description"),
    ],
)
# --- tasks ---------------------------------------------------------------------------------------
def test_bad_reports_are_400_with_a_message(world, api, body, field):
    response = api(world["a_responder"]).post("/api/v1/incidents/", body, format="json")
    assert response.status_code == 400
    assert field in response.json()["fields"]


def test_a_page_raises_an_incident(world, client):
    client.force_login(world["a_responder"])
    response = client.post(
        reverse("incident-new"),
        {"title": "Laptop stolen", "urgency": "normal", "affected_assets": "ws-1\nws-2"},
    )
    assert response.status_code == 302
    incident = incident_of(world["a"], title="Laptop stolen")
    assert incident.origin == "customer" and incident.affected_assets == ["ws-1", "ws-2"]
    bad = client.post(reverse("incident-new"), {"title": "x", "occurred_at": "not a date"})
    assert bad.status_code == 400 and b"occurred_at" in bad.content


def test_analysts_promote_alerts_only_within_the_tenant(world, api):
    from tests.test_isolation_matrix import ingest_one

    a_alert, _ = ingest_one(world["a_source"], "A's alert")
    b_alert, _ = ingest_one(world["b_source"], "B's alert")
    body = raise_incident(api, world["a_responder"])
    url = f"/api/v1/incidents/{body['id']}/promote/"
    refused = api(world["a_admin"]).post(url, {"alerts": [str(a_alert.pk)]}, format="json")
    assert refused.status_code == 403
    crossed = api(world["analyst_a"]).post(url, {"alerts": [str(b_alert.pk)]}, format="json")
    assert crossed.status_code == 400
    assert rows(Alert, pk=b_alert.pk)[0].incident_id != body["id"]
    done = api(world["analyst_a"]).post(url, {"alerts": [str(a_alert.pk)]}, format="json")
    assert done.status_code == 200 and done.json()["alert_count"] == 1
    assert str(rows(Alert, pk=a_alert.pk)[0].incident_id) == body["id"]
    again = api(world["analyst_a"]).post(url, {"alerts": [str(a_alert.pk)]}, format="json")
    assert again.status_code == 400
