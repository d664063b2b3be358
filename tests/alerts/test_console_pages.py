"""The analyst console, the incident page and the alert pages (Django's test client; the
browser tests drive the same pages in Chromium). Each scenario has an outsider: tenant B's
objects exist, and every attempt on them from tenant A's side is a 404 that changes nothing."""

from __future__ import annotations

import pytest

from alerts.models import Alert, Comment, Incident, IncidentStatus
from sla.models import Escalation
from tenants.models import Team
from tenants.rls import rls_bypass
from tests.factories import ingest_alerts

pytestmark = pytest.mark.django_db


def _incident(source, title="Suspicious login") -> Incident:
    ingest_alerts(source, 1, title=title)
    with rls_bypass("test: the incident just opened"):
        return (
            Incident.objects.dangerously_unscoped("test")
            .filter(tenant=source.tenant, title__startswith=title)
            .latest("created_at")
        )


def _fresh(incident: Incident) -> Incident:
    with rls_bypass("test: re-read"):
        return Incident.objects.dangerously_unscoped("test").get(pk=incident.pk)


@pytest.fixture
def world(two_tenants):
    w = two_tenants
    w["inc_a"] = _incident(w["a_source"], "Brute force on VPN")
    w["inc_b"] = _incident(w["b_source"], "Ransomware note on FS01")
    return w


def _messages(response) -> str:
    return " ".join(str(m) for m in response.context["messages"]) if response.context else ""


# --- the queue -------------------------------------------------------------------------------


def test_analyst_queue_lists_only_the_tenants_they_work(client, world):
    assert _fresh(world["inc_b"]).tenant == world["b"]  # B's incident exists
    client.force_login(world["analyst_a"])
    page = client.get("/console/")
    assert page.status_code == 200
    body = page.content.decode()
    assert "Brute force on VPN" in body
    assert "Ransomware note on FS01" not in body
    # Filtering by B's slug names nothing the analyst may see.
    body = client.get("/console/?tenant=tenant-b").content.decode()
    assert "Ransomware note on FS01" not in body


def test_the_queue_is_for_mssp_staff_only(client, world):
    client.force_login(world["a_admin"])
    assert client.get("/console/").status_code == 403


def test_queue_filters_and_bad_filter_values(client, world):
    client.force_login(world["mssp_admin"])
    body = client.get("/console/?severity=high&q=ransom").content.decode()
    assert "Ransomware note on FS01" in body and "Brute force on VPN" not in body
    bad = client.get("/console/?status=exploded")
    assert bad.status_code == 400
    assert "not a status" in bad.content.decode()
    bad = client.get("/console/?since=yesterday-ish")
    assert bad.status_code == 400
    assert "since" in bad.content.decode()


