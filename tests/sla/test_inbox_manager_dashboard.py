"""The in-house inbox, the manager's SLA health, the customer's dashboard and the escalation
policy view: each page for the roles it is for and refused to the others; answers through the
page change an escalation exactly as the API does; another tenant's ids are a 404; figures
equal the API's summary; query counts do not grow with rows."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from guardian.shortcuts import assign_perm

from alerts.models import Incident, IncidentEvent
from sla import escalation
from sla.models import Escalation, EscalationPolicy, SlaClock
from sla.selectors import get_sla_summary
from sla.services import sweep as sla_sweep
from tenants.models import AuditEvent, Team, Tenant
from tenants.rls import rls_bypass
from tests.factories import StaffFactory, TenantFactory, ingest_alerts

pytestmark = pytest.mark.django_db


# --- fixtures and helpers ------------------------------------------------------------------------
@pytest.fixture
def world(two_tenants):
    """two_tenants with an in-house team in A and in B, a lead of A, a manager."""
    w = two_tenants
    with rls_bypass("test fixture"):
        w["a_team"] = Team.objects.create(tenant=w["a"], name="A security team", kind="in_house")
        w["b_team"] = Team.objects.create(tenant=w["b"], name="B security team", kind="in_house")
    w["lead"] = StaffFactory(staff_role="lead", tenants=[w["b"]])  # works B, leads A only
    assign_perm("tenants.lead_tenant", w["lead"], w["a"])
    w["manager"] = StaffFactory(staff_role="manager")
    return w


def rows(model, tenant, **filters):
    with rls_bypass("test"):
        return list(model.objects.for_tenant(tenant).filter(**filters))


def incidents_of(w, key, n=1, title="Suspicious login"):
    before = {i.pk for i in rows(Incident, w[key])}
    ingest_alerts(w[f"{key}_source"], n, title=title)
    return [i for i in rows(Incident, w[key]) if i.pk not in before]


def hand_off(w, key, incident, respond_minutes=20):
    """An MSSP hand-off to the in-house team of tenant `key`, as an analyst of it asks."""
    analyst = w["analyst_a"] if key == "a" else w["analyst_b"]
    with rls_bypass("test fixture"):
        incident = Incident.objects.for_tenant(w[key]).get(pk=incident.pk)
        return escalation.escalation_request(
            incident,
            direction=Escalation.Direction.TO_CUSTOMER,
            actor=analyst,
            respond_minutes=respond_minutes,
        )


def login(client, user):
    client.force_login(user)
    return client


def count_queries(client, url) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, response.content[:500]
    return len(captured)


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


# --- the inbox -----------------------------------------------------------------------------------
def test_responder_sees_pending_handoffs_with_countdown_and_answer_buttons(client, world):
    (incident,) = incidents_of(world, "a", title="Ransomware note")
    esc = hand_off(world, "a", incident)
    page = login(client, world["a_responder"]).get("/inbox/")
    html = page.content.decode()
    assert page.status_code == 200
    assert "Ransomware note" in html
    assert 'data-live="escalation.* incident.*"' in html and 'hx-trigger="live"' in html
    assert "data-countdown" in html and esc.respond_by.isoformat()[:16] in html
    assert f"/inbox/escalations/{esc.pk}/accept/" in html
    assert f"/inbox/escalations/{esc.pk}/decline/" in html
    assert "Reason (required)" in html


def test_customer_admin_views_the_inbox_without_answer_buttons(client, world):
    (incident,) = incidents_of(world, "a", title="Ransomware note")
    esc = hand_off(world, "a", incident)
    page = login(client, world["a_admin"]).get("/inbox/")
    assert page.status_code == 200 and b"Ransomware note" in page.content
    assert f"/inbox/escalations/{esc.pk}/accept/".encode() not in page.content
    assert b"Reason (required)" not in page.content
    # and a POST is refused as the API refuses it
    refused = client.post(f"/inbox/escalations/{esc.pk}/accept/")
    assert refused.status_code == 403
    assert rows(Escalation, world["a"], pk=esc.pk)[0].status == "pending"


@pytest.mark.parametrize("who", ["a_viewer", "analyst_a", "mssp_admin", "outsider"])
def test_inbox_is_refused_to_others(client, world, who):
    assert login(client, world[who]).get("/inbox/").status_code == 403


def test_inbox_needs_a_login(client, world):
    response = client.get("/inbox/")
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_accept_through_the_page_changes_the_escalation_as_the_api_does(client, world):
    (incident,) = incidents_of(world, "a")
    esc = hand_off(world, "a", incident)
    responder = world["a_responder"]
    response = login(client, responder).post(f"/inbox/escalations/{esc.pk}/accept/", follow=True)
    assert response.redirect_chain == [("/inbox/", 302)]
    assert any("Accepted" in m for m in messages_of(response))
    done = rows(Escalation, world["a"], pk=esc.pk)[0]
    assert done.status == "accepted" and done.responded_by_id == responder.pk
    owned = rows(Incident, world["a"], pk=incident.pk)[0]
    assert owned.owner_id == responder.pk and owned.owner_team_id == world["a_team"].pk
    owners = {c.owner for c in rows(SlaClock, world["a"], incident=incident)}
    assert owners == {"mssp", "customer"}
    kinds = {e.kind for e in rows(IncidentEvent, world["a"], incident=incident)}
    assert "escalation_accepted" in kinds
    audit = rows(AuditEvent, world["a"], action="escalation.accepted")
    assert [a.actor_id for a in audit] == [responder.pk]
    # now the team's: listed under the incidents it owns, with the assistance form
    page = client.get("/inbox/").content.decode()
    assert f"/inbox/incidents/{incident.pk}/assistance/" in page
    # a second answer is refused with a clear message, not a 500
    again = client.post(f"/inbox/escalations/{esc.pk}/accept/", follow=True)
    assert again.status_code == 200
    assert any("already accepted" in m for m in messages_of(again))


def test_decline_with_a_reason_returns_the_incident_to_the_mssp(client, world):
    (incident,) = incidents_of(world, "a")
    esc = hand_off(world, "a", incident)
    response = login(client, world["a_responder"]).post(
        f"/inbox/escalations/{esc.pk}/decline/", {"reason": "  Vendor's system, not ours  "}
    )
    assert response.status_code == 302 and response["Location"] == "/inbox/"
    done = rows(Escalation, world["a"], pk=esc.pk)[0]
    assert done.status == "declined" and done.reason == "Vendor's system, not ours"
    back = rows(Incident, world["a"], pk=incident.pk)[0]
    assert back.owner_id is None and back.owner_team_id is None
    assert {"escalation.declined"} <= {a.action for a in rows(AuditEvent, world["a"])}
    event = rows(IncidentEvent, world["a"], incident=incident, kind="escalation_declined")[0]
    assert event.data["reason"] == "Vendor's system, not ours"
    decided = client.get("/inbox/").content.decode()
    assert "Decided in the last" in decided and "Vendor&#x27;s system, not ours" in decided


@pytest.mark.parametrize(
    "data, says",
    [
        ({}, "needs a reason"),
        ({"reason": "   "}, "needs a reason"),
        ({"reason": "x" * 5001}, "at most 5000"),
        ({"reason": "bad\x00byte"}, "Null characters"),
    ],
    ids=["missing", "blank", "huge", "nul"],
)
def test_decline_without_a_proper_reason_is_refused_with_a_message(client, world, data, says):
    (incident,) = incidents_of(world, "a")
    esc = hand_off(world, "a", incident)
    response = login(client, world["a_responder"]).post(
        f"/inbox/escalations/{esc.pk}/decline/", data
    )
    assert response.status_code == 400
    assert any(says in m for m in messages_of(response)), messages_of(response)
    assert says.encode() in response.content  # also next to the field
    assert rows(Escalation, world["a"], pk=esc.pk)[0].status == "pending"


def test_htmx_answers_get_the_re_rendered_list(client, world):
    (incident,) = incidents_of(world, "a", title="Beaconing host")
    esc = hand_off(world, "a", incident)
    login(client, world["a_responder"])
    bad = client.post(f"/inbox/escalations/{esc.pk}/decline/", {}, HTTP_HX_REQUEST="true")
    assert bad.status_code == 200 and b'id="inbox-live"' in bad.content
    assert b"<html" not in bad.content and b"needs a reason" in bad.content
    good = client.post(f"/inbox/escalations/{esc.pk}/accept/", HTTP_HX_REQUEST="true")
    assert good.status_code == 200 and b"<html" not in good.content
    assert b"Accepted" in good.content
    live = client.get("/inbox/", HTTP_HX_REQUEST="true")
    assert live.status_code == 200 and b"<html" not in live.content
    assert b'id="inbox-live"' in live.content


def test_responder_of_a_cannot_see_or_answer_tenant_bs_escalations(client, world, api):
    (b_incident,) = incidents_of(world, "b", title="Tenant B secret incident")
    b_esc = hand_off(world, "b", b_incident)
    # B's exist and B's own responder sees and may answer them
    b_page = login(client, world["b_responder"]).get("/inbox/")
    assert b"Tenant B secret incident" in b_page.content
    assert f"/inbox/escalations/{b_esc.pk}/accept/".encode() in b_page.content
    login(client, world["a_responder"])
    assert b"Tenant B secret incident" not in client.get("/inbox/").content
    for url, data in (
        (f"/inbox/escalations/{b_esc.pk}/accept/", {}),
        (f"/inbox/escalations/{b_esc.pk}/decline/", {"reason": "not ours"}),
        (f"/inbox/incidents/{b_incident.pk}/assistance/", {"note": "help"}),
    ):
        assert client.post(url, data).status_code == 404, url
    assert client.post("/inbox/escalations/not-a-uuid/accept/").status_code == 404
    after = rows(Escalation, world["b"], incident=b_incident)
    assert [(e.pk, e.status) for e in after] == [(b_esc.pk, "pending")]
    # exactly like the API
    through_api = api(world["a_responder"]).post(f"/api/v1/escalations/{b_esc.pk}/accept/")
    assert through_api.status_code == 404


def test_the_in_house_team_asks_the_mssp_for_assistance(client, world):
    from alerts.services import incident_acknowledge

    (incident,) = incidents_of(world, "a", title="Odd PowerShell")
    with rls_bypass("test"):  # the MSSP acknowledged it: its own acknowledge clock is met
        incident_acknowledge(
            Incident.objects.for_tenant(world["a"]).get(pk=incident.pk), actor=world["analyst_a"]
        )
    esc = hand_off(world, "a", incident)
    login(client, world["a_responder"]).post(f"/inbox/escalations/{esc.pk}/accept/")
    bad = client.post(f"/inbox/incidents/{incident.pk}/assistance/", {"respond_minutes": "0"})
    assert bad.status_code == 400 and b"greater than or equal to 1" in bad.content
    asked = client.post(
        f"/inbox/incidents/{incident.pk}/assistance/",
        {"note": "Need malware analysis", "respond_minutes": "15"},
        follow=True,
    )
    assert any("asked to help" in m for m in messages_of(asked))
    (request,) = rows(Escalation, world["a"], incident=incident, direction="to_mssp")
    assert request.status == "pending" and request.note == "Need malware analysis"
    assert request.requested_by_id == world["a_responder"].pk
    clocks = rows(
        SlaClock, world["a"], incident=incident, owner="mssp", target="acknowledge", state="running"
    )
    assert [c.target_minutes for c in clocks] == [15]  # on the MSSP's clock, as the API does
    assert "Asked, waiting for the MSSP" in asked.content.decode()
    twice = client.post(f"/inbox/incidents/{incident.pk}/assistance/", {}, follow=True)
    assert any("already pending" in m for m in messages_of(twice))
    # an admin (who may ask, like through the API) gets the form too; a viewer is refused
    assert f"/inbox/incidents/{incident.pk}/assistance/".encode() not in (
        login(client, world["a_admin"]).get("/inbox/").content
    )  # already asked: no second request offered
    login(client, world["a_viewer"])
    assert client.post(f"/inbox/incidents/{incident.pk}/assistance/", {}).status_code == 403


def test_the_team_withdraws_its_own_request_but_not_the_mssps_handoff(client, world):
    (incident,) = incidents_of(world, "a", title="Odd PowerShell")
    esc = hand_off(world, "a", incident)
    login(client, world["a_responder"])
    # a hand-off the MSSP asked for is withdrawn by the MSSP only, as through the API
    assert client.post(f"/inbox/escalations/{esc.pk}/withdraw/").status_code == 403
    client.post(f"/inbox/escalations/{esc.pk}/accept/")
    client.post(f"/inbox/incidents/{incident.pk}/assistance/", {"note": "help"})
    (request,) = rows(Escalation, world["a"], incident=incident, direction="to_mssp")
    page = client.get("/inbox/").content.decode()
    assert f"/inbox/escalations/{request.pk}/withdraw/" in page
    done = client.post(f"/inbox/escalations/{request.pk}/withdraw/", follow=True)
    assert any("withdrawn" in m for m in messages_of(done))
    assert rows(Escalation, world["a"], pk=request.pk)[0].status == "withdrawn"
    again = client.post(f"/inbox/escalations/{request.pk}/withdraw/", follow=True)
    assert any("already withdrawn" in m for m in messages_of(again))
    assert {"escalation.withdrawn"} <= {a.action for a in rows(AuditEvent, world["a"])}


def test_an_in_house_tenants_team_owns_what_the_mssp_has_not_taken(client, world):
    with rls_bypass("test fixture"):
        Tenant.objects.filter(pk=world["a"].pk).update(service_model="in_house")
    mine, taken = incidents_of(world, "a", 2, title="In-house")
    with rls_bypass("test fixture"):
        Incident.objects.for_tenant(world["a"]).filter(pk=taken.pk).update(owner=world["analyst_a"])
    owned = login(client, world["a_responder"]).get("/inbox/").context["owned"]
    assert [i.pk for i in owned] == [mine.pk]


def test_inbox_query_count_does_not_grow_with_escalations(client, world):
    login(client, world["a_responder"])
    first, accepted = incidents_of(world, "a", 2)
    hand_off(world, "a", first)
    client.post(f"/inbox/escalations/{hand_off(world, 'a', accepted).pk}/accept/")
    client.get("/inbox/")
    few = count_queries(client, "/inbox/")
    more = incidents_of(world, "a", 6, title="More")
    for incident in more[:3]:
        hand_off(world, "a", incident)
    for incident in more[3:]:
        esc = hand_off(world, "a", incident)
        client.post(f"/inbox/escalations/{esc.pk}/accept/")
    many = count_queries(client, "/inbox/")
    # 22: the page's own, the session's record (tenants.middleware) read once a request, and
    # the tasks handed to the team (cases_tags.inbox_tasks)
    assert many == few <= 22, f"{few} queries for a few escalations, {many} for more"


# --- the manager's SLA health -------------------------------------------------------------------
@pytest.mark.parametrize("who", ["manager", "mssp_admin", "lead"])
def test_sla_health_is_for_leads_managers_and_admins(client, world, who):
    page = login(client, world[who]).get("/manager/")
    assert page.status_code == 200
    assert b'data-live="sla.* incident.*"' in page.content


@pytest.mark.parametrize("who", ["analyst_a", "a_admin", "a_responder", "a_viewer", "outsider"])
def test_sla_health_is_refused_to_others(client, world, who):
    page = login(client, world[who]).get("/manager/")
    assert page.status_code == 403
    assert b"Tenant B" not in page.content and b"Tenant A" not in page.content


def test_a_lead_sees_only_the_tenants_they_lead(client, world):
    page = login(client, world["lead"]).get("/manager/")
    names = [row["tenant"].name for row in page.context["rows"]]
    assert names == ["Tenant A"]  # works B, leads only A
    assert b"Change tenants" not in page.content  # leads do not assign staff
    manager = login(client, world["manager"]).get("/manager/")
    assert {row["tenant"].name for row in manager.context["rows"]} == {"Tenant A", "Tenant B"}


def test_sla_health_orders_worst_first_with_figures_equal_to_the_summary(client, world):
    (b_incident,) = incidents_of(world, "b")
    # B's acknowledge clock breaches; A's (opened after that sweep) are within their time
    ack = rows(SlaClock, world["b"], incident=b_incident, target="acknowledge")[0]
    sla_sweep(ack.due_at + timedelta(seconds=1))
    incidents_of(world, "a", 2)
    page = login(client, world["manager"]).get("/manager/")
    table = page.context["rows"]
    assert [row["tenant"].slug for row in table] == ["tenant-b", "tenant-a"]
    b_row, a_row = table
    assert b_row["breached"] >= 1 and b_row["open"] == 1 and a_row["open"] == 2
    now = timezone.now()
    for row in table:
        with rls_bypass("test"):
            summary = get_sla_summary([row["tenant"].pk], now - timedelta(days=30), now)
        assert row["targets"] == summary["targets"] != {}
    assert b_row["compliance"] == 0.0 and b_row["compliance_text"] == "0 %"


def test_sla_health_query_count_does_not_grow_with_tenants_or_staff(client, world):
    login(client, world["manager"])
    incidents_of(world, "a", 2)
    client.get("/manager/")
    few = count_queries(client, "/manager/")
    for _ in range(4):
        tenant = TenantFactory()
        StaffFactory(staff_role="analyst_l2", tenants=[tenant, world["a"]])
    incidents_of(world, "b", 3)
    many = count_queries(client, "/manager/")
    # 14, and 6 for the intake log's backlog that managers see (alerts.intake.log: one
    # aggregate under rls_bypass: its savepoint, the context read, set and reset)
    assert many == few <= 20, f"{few} queries for a few tenants, {many} for more"


def test_a_manager_changes_the_tenants_an_analyst_works_audited(client, world):
    analyst = world["analyst_a"]
    page = login(client, world["manager"]).get("/manager/")
    assert f"/manager/staff/{analyst.pk}/tenants/".encode() in page.content
    response = client.post(
        f"/manager/staff/{analyst.pk}/tenants/", {"tenants": [world["b"].pk]}, follow=True
    )
    assert response.redirect_chain[-1][0] == "/manager/#staff"
    assert any("now works Tenant B" in m for m in messages_of(response))
    assert analyst.has_perm("tenants.work_tenant", world["b"])
    assert not type(analyst).objects.get(pk=analyst.pk).has_perm("tenants.work_tenant", world["a"])
    with rls_bypass("test"):
        actions = list(
            AuditEvent.objects.dangerously_unscoped("test")
            .filter(object_id=str(analyst.pk))
            .values_list("action", "tenant_id", "actor_id")
        )
    assert ("permission.granted", world["b"].pk, world["manager"].pk) in actions
    assert ("permission.revoked", world["a"].pk, world["manager"].pk) in actions
    assert ("staff.updated", None, world["manager"].pk) in actions


def test_an_admin_changes_what_a_lead_works_and_leads(client, world):
    lead = world["lead"]  # works B, leads A
    response = login(client, world["mssp_admin"]).post(
        f"/manager/staff/{lead.pk}/tenants/",
        {"tenants": [world["a"].pk], "leads": [world["a"].pk, world["b"].pk], "leads_present": "1"},
        follow=True,
    )
    assert any("leads Tenant A, Tenant B" in m for m in messages_of(response))
    fresh = type(lead).objects.get(pk=lead.pk)
    assert fresh.has_perm("tenants.work_tenant", world["a"])
    assert not fresh.has_perm("tenants.work_tenant", world["b"])
    assert fresh.has_perm("tenants.lead_tenant", world["b"])
    granted = rows(AuditEvent, world["b"], action="permission.granted", object_id=str(lead.pk))
    assert [e.data["permission"] for e in granted] == ["lead_tenant"]
    page = login(client, lead).get("/manager/")
    assert {row["tenant"].name for row in page.context["rows"]} == {"Tenant A", "Tenant B"}


def test_a_form_without_the_leads_boxes_keeps_what_a_lead_leads(client, world):
    """A page loaded before the member became a lead shows no leads boxes; posting it changes
    the tenants worked and leaves the tenants led alone."""
    lead = world["lead"]  # works B, leads A
    login(client, world["mssp_admin"]).post(
        f"/manager/staff/{lead.pk}/tenants/", {"tenants": [world["b"].pk]}
    )
    fresh = type(lead).objects.get(pk=lead.pk)
    assert fresh.has_perm("tenants.lead_tenant", world["a"])
    assert fresh.has_perm("tenants.work_tenant", world["b"])


def test_staff_assignment_is_refused_to_leads_and_analysts_and_checks_input(client, world):
    analyst = world["analyst_a"]
    url = f"/manager/staff/{analyst.pk}/tenants/"
    for who in ("lead", "analyst_a", "a_admin"):
        assert login(client, world[who]).post(url, {"tenants": [world["b"].pk]}).status_code == 403
    assert not analyst.has_perm("tenants.work_tenant", world["b"])
    login(client, world["mssp_admin"])
    for bad in (["nope"], ["99999999"], ["1\x00"]):
        response = client.post(url, {"tenants": bad})
        assert response.status_code == 400
        assert any("Nothing changed" in m for m in messages_of(response))
    assert client.post(f"/manager/staff/{world['a_viewer'].pk}/tenants/", {}).status_code == 404
    assert client.get(url).status_code == 405


# --- the customer's dashboard -------------------------------------------------------------------
def worked_incidents(w):
    """A's incidents with met, breached and customer-owned clocks."""
    from alerts.services import incident_acknowledge

    first, second, third = incidents_of(w, "a", 3, title="Dash")
    with rls_bypass("test"):
        incident_acknowledge(
            Incident.objects.for_tenant(w["a"]).get(pk=first.pk), actor=w["analyst_a"]
        )
    third_ack = rows(SlaClock, w["a"], incident=third, target="acknowledge")[0]
    sla_sweep(third_ack.due_at + timedelta(seconds=1))
    esc = hand_off(w, "a", second)
    with rls_bypass("test"):
        escalation.escalation_accept(esc, actor=w["a_responder"])
    return first, second, third


