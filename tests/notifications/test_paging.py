"""Escalation steps page people through their own notification rules until someone answers;
a person's contact methods and rules are theirs alone."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone
from guardian.shortcuts import assign_perm

from alerts.models import Incident
from notifications import delivery, paging
from notifications.models import ContactMethod, Delivery, NotificationRule, Page
from sla.escalation import escalation_request
from tenants.models import Team
from tenants.rls import rls_bypass
from tests.factories import StaffFactory, ingest_alerts

pytestmark = pytest.mark.django_db
A = "/api/v1/tenants/tenant-a"


def incident_of(world):
    ingest_alerts(world["a_source"], title="Beaconing to a known C2")
    with rls_bypass("test"):
        return Incident.objects.for_tenant(world["a"]).get()


def pages(world):
    with rls_bypass("test"):
        return list(Page.objects.for_tenant(world["a"]).order_by("created_at"))


def page_deliveries(world):
    with rls_bypass("test"):
        return list(
            Delivery.objects.for_tenant(world["a"]).filter(event_type="page").order_by("created_at")
        )


@pytest.fixture
def tier(two_tenants):
    """SOC L2, with analyst_a on it: e-mail at once, SMS after 5 minutes."""
    analyst = two_tenants["analyst_a"]
    analyst.email = "analyst@mssp.example"
    analyst.save(update_fields=["email"])
    team = Team.objects.create(name="SOC L2", kind="mssp_tier")
    team.members.add(analyst)
    email = ContactMethod.objects.create(
        user=analyst, label="Work mail", kind="email", target="analyst@mssp.example"
    )
    sms = ContactMethod.objects.create(
        user=analyst, label="Phone", kind="sms", target="+14155550100"
    )
    NotificationRule.objects.create(user=analyst, contact_method=email, delay_minutes=0)
    NotificationRule.objects.create(user=analyst, contact_method=sms, delay_minutes=5)
    return team


def test_a_tier_step_pages_each_member_by_their_rules_until_acknowledged(api, two_tenants, tier):
    incident = incident_of(two_tenants)
    with rls_bypass("test"):
        escalation_request(incident, direction="to_tier", actor=None, team=tier)
    (page,) = pages(two_tenants)
    assert page.user == two_tenants["analyst_a"] and page.status == "paging"
    paging.sweep()  # (the eager task already ran it once: nothing more is due yet)
    (first,) = page_deliveries(two_tenants)
    assert first.kind == "email" and first.staff_only
    delivery.deliver_batch()
    assert any("needs you" in m.subject and m.to == ["analyst@mssp.example"] for m in mail.outbox)
    assert paging.sweep(timezone.now() + timedelta(minutes=4)) == 0  # not yet: 5 minutes
    assert paging.sweep(timezone.now() + timedelta(minutes=6)) == 1
    assert [d.kind for d in page_deliveries(two_tenants)] == ["email", "sms"]
    assert pages(two_tenants)[0].status == "exhausted"  # every rule tried


def test_acknowledging_the_incident_answers_its_pages(api, two_tenants, tier):
    incident = incident_of(two_tenants)
    with rls_bypass("test"):
        escalation_request(incident, direction="to_tier", actor=None, team=tier)
    reply = api(two_tenants["analyst_a"]).post(f"/api/v1/incidents/{incident.pk}/acknowledge/")
    assert reply.status_code == 200, reply.content
    (page,) = pages(two_tenants)
    assert page.status == "answered" and page.answered_at is not None
    assert paging.sweep(timezone.now() + timedelta(hours=1)) == 0
    assert [d.kind for d in page_deliveries(two_tenants)] == ["email"]  # no SMS after that


def test_paging_the_lead_reaches_the_tenants_leads_by_their_account_mail(two_tenants):
    lead = StaffFactory(staff_role="lead", tenants=[two_tenants["a"]], email="lead@mssp.example")
    assign_perm("tenants.lead_tenant", lead, two_tenants["a"])
    other_lead = StaffFactory(staff_role="lead", email="b-lead@mssp.example")
    assign_perm("tenants.lead_tenant", other_lead, two_tenants["b"])
    incident = incident_of(two_tenants)
    with rls_bypass("test"):
        escalation_request(incident, direction="to_tier", actor=None, note="(page the lead)")
    assert [p.user for p in pages(two_tenants)] == [lead]
    (sent,) = page_deliveries(two_tenants)
    assert sent.recipient == "lead@mssp.example" and sent.contact_method is None


def test_a_hand_off_pages_the_in_house_team_and_accepting_from_the_page_stops_it(
    client, two_tenants
):
    responder = two_tenants["a_responder"]
    responder.email = "oncall@a.example"
    responder.save(update_fields=["email"])
    with rls_bypass("test fixture"):
        team = Team.objects.create(tenant=two_tenants["a"], name="A in-house", kind="in_house")
    team.members.add(responder)
    incident = incident_of(two_tenants)
    with rls_bypass("test"):
        esc = escalation_request(incident, direction="to_customer", actor=None)
    (page,) = pages(two_tenants)
    assert page.user == responder and not page_deliveries(two_tenants)[0].staff_only
    delivery.deliver_batch()
    (message,) = [m for m in mail.outbox if m.to == ["oncall@a.example"]]
    assert "Accept the hand-off: " in message.body and "Acknowledge: " not in message.body
    accept = message.body.split("Accept the hand-off: ")[1].split()[0]
    client.force_login(responder)
    assert client.post("/" + accept.split("://", 1)[1].split("/", 1)[1]).status_code == 302
    with rls_bypass("test"):
        esc.refresh_from_db()
    assert esc.status == "accepted" and pages(two_tenants)[0].status == "answered"


def test_the_customers_delivery_log_leaves_out_the_mssps_own_pages(api, two_tenants, tier):
    incident = incident_of(two_tenants)
    with rls_bypass("test"):
        escalation_request(incident, direction="to_tier", actor=None, team=tier)
    for who, seen in (("a_admin", 0), ("a_viewer", 0), ("analyst_a", 1)):
        rows = api(two_tenants[who]).get(f"{A}/deliveries/?event_type=page").json()["results"]
        assert len(rows) == seen, who


def test_contact_methods_and_rules_are_their_owners_alone(api, two_tenants, tier, settings):
    settings.WEBHOOK_ALLOW_PRIVATE = True
    mine = api(two_tenants["analyst_a"])
    theirs = api(two_tenants["analyst_b"])
    listed = mine.get("/api/v1/me/contact-methods/").json()["results"]
    assert {m["label"] for m in listed} == {"Work mail", "Phone"}
    assert theirs.get("/api/v1/me/contact-methods/").json()["results"] == []
    method_id = listed[0]["id"]
    assert theirs.get(f"/api/v1/me/contact-methods/{method_id}/").status_code == 404
    assert theirs.delete(f"/api/v1/me/contact-methods/{method_id}/").status_code == 404
    reply = theirs.post(
        "/api/v1/me/notification-rules/", {"contact_method": method_id}, format="json"
    )
    assert reply.status_code == 400  # not one of theirs
    made = theirs.post(
        "/api/v1/me/contact-methods/",
        {"label": "Slack DM", "kind": "slack", "url": "http://127.0.0.1:9/services/T/B/secret"},
        format="json",
    )
    assert made.status_code == 201 and "secret" not in made.content.decode()
    refused = theirs.post(
        "/api/v1/me/contact-methods/",
        {"label": "Mine", "kind": "sms", "target": "12345"},
        format="json",
    )
    assert refused.status_code == 400 and "target" in refused.json()["fields"]
    rule = mine.post(
        "/api/v1/me/notification-rules/",
        {"contact_method": method_id, "delay_minutes": 2000},
        format="json",
    )
    assert rule.status_code == 400 and "delay_minutes" in rule.json()["fields"]


def test_a_first_rule_with_a_delay_waits_for_it(two_tenants, tier):
    analyst = two_tenants["analyst_a"]
    NotificationRule.objects.filter(user=analyst, delay_minutes=0).delete()  # SMS after 5 min
    incident = incident_of(two_tenants)
    with rls_bypass("test"):
        escalation_request(incident, direction="to_tier", actor=None, team=tier)
    assert page_deliveries(two_tenants) == []
    assert paging.sweep(timezone.now() + timedelta(minutes=4)) == 0
    assert paging.sweep(timezone.now() + timedelta(minutes=6)) == 1
    assert [d.kind for d in page_deliveries(two_tenants)] == ["sms"]


def test_a_team_with_a_schedule_pages_only_who_is_on_call(two_tenants, tier):
    """Escalated to SOC L2, whose schedule has one analyst on call this week: only they are
    paged, not the whole team (a team with nobody on call now is paged whole)."""
    from oncall.models import Layer, Schedule

    on_duty = StaffFactory(staff_role="analyst_l2", tenants=[two_tenants["a"]], email="d@x.example")
    tier.members.add(on_duty)
    schedule = Schedule.objects.create(team=tier, name="L2 week", time_zone="Europe/Berlin")
    Layer.objects.create(
        schedule=schedule,
        position=0,
        participants=[on_duty.pk],
        rotation="weekly",
        rotation_start=timezone.now() - timedelta(days=1),
    )
    incident = incident_of(two_tenants)
    with rls_bypass("test"):
        escalation_request(incident, direction="to_tier", actor=None, team=tier)
    (page,) = pages(two_tenants)
    assert page.user == on_duty and "on call" in page.reason


def test_a_customer_asking_the_mssp_for_help_pages_the_tenants_leads(two_tenants):
    lead = StaffFactory(staff_role="lead", tenants=[two_tenants["a"]], email="lead@mssp.example")
    assign_perm("tenants.lead_tenant", lead, two_tenants["a"])
    incident = incident_of(two_tenants)
    with rls_bypass("test"):
        escalation_request(incident, direction="to_mssp", actor=two_tenants["a_responder"])
    (page,) = pages(two_tenants)
    assert page.user == lead and "asks the MSSP for help" in page.reason
