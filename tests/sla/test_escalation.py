"""Escalation: a hybrid tenant's incident, left alone, walks its policy on time; responders
accept and decline; the other way round; the NOC; the auditor; all of it in the timeline, the
audit log and the stream, for exactly the people entitled to it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from alerts.models import Incident, IncidentEvent
from sla import escalation
from sla.models import Escalation, EscalationPolicy, EscalationRun, SlaClock
from sla.services import sweep as sla_sweep
from tenants.models import AuditEvent, Team
from tenants.rls import rls_bypass
from tests.factories import ingest_alerts

pytestmark = pytest.mark.django_db


@pytest.fixture
def hybrid(two_tenants):
    """Tenant A is hybrid with an in-house team and a policy: tell L2 at once, hand off to
    the in-house team after 5 minutes (10 to answer), then page the lead."""
    w = two_tenants
    with rls_bypass("test fixture"):
        w["in_house"] = Team.objects.create(tenant=w["a"], name="A security team", kind="in_house")
        w["tier"] = Team.objects.create(name="SOC L2", kind="mssp_tier")
    from guardian.shortcuts import assign_perm

    from tests.factories import StaffFactory

    w["lead"] = StaffFactory(staff_role="lead", email="lead@mssp.example")
    assign_perm("tenants.lead_tenant", w["lead"], w["a"])
    with rls_bypass("test fixture"):
        EscalationPolicy.objects.create(
            tenant=w["a"],
            name="Hybrid default",
            steps=[
                {"action": "notify_tier", "team": str(w["tier"].pk), "wait_minutes": 0},
                {"action": "handoff_in_house", "wait_minutes": 5, "respond_minutes": 10},
                {"action": "page_lead", "wait_minutes": 0, "if": {"unacknowledged": True}},
            ],
        )
    return w


def rows(model, tenant, **filters):
    with rls_bypass("test"):
        return list(model.objects.for_tenant(tenant).filter(**filters))


def open_incident(w, n=1):
    ingest_alerts(w["a_source"], n)
    return rows(Incident, w["a"])


def test_left_alone_an_incident_walks_its_policy_on_time(hybrid):
    (incident,) = open_incident(hybrid)
    (run,) = rows(EscalationRun, hybrid["a"])
    start = run.started_at
    escalation.sweep(start + timedelta(seconds=1))  # step 1: tell the tier at once
    (tier,) = rows(Escalation, hybrid["a"])
    assert tier.direction == "to_tier" and tier.status == "notified"
    escalation.sweep(start + timedelta(minutes=4))  # the hand-off waits 5 minutes
    assert len(rows(Escalation, hybrid["a"])) == 1
    # the SLA warning and breach come on their own clock meanwhile
    ack = rows(SlaClock, hybrid["a"], target="acknowledge")[0]
    assert sla_sweep(ack.at_risk_at + timedelta(seconds=1))[0] >= 1
    escalation.sweep(start + timedelta(minutes=5, seconds=1))  # step 2: hand-off
    handoff = rows(Escalation, hybrid["a"], direction="to_customer")[0]
    assert handoff.status == "pending" and handoff.team_id == hybrid["in_house"].pk
    assert handoff.respond_by == start + timedelta(minutes=15, seconds=1)
    escalation.sweep(handoff.respond_by - timedelta(seconds=1))
    assert rows(Escalation, hybrid["a"], pk=handoff.pk)[0].status == "pending"
    escalation.sweep(handoff.respond_by + timedelta(seconds=1))  # nobody answered
    assert rows(Escalation, hybrid["a"], pk=handoff.pk)[0].status == "expired"
    escalation.sweep(handoff.respond_by + timedelta(seconds=2))  # expiry fired the next step
    lead_page = rows(Escalation, hybrid["a"], step_index=2)
    assert len(lead_page) == 1 and "page the lead" in lead_page[0].note
    assert rows(EscalationRun, hybrid["a"])[0].finished_at is not None
    kinds = [e.kind for e in rows(IncidentEvent, hybrid["a"], incident=incident)]
    assert {"escalation_requested", "escalation_expired", "sla_at_risk"} <= set(kinds)
    actions = {e.action for e in rows(AuditEvent, hybrid["a"])}
    assert {"escalation.requested", "escalation.expired", "escalation.lead_told"} <= actions


def test_responder_accepts_one_and_declines_another(api, hybrid):
    first, second = open_incident(hybrid, 2)
    analyst = api(hybrid["analyst_a"])
    handoffs = []
    for incident in (first, second):
        response = analyst.post(
            f"/api/v1/incidents/{incident.pk}/escalate/",
            {"to": "in_house", "respond_minutes": 20},
            format="json",
        )
        assert response.status_code == 201, response.json()
        handoffs.append(response.json()["id"])
    responder = api(hybrid["a_responder"])
    inbox = responder.get("/api/v1/escalations/?status=pending").json()["results"]
    assert {e["id"] for e in inbox} == set(handoffs)
    accepted = responder.post(f"/api/v1/escalations/{handoffs[0]}/accept/")
    assert accepted.status_code == 200 and accepted.json()["status"] == "accepted"
    owned = api(hybrid["a_responder"]).get(f"/api/v1/incidents/{first.pk}/").json()
    assert owned["owner"] == hybrid["a_responder"].username
    assert owned["owner_team"] == "A security team"
    owners = {c.owner for c in rows(SlaClock, hybrid["a"], incident=first)}
    assert owners == {"mssp", "customer"}  # kept side by side, never blended
    no_reason = responder.post(f"/api/v1/escalations/{handoffs[1]}/decline/", {}, format="json")
    assert no_reason.status_code == 400
    declined = responder.post(
        f"/api/v1/escalations/{handoffs[1]}/decline/",
        {"reason": "Not our system; it is the vendor's"},
        format="json",
    )
    assert declined.json()["status"] == "declined"
    assert declined.json()["reason"] == "Not our system; it is the vendor's"
    queue = analyst.get("/api/v1/queue/").json()["results"]
    assert queue[0]["id"] == str(second.pk)  # back to the MSSP queue, at the front
    twice = responder.post(f"/api/v1/escalations/{handoffs[0]}/accept/")
    assert twice.status_code == 400 and "already accepted" in twice.json()["detail"]


def test_only_responders_of_that_tenant_answer(api, hybrid):
    (incident,) = open_incident(hybrid)
    esc = (
        api(hybrid["analyst_a"])
        .post(f"/api/v1/incidents/{incident.pk}/escalate/", {"to": "in_house"}, format="json")
        .json()["id"]
    )
    for who, status in (
        ("a_viewer", 403),
        ("a_admin", 403),
        ("analyst_a", 403),
        ("b_responder", 404),
    ):
        response = api(hybrid[who]).post(f"/api/v1/escalations/{esc}/accept/")
        assert response.status_code == status, who


def test_mssp_withdraws_a_pending_handoff(api, hybrid):
    (incident,) = open_incident(hybrid)
    analyst = api(hybrid["analyst_a"])
    esc = analyst.post(
        f"/api/v1/incidents/{incident.pk}/escalate/", {"to": "in_house"}, format="json"
    ).json()["id"]
    assert (
        api(hybrid["a_responder"]).post(f"/api/v1/escalations/{esc}/withdraw/").status_code == 403
    )
    assert analyst.post(f"/api/v1/escalations/{esc}/withdraw/").json()["status"] == "withdrawn"


def test_in_house_team_requests_assistance_on_the_mssps_clock(api, hybrid):
    (incident,) = open_incident(hybrid)
    api(hybrid["analyst_a"]).post(f"/api/v1/incidents/{incident.pk}/acknowledge/")
    responder = api(hybrid["a_responder"])
    asked = responder.post(
        f"/api/v1/incidents/{incident.pk}/escalate/",
        {"to": "mssp", "note": "Need malware analysis", "respond_minutes": 15},
        format="json",
    )
    assert asked.status_code == 201 and asked.json()["direction"] == "to_mssp"
    clocks = rows(
        SlaClock,
        hybrid["a"],
        incident=incident,
        owner="mssp",
        target="acknowledge",
        state="running",
    )
    assert [c.target_minutes for c in clocks] == [15]  # a fresh MSSP clock for the request
    assert (
        api(hybrid["a_responder"])
        .post(f"/api/v1/escalations/{asked.json()['id']}/accept/")
        .status_code
        == 403
    )
    accepted = api(hybrid["analyst_a"]).post(f"/api/v1/escalations/{asked.json()['id']}/accept/")
    assert accepted.json()["status"] == "accepted"
    assert rows(SlaClock, hybrid["a"], pk=clocks[0].pk)[0].state == "met"
    assert (
        api(hybrid["analyst_a"])
        .post(f"/api/v1/incidents/{incident.pk}/escalate/", {"to": "mssp"}, format="json")
        .status_code
        == 403
    )


def test_availability_incidents_go_to_the_noc_with_its_own_target(hybrid):
    from alerts.ingest import ingest
    from alerts.intake.generic import parse
    from alerts.models import IntakeSource
    from tenants.rls import tenant_scope

    with rls_bypass("test fixture"):
        Team.objects.create(name="MSSP NOC", kind="noc", email="noc@mssp.example")
    with tenant_scope([hybrid["a"].pk]):
        source = (
            IntakeSource.objects.for_tenant(hybrid["a"])
            .select_related("tenant")
            .get(pk=hybrid["a_source"].pk)
        )
        ingest(
            source, [parse({"title": "SYN flood on edge", "severity": "high", "category": "ddos"})]
        )
    (noc,) = rows(Escalation, hybrid["a"], direction="to_noc")
    assert noc.team.name == "MSSP NOC"
    assert rows(SlaClock, hybrid["a"], owner="noc")[0].target_minutes == 15


def test_customers_never_see_internal_tier_notices(api, hybrid):
    (incident,) = open_incident(hybrid)
    run = rows(EscalationRun, hybrid["a"])[0]
    escalation.sweep(run.started_at + timedelta(seconds=1))
    assert api(hybrid["analyst_a"]).get("/api/v1/escalations/").json()["results"]
    assert api(hybrid["a_admin"]).get("/api/v1/escalations/").json()["results"] == []


def test_the_auditor_records_steps_left_behind(hybrid):
    open_incident(hybrid)
    run = rows(EscalationRun, hybrid["a"])[0]
    escalation.sweep(run.started_at + timedelta(minutes=10))  # a sweep 10 minutes late
    assert rows(AuditEvent, hybrid["a"], action="escalation.overdue")


def test_a_policy_is_frozen_when_escalation_starts(api, hybrid):
    (incident,) = open_incident(hybrid)
    with rls_bypass("test"):
        EscalationPolicy.objects.for_tenant(hybrid["a"]).update(steps=[])
    run = rows(EscalationRun, hybrid["a"])[0]
    assert len(run.policy["steps"]) == 3
    escalation.sweep(run.started_at + timedelta(seconds=1))
    assert rows(Escalation, hybrid["a"], direction="to_tier")


def test_escalation_policy_api(api, hybrid):
    url = "/api/v1/tenants/tenant-a/escalation-policies/"
    assert api(hybrid["a_responder"]).get(url).status_code == 200
    assert (
        api(hybrid["a_admin"]).post(url, {"name": "x", "steps": []}, format="json").status_code
        == 403
    )
    admin = api(hybrid["mssp_admin"])
    bad = admin.post(url, {"name": "x", "steps": [{"action": "call_mom"}]}, format="json")
    assert bad.status_code == 400 and "action" in bad.json()["detail"]
    good = admin.post(
        url,
        {"name": "New", "steps": [{"action": "handoff_in_house", "respond_minutes": 5}]},
        format="json",
    )
    assert good.status_code == 201
    active = [p for p in admin.get(url).json()["results"] if p["is_active"]]
    assert [p["name"] for p in active] == ["New"]


def test_escalations_filter_by_incident_id_within_the_callers_tenants(api, two_tenants):
    """?incident= was a model choice over every tenant's incidents: an unscoped query the
    tenant guard refuses, so any incident id answered 500 (found by tests/test_api_fuzz.py)."""
    (a_incident,) = open_incident(two_tenants)
    ingest_alerts(two_tenants["b_source"], 1)
    (b_incident,) = rows(Incident, two_tenants["b"])
    mssp = api(two_tenants["mssp_admin"])
    for incident in (a_incident, b_incident):
        mssp.post(f"/api/v1/incidents/{incident.pk}/escalate/", {"to": "tier"}, format="json")
    analyst = api(two_tenants["analyst_a"])
    mine = analyst.get(f"/api/v1/escalations/?incident={a_incident.pk}")
    assert mine.status_code == 200
    assert [e["incident"] for e in mine.json()["results"]] == [str(a_incident.pk)]
    theirs = analyst.get(f"/api/v1/escalations/?incident={b_incident.pk}")
    assert theirs.status_code == 200 and theirs.json()["results"] == []
    malformed = analyst.get("/api/v1/escalations/?incident=not-a-uuid")
    assert malformed.status_code == 400 and malformed.json()["error"] == "invalid"