@pytest.mark.parametrize("who", ["a_viewer", "a_responder", "a_admin"])
def test_customers_open_their_dashboard(client, world, who):
    incidents_of(world, "a", 2, title="Phishing wave")
    incidents_of(world, "b", 1, title="Tenant B only")
    page = login(client, world[who]).get("/dashboard/")
    html = page.content.decode()
    assert page.status_code == 200 and "Phishing wave" in html and "Tenant B only" not in html
    assert page.context["open_total"] == 2
    assert 'data-live="incident.*"' in html and "<svg" in html
    assert "/incidents/" in html
    assert login(client, world[who]).get("/dashboard/?tenant=tenant-b").status_code == 404


def test_staff_open_a_dashboard_of_a_tenant_they_work(client, world):
    login(client, world["analyst_a"])
    chooser = client.get("/dashboard/")
    assert chooser.status_code == 200 and b"Tenant A" in chooser.content
    assert b"Tenant B" not in chooser.content
    assert client.get("/dashboard/?tenant=tenant-a").status_code == 200
    assert client.get("/dashboard/?tenant=tenant-b").status_code == 404
    assert client.get("/dashboard/?tenant=nope").status_code == 404
    assert login(client, world["outsider"]).get("/dashboard/?tenant=tenant-a").status_code == 404


