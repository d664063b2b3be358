"""One path for every escalation action: the inbox and incident pages and the API run the same
sla.actions, so a rule changed in one place (sla.policy, an action's serializer) changes both;
another tenant's escalation is a 404 on both; a customer sees no MSSP-internal tier
escalation on either."""

from __future__ import annotations

from dataclasses import replace

import pytest
from rest_framework import serializers

from alerts.models import Incident
from sla import actions, escalation, policy
from sla.models import Escalation
from tenants.models import Team
from tenants.rls import rls_bypass
from tests.factories import ingest_alerts

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(two_tenants):
    """two_tenants with an in-house team in A and in B."""
    with rls_bypass("test fixture"):
        for key in ("a", "b"):
            Team.objects.create(tenant=two_tenants[key], name=f"{key} team", kind="in_house")
    return two_tenants


def _incident(world, key: str, title: str = "Suspicious login") -> Incident:
    with rls_bypass("test"):
        before = set(Incident.objects.for_tenant(world[key]).values_list("pk", flat=True))
    ingest_alerts(world[f"{key}_source"], 1, title=title)
    with rls_bypass("test"):
        return Incident.objects.for_tenant(world[key]).exclude(pk__in=before).get()


def _escalate(
    world, key: str, direction=Escalation.Direction.TO_CUSTOMER, title="Suspicious login"
) -> Escalation:
    """An escalation of a fresh incident of tenant `key`, as an analyst of it asks."""
    incident = _incident(world, key, title)
    analyst = world["analyst_a"] if key == "a" else world["analyst_b"]
    with rls_bypass("test fixture"):
        return escalation.escalation_request(
            incident, direction=direction, actor=analyst, respond_minutes=20
        )


def _status(esc: Escalation) -> str:
    with rls_bypass("test"):
        return Escalation.objects.for_tenant(esc.tenant_id).get(pk=esc.pk).status


def test_the_answer_rule_changed_once_changes_the_page_and_the_api(client, api, world, monkeypatch):
    by_page = _escalate(world, "a", title="Answered on the page")
    by_api = _escalate(world, "a", title="Answered through the API")
    client.force_login(world["a_responder"])
    responder_api = api(world["a_responder"])

    # Nobody may answer: the responder is refused on both paths, nothing changes.
    monkeypatch.setattr(policy, "may_answer", lambda access, esc: False)
    assert client.post(f"/inbox/escalations/{by_page.pk}/accept/").status_code == 403
    assert responder_api.post(f"/api/v1/escalations/{by_api.pk}/accept/").status_code == 403
    assert _status(by_page) == _status(by_api) == "pending"

    # Everyone in the tenant may answer: a customer admin (who normally only looks on) is
    # let through on both paths.
    monkeypatch.setattr(policy, "may_answer", lambda access, esc: True)
    client.force_login(world["a_admin"])
    page = client.post(f"/inbox/escalations/{by_page.pk}/accept/")
    assert page.status_code == 302, page.content[:300]
    through_api = api(world["a_admin"]).post(f"/api/v1/escalations/{by_api.pk}/accept/")
    assert through_api.status_code == 200, through_api.content
    assert _status(by_page) == _status(by_api) == "accepted"


def test_the_decline_input_changed_once_changes_the_page_and_the_api(
    client, api, world, monkeypatch
):
    by_page = _escalate(world, "a", title="Answered on the page")
    by_api = _escalate(world, "a", title="Answered through the API")

    class ShortReason(serializers.Serializer):
        reason = serializers.CharField(max_length=3)

    monkeypatch.setattr(actions, "DECLINE", replace(actions.DECLINE, serializer=ShortReason))
    client.force_login(world["a_responder"])
    page = client.post(
        f"/inbox/escalations/{by_page.pk}/decline/", {"reason": "Not ours"}, follow=True
    )
    assert any("3 characters" in str(m) for m in page.context["messages"])
    through_api = api(world["a_responder"]).post(
        f"/api/v1/escalations/{by_api.pk}/decline/", {"reason": "Not ours"}, format="json"
    )
    assert through_api.status_code == 400 and "3 characters" in str(through_api.json())
    assert _status(by_page) == _status(by_api) == "pending"


def test_another_tenants_escalation_is_a_404_on_the_pages_and_the_api(client, api, world):
    b_esc = _escalate(world, "b")
    client.force_login(world["a_responder"])
    for url in (
        f"/inbox/escalations/{b_esc.pk}/accept/",
        f"/inbox/escalations/{b_esc.pk}/decline/",
        f"/inbox/escalations/{b_esc.pk}/withdraw/",
        f"/escalations/{b_esc.pk}/withdraw/",
        f"/inbox/incidents/{b_esc.incident_id}/assistance/",
        f"/incidents/{b_esc.incident_id}/escalate/",
    ):
        assert client.post(url, {"reason": "not ours", "to": "mssp"}).status_code == 404, url
    responder_api = api(world["a_responder"])
    for verb in ("accept", "decline", "withdraw"):
        response = responder_api.post(
            f"/api/v1/escalations/{b_esc.pk}/{verb}/", {"reason": "not ours"}, format="json"
        )
        assert response.status_code == 404, verb
    escalate = responder_api.post(
        f"/api/v1/incidents/{b_esc.incident_id}/escalate/", {"to": "mssp"}, format="json"
    )
    assert escalate.status_code == 404
    assert _status(b_esc) == "pending"


def test_a_customer_sees_no_tier_escalation_on_the_pages_or_the_api(client, api, world):
    tier = _escalate(world, "a", direction=Escalation.Direction.TO_TIER)
    # the MSSP sees it
    assert api(world["analyst_a"]).get(f"/api/v1/escalations/{tier.pk}/").status_code == 200
    client.force_login(world["a_responder"])
    assert str(tier.pk) not in client.get("/inbox/").content.decode()
    assert client.post(f"/inbox/escalations/{tier.pk}/withdraw/").status_code == 404
    assert client.post(f"/escalations/{tier.pk}/withdraw/").status_code == 404
    responder_api = api(world["a_responder"])
    assert responder_api.get(f"/api/v1/escalations/{tier.pk}/").status_code == 404
    listed = responder_api.get("/api/v1/escalations/").json()
    assert str(tier.pk) not in str(listed)
    assert responder_api.post(f"/api/v1/escalations/{tier.pk}/withdraw/").status_code == 404


def test_the_visibility_rule_changed_once_hides_on_the_pages_and_the_api(
    client, api, world, monkeypatch
):
    esc = _escalate(world, "a")
    monkeypatch.setattr(
        policy, "visible_escalations", lambda access, escalations: escalations.none()
    )
    client.force_login(world["a_responder"])
    assert client.post(f"/inbox/escalations/{esc.pk}/accept/").status_code == 404
    assert client.post(f"/escalations/{esc.pk}/withdraw/").status_code == 404
    assert (
        api(world["a_responder"]).post(f"/api/v1/escalations/{esc.pk}/accept/").status_code == 404
    )
    assert _status(esc) == "pending"