def test_queue_live_fragment_renders_the_rows_only(client, world):
    client.force_login(world["analyst_a"])
    fragment = client.get("/console/?fragment=rows", headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    body = fragment.content.decode()
    assert "Brute force on VPN" in body and "<html" not in body
    assert "Ransomware note on FS01" not in body


def test_queue_shows_the_sla_countdown_of_the_next_clock(client, world):
    client.force_login(world["analyst_a"])
    body = client.get("/console/").content.decode()
    assert "data-countdown" in body  # the default contract starts clocks for a high incident


def test_claim_and_acknowledge_from_the_queue(client, world):
    inc = world["inc_a"]
    client.force_login(world["analyst_a"])
    client.post(f"/incidents/{inc.pk}/act/", {"action": "claim", "next": "/console/"})
    response = client.post(
        f"/incidents/{inc.pk}/act/", {"action": "acknowledge", "next": "/console/"}, follow=True
    )
    assert response.redirect_chain[-1][0] == "/console/"
    inc = _fresh(inc)
    assert inc.owner == world["analyst_a"] and inc.status == IncidentStatus.ACKNOWLEDGED


def test_next_is_never_off_site(client, world):
    client.force_login(world["analyst_a"])
    response = client.post(
        f"/incidents/{world['inc_a'].pk}/act/",
        {"action": "claim", "next": "https://evil.example/"},
    )
    assert response.status_code == 302
    assert response["Location"] == f"/incidents/{world['inc_a'].pk}/"


def test_bulk_acknowledges_mine_and_reports_the_other_tenants_as_not_found(client, world):
    client.force_login(world["analyst_a"])
    response = client.post(
        "/console/bulk/",
        {"ids": [world["inc_a"].pk, world["inc_b"].pk], "action": "acknowledge"},
        follow=True,
    )
    text = _messages(response)
    assert "1 incident(s) done" in text and "not found" in text
    assert _fresh(world["inc_a"]).status == IncidentStatus.ACKNOWLEDGED
    assert _fresh(world["inc_b"]).status == IncidentStatus.NEW


@pytest.mark.parametrize(
    "data, expected",
    [
        ({"action": "acknowledge"}, "Choose at least one incident"),
        ({"ids": ["not-a-uuid"], "action": "acknowledge"}, "ids"),
        ({"ids": ["00000000-0000-0000-0000-000000000000"], "action": "explode"}, "action"),
    ],
)
def test_bulk_bad_input_is_a_message_not_a_500(client, world, data, expected):
    client.force_login(world["analyst_a"])
    response = client.post("/console/bulk/", data, follow=True)
    assert response.status_code == 200
    assert expected in _messages(response)


def test_illegal_transition_is_refused_with_the_reason(client, world):
    client.force_login(world["analyst_a"])
    response = client.post(
        f"/incidents/{world['inc_a'].pk}/act/",
        {"action": "transition", "status": "closed"},
        follow=True,
    )
    assert "can move to" in _messages(response)
    assert _fresh(world["inc_a"]).status == IncidentStatus.NEW
    response = client.post(
        f"/incidents/{world['inc_a'].pk}/act/",
        {"action": "transition", "status": "awaiting_customer", "reason": ""},
        follow=True,
    )
    assert "reason" in _messages(response).lower()


# --- the incident page -----------------------------------------------------------------------


def test_incident_page_of_another_tenant_is_a_404(client, world):
    client.force_login(world["a_viewer"])
    assert client.get(f"/incidents/{world['inc_a'].pk}/").status_code == 200
    assert client.get(f"/incidents/{world['inc_b'].pk}/").status_code == 404
    client.force_login(world["analyst_a"])
    assert client.get(f"/incidents/{world['inc_b'].pk}/").status_code == 404
    for path in ("act", "comment", "contain", "escalate"):
        response = client.post(
            f"/incidents/{world['inc_b'].pk}/{path}/", {"action": "claim", "body": "x"}
        )
        assert response.status_code == 404, path
    assert _fresh(world["inc_b"]).owner is None
    with rls_bypass("test"):
        assert not Comment.objects.dangerously_unscoped("t").filter(incident=world["inc_b"])


def test_incident_page_shows_alerts_observables_raw_and_clocks(client, world):
    client.force_login(world["analyst_a"])
    body = client.get(f"/incidents/{world['inc_a'].pk}/").content.decode()
    assert "Raw payload" in body and "10.0.0.1" in body
    assert "Acknowledge" in body and 'data-target="acknowledge"' in body


def test_customers_see_shared_comments_only_and_post_shared(client, world):
    inc = world["inc_a"]
    client.force_login(world["analyst_a"])
    client.post(f"/incidents/{inc.pk}/comment/", {"body": "internal triage note"})
    client.post(f"/incidents/{inc.pk}/comment/", {"body": "we are on it", "visibility": "shared"})
    client.force_login(world["a_viewer"])
    body = client.get(f"/incidents/{inc.pk}/").content.decode()
    assert "we are on it" in body and "internal triage note" not in body
    assert "Add a comment" not in body  # a viewer reads
    assert client.post(f"/incidents/{inc.pk}/comment/", {"body": "hi"}).status_code == 403
    client.force_login(world["a_responder"])
    client.post(
        f"/incidents/{inc.pk}/comment/", {"body": "please isolate", "visibility": "internal"}
    )
    with rls_bypass("test"):
        comment = Comment.objects.dangerously_unscoped("t").get(body="please isolate")
    assert comment.visibility == "shared"


@pytest.mark.parametrize("body", ["", "x" * 20_001, "nul \x00 byte", "<script>alert(1)</script>"])
def test_hostile_comments_are_refused_or_escaped(client, world, body):
    client.force_login(world["analyst_a"])
    response = client.post(f"/incidents/{world['inc_a'].pk}/comment/", {"body": body}, follow=True)
    assert response.status_code in (200, 400)
    assert b"<script>alert(1)</script>" not in response.content


def test_containment_is_recorded_and_shown(client, world):
    client.force_login(world["analyst_a"])
    response = client.post(
        f"/incidents/{world['inc_a'].pk}/contain/",
        {"action": "block IP", "target": "203.0.113.9", "result": "succeeded"},
        follow=True,
    )
    assert "Containment recorded" in _messages(response)
    assert "203.0.113.9" in response.content.decode()
    response = client.post(f"/incidents/{world['inc_a'].pk}/contain/", {"action": ""}, follow=True)
    assert "target" in _messages(response)


def test_outsourced_customer_cannot_work_incidents(client, world):
    a = world["a"]
    a.service_model = "outsourced"
    a.save()
    client.force_login(world["a_responder"])
    assert (
        client.post(f"/incidents/{world['inc_a'].pk}/act/", {"action": "acknowledge"}).status_code
        == 403
    )
    assert _fresh(world["inc_a"]).status == IncidentStatus.NEW


# --- escalation from the incident page -------------------------------------------------------


def test_hand_off_to_the_in_house_team_and_withdraw(client, world):
    with rls_bypass("test: the in-house team"):
        Team.objects.create(tenant=world["a"], name="A in-house", kind="in_house")
    client.force_login(world["analyst_a"])
    response = client.post(
        f"/incidents/{world['inc_a'].pk}/escalate/",
        {"to": "in_house", "respond_minutes": "15", "note": "please confirm"},
        follow=True,
    )
    assert "Escalated" in _messages(response), _messages(response)
    with rls_bypass("test"):
        esc = Escalation.objects.dangerously_unscoped("t").get(incident=world["inc_a"])
    assert esc.status == "pending"
    # The customer may not withdraw what the MSSP asked.
    client.force_login(world["a_responder"])
    response = client.post(f"/escalations/{esc.pk}/withdraw/", follow=True)
    assert "Only the side that asked" in _messages(response)
    # Tenant B's people do not even find it.
    client.force_login(world["b_admin"])
    assert client.post(f"/escalations/{esc.pk}/withdraw/").status_code == 404
    client.force_login(world["analyst_a"])
    client.post(f"/escalations/{esc.pk}/withdraw/")
    with rls_bypass("test"):
        assert Escalation.objects.dangerously_unscoped("t").get(pk=esc.pk).status == "withdrawn"


def test_customer_asks_the_mssp_for_assistance_but_a_viewer_cannot(client, world):
    client.force_login(world["a_viewer"])
    response = client.post(f"/incidents/{world['inc_a'].pk}/escalate/", {"to": "mssp"}, follow=True)
    assert "Your role does not escalate" in _messages(response)
    client.force_login(world["a_responder"])
    response = client.post(
        f"/incidents/{world['inc_a'].pk}/escalate/", {"to": "mssp", "note": "help"}, follow=True
    )
    assert "Escalated" in _messages(response)
    response = client.post(f"/incidents/{world['inc_a'].pk}/escalate/", {"to": "tier"}, follow=True)
    assert "customers ask the MSSP" in _messages(response)
    response = client.post(
        f"/incidents/{world['inc_a'].pk}/escalate/",
        {"to": "mssp", "respond_minutes": "-5"},
        follow=True,
    )
    assert "respond_minutes" in _messages(response)


# --- alerts ----------------------------------------------------------------------------------


def test_alert_list_and_page_are_scoped(client, world):
    with rls_bypass("test"):
        alert_b = Alert.objects.dangerously_unscoped("t").filter(tenant=world["b"]).first()
        alert_a = Alert.objects.dangerously_unscoped("t").filter(tenant=world["a"]).first()
    assert alert_b is not None
    client.force_login(world["a_viewer"])
    body = client.get("/alerts/").content.decode()
    assert "Brute force on VPN" in body and "Ransomware note" not in body
    assert client.get(f"/alerts/{alert_a.pk}/").status_code == 200
    assert client.get(f"/alerts/{alert_b.pk}/").status_code == 404
    assert client.get("/alerts/?since=not-a-date").status_code == 400


# --- landing ---------------------------------------------------------------------------------


def test_each_persona_lands_on_its_first_page(client, world):
    client.force_login(world["analyst_a"])
    assert client.get("/")["Location"] == "/console/"
    client.force_login(world["outsider"])
    assert b"You do not work any customer yet" in client.get("/").content