def test_dashboard_figures_equal_the_summary_api(client, world, api):
    worked_incidents(world)
    today = timezone.localdate()
    query = f"start={today - timedelta(days=3)}&end={today + timedelta(days=1)}"
    page = login(client, world["a_viewer"]).get(f"/dashboard/?{query}")
    assert page.status_code == 200
    figures = page.context["figures"]
    assert [f["owner"] for f in figures] == ["mssp", "customer"]  # hybrid: both, apart
    viewer_api = api(world["a_viewer"])
    for f in figures:
        url = f["api_url"]
        assert url.startswith("/api/v1/sla/summary/?tenant=tenant-a&from=")
        assert url in page.content.decode().replace("&amp;", "&")
        expected = viewer_api.get(url).json()
        shown = json.loads(json.dumps(f["summary"], default=str))
        for key in ("targets", "mtta_seconds", "mttc_seconds", "mttr_seconds", "owner"):
            assert shown[key] == expected[key], (f["owner"], key)
        for row in f["rows"]:
            if row["figures"]:
                assert row["compliance"] in page.content.decode()
    mssp = figures[0]["summary"]["targets"]
    # the first acknowledged in time; the second and third left to breach
    assert mssp["acknowledge"]["met"] == 1 and mssp["acknowledge"]["breached"] == 2
    assert figures[1]["summary"]["targets"]  # the in-house team's own clocks
    # the default period (last 30 days) is the API's default period too
    default = client.get("/dashboard/").context
    assert default["end"] - default["start"] == timedelta(days=30)
    expected = viewer_api.get(default["figures"][0]["api_url"]).json()
    shown = json.loads(json.dumps(default["figures"][0]["summary"]["targets"]))
    assert shown == expected["targets"]


