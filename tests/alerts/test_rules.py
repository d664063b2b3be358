"""Per-tenant suppression rules (owner, expiry) and correlation rules (fields, window)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from alerts.models import Alert, CorrelationRule, Incident, SuppressionRule
from tenants.models import AuditEvent
from tenants.rls import rls_bypass
from tests.factories import ingest_alerts

pytestmark = pytest.mark.django_db


def rows(model, tenant, **filters):
    with rls_bypass("test"):
        return list(model.objects.for_tenant(tenant).filter(**filters))


def in_days(n):
    return (timezone.now() + timedelta(days=n)).isoformat()


def test_suppressed_alerts_are_stored_but_raise_no_incident(api, two_tenants):
    client = api(two_tenants["analyst_a"])
    created = client.post(
        "/api/v1/tenants/tenant-a/suppression-rules/",
        {
            "name": "Vuln scanner",
            "reason": "Weekly authorised scan from 10.0.0.1",
            "conditions": {"observable": {"type": "ip", "value": "10.0.0.1"}},
            "expires_at": in_days(7),
        },
        format="json",
    )
    assert created.status_code == 201, created.json()
    assert created.json()["owner"] == two_tenants["analyst_a"].username
    ingest_alerts(two_tenants["a_source"], 2)  # first alert has ip 10.0.0.1, second 10.0.1.1
    alerts = rows(Alert, two_tenants["a"])
    assert len(alerts) == 2
    suppressed = [a for a in alerts if a.suppressed_by_id]
    assert len(suppressed) == 1 and suppressed[0].incident_id is None
    assert len(rows(Incident, two_tenants["a"])) == 1
    (rule,) = rows(SuppressionRule, two_tenants["a"])
    assert rule.hit_count == 1 and rule.last_hit_at is not None
    with rls_bypass("test"):
        assert (
            AuditEvent.objects.for_tenant(two_tenants["a"])
            .filter(action="suppression_rule.created")
            .exists()
        )


def test_expired_suppression_no_longer_applies(api, two_tenants):
    with rls_bypass("test"):
        SuppressionRule.objects.create(
            tenant=two_tenants["a"],
            name="old",
            reason="x",
            owner=two_tenants["analyst_a"],
            conditions={"title_contains": "login"},
            expires_at=timezone.now() - timedelta(1),
        )
    ingest_alerts(two_tenants["a_source"], 1)
    assert rows(Alert, two_tenants["a"])[0].suppressed_by_id is None


def test_suppression_rules_of_one_tenant_never_touch_another(api, two_tenants):
    api(two_tenants["analyst_a"]).post(
        "/api/v1/tenants/tenant-a/suppression-rules/",
        {
            "name": "all",
            "reason": "x",
            "conditions": {"title_contains": "login"},
            "expires_at": in_days(1),
        },
        format="json",
    )
    ingest_alerts(two_tenants["b_source"], 1)
    assert rows(Alert, two_tenants["b"])[0].suppressed_by_id is None


@pytest.mark.parametrize(
    "body,field",
    [
        ({"conditions": {}}, "conditions"),
        ({"conditions": {"colour": "red"}}, "conditions"),
        ({"conditions": {"severity": ["urgent"]}}, "conditions"),
        ({"conditions": {"observable": {"type": "ip"}}}, "conditions"),
        ({"expires_at": "2001-01-01T00:00:00Z"}, "expires_at"),
        ({"expires_at": in_days(400)}, "expires_at"),
    ],
)
def test_bad_suppression_rules_are_refused(api, two_tenants, body, field):
    payload = {
        "name": "r",
        "reason": "x",
        "conditions": {"rule_id": "5710"},
        "expires_at": in_days(1),
        **body,
    }
    response = api(two_tenants["analyst_a"]).post(
        "/api/v1/tenants/tenant-a/suppression-rules/", payload, format="json"
    )
    assert response.status_code == 400
    assert response.json()["detail"].startswith(field)


def test_who_may_manage_rules(api, two_tenants):
    url = "/api/v1/tenants/tenant-a/suppression-rules/"
    body = {"name": "r", "reason": "x", "conditions": {"rule_id": "1"}, "expires_at": in_days(1)}
    assert api(two_tenants["a_admin"]).post(url, body, format="json").status_code == 201
    assert api(two_tenants["a_responder"]).post(url, body, format="json").status_code == 403
    assert api(two_tenants["a_responder"]).get(url).status_code == 200
    assert api(two_tenants["a_viewer"]).get(url).status_code == 403
    assert api(two_tenants["analyst_b"]).get(url).status_code == 404


def test_correlation_groups_alerts_sharing_fields_within_the_window(api, two_tenants):
    client = api(two_tenants["analyst_a"])
    created = client.post(
        "/api/v1/tenants/tenant-a/correlation-rules/",
        {"name": "Per source", "group_by": ["source"], "window_minutes": 30},
        format="json",
    )
    assert created.status_code == 201, created.json()
    ingest_alerts(two_tenants["a_source"], 3)  # three distinct fingerprints
    incidents = rows(Incident, two_tenants["a"])
    assert len(incidents) == 1 and incidents[0].alert_count == 3
    # after the window, the same group starts a new incident
    with rls_bypass("test"):
        Incident.objects.for_tenant(two_tenants["a"]).update(
            last_seen=timezone.now() - timedelta(minutes=45)
        )
    ingest_alerts(two_tenants["a_source"], 1)
    assert len(rows(Incident, two_tenants["a"])) == 2


def test_correlation_needs_every_field(api, two_tenants):
    with rls_bypass("test"):
        CorrelationRule.objects.create(
            tenant=two_tenants["a"], name="by user", group_by=["observable:user"], window_minutes=60
        )
    ingest_alerts(two_tenants["a_source"], 2)  # these alerts carry no user
    assert len(rows(Incident, two_tenants["a"])) == 2


def test_bad_correlation_rules_are_refused(api, two_tenants):
    client = api(two_tenants["analyst_a"])
    for body in (
        {"group_by": [], "window_minutes": 5},
        {"group_by": ["colour"], "window_minutes": 5},
        {"group_by": ["source"], "window_minutes": 0},
    ):
        response = client.post(
            "/api/v1/tenants/tenant-a/correlation-rules/", {"name": "x", **body}, format="json"
        )
        assert response.status_code == 400, body