def test_dashboard_owner_figures_apart_and_severity_filter(client, world, api):
    worked_incidents(world)
    page = login(client, world["analyst_a"]).get("/dashboard/?tenant=tenant-a&severity=low")
    for f in page.context["figures"]:
        assert "severity=low" in f["api_url"]
        assert f["summary"]["targets"] == {}
        assert api(world["analyst_a"]).get(f["api_url"]).json()["targets"] == {}


@pytest.mark.parametrize(
    "query",
    [
        "days=abc",
        "days=3",
        "start=2026-13-01&end=2026-01-01",
        "start=2026-05-01",
        "start=2026-05-02&end=2026-05-01",
        "start=1000-01-01&end=2026-01-01",
        "severity=urgent",
    ],
)
def test_dashboard_bad_period_falls_back_with_a_message(client, world, query):
    page = login(client, world["a_viewer"]).get(f"/dashboard/?{query}")
    assert page.status_code == 200
    assert any("Showing the last 30 days" in m for m in messages_of(page))


def test_dashboard_live_part_and_nul_input(client, world):
    incidents_of(world, "a", 1, title="Live one")
    login(client, world["a_viewer"])
    part = client.get("/dashboard/?tenant=tenant-a&part=incidents", HTTP_HX_REQUEST="true")
    assert part.status_code == 200 and b"<html" not in part.content
    assert b"Live one" in part.content and b'id="open-incidents"' in part.content
    assert client.get("/dashboard/?severity=%00").status_code == 400


def test_dashboard_query_count_does_not_grow_with_incidents(client, world):
    login(client, world["a_viewer"])
    incidents_of(world, "a", 2)
    client.get("/dashboard/")
    few = count_queries(client, "/dashboard/")
    worked_incidents(world)
    incidents_of(world, "a", 12, title="More")
    many = count_queries(client, "/dashboard/")
    assert many == few <= 20, f"{few} queries for a few incidents, {many} for more"


def test_dashboard_is_refused_without_a_tenant(client, world):
    with rls_bypass("test"):
        Tenant.objects.filter(pk=world["b"].pk).update(status="suspended")
    assert login(client, world["b_viewer"]).get("/dashboard/").status_code == 403


# --- the escalation policy view ------------------------------------------------------------------
@pytest.fixture
def policy(world):
    with rls_bypass("test fixture"):
        tier = Team.objects.create(name="SOC L2", kind="mssp_tier")
        return EscalationPolicy.objects.create(
            tenant=world["a"],
            name="Hybrid default",
            repeat=2,
            steps=[
                {"action": "notify_tier", "team": str(tier.pk), "wait_minutes": 0},
                {"action": "handoff_in_house", "wait_minutes": 5, "respond_minutes": 90},
                {
                    "action": "page_lead",
                    "wait_minutes": 10,
                    "if": {"severity": ["critical", "high"], "unacknowledged": True},
                },
            ],
        )


@pytest.mark.parametrize("who", ["a_admin", "a_responder"])
def test_escalation_policy_is_shown_read_only(client, world, policy, who):
    page = login(client, world[who]).get("/settings/escalation/")
    html = page.content.decode()
    assert page.status_code == 200
    assert "Hybrid default" in html and "SOC L2" in html
    assert "Hand off to the in-house team" in html and "1 h 30 min" in html
    assert "severity is critical or high" in html and "nobody has acknowledged" in html
    assert "2 more times" in html
    assert "<form" not in html.split('id="main"')[1]  # read-only


def test_escalation_policy_empty_state_and_refusals(client, world, policy):
    empty = login(client, world["b_admin"]).get("/settings/escalation/")
    assert empty.status_code == 200 and b"The MSSP configures it" in empty.content
    assert b"Hybrid default" not in empty.content  # A's policy exists, B does not see it
    for who in ("a_viewer", "analyst_a", "mssp_admin"):
        assert login(client, world[who]).get("/settings/escalation/").status_code == 403


def test_navigation_offers_these_pages_to_their_roles(client, world):
    responder = login(client, world["a_responder"]).get("/inbox/").content.decode()
    assert 'href="/inbox/"' in responder and 'href="/dashboard/"' in responder
    assert 'href="/manager/"' not in responder
    manager = login(client, world["manager"]).get("/manager/").content.decode()
    assert 'href="/manager/"' in manager and 'href="/inbox/"' not in manager
