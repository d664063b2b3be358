"""An escalation step names a team, whoever is on call on a schedule, or one person; the step
pages exactly them, and a policy can never name another customer's team, schedule or people."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from guardian.shortcuts import remove_perm

from alerts.models import Incident, IncidentEvent
from notifications.models import Page
from oncall.models import Layer, Schedule
from sla import escalation
from sla.models import Escalation, EscalationPolicy, EscalationRun
from tenants.models import Team
from tenants.rls import rls_bypass
from tests.factories import StaffFactory, ingest_alerts

pytestmark = pytest.mark.django_db
POLICIES = "/api/v1/tenants/tenant-a/escalation-policies/"


def rows(model, tenant, **filters):
    with rls_bypass("test"):
        return list(model.objects.for_tenant(tenant).filter(**filters))


def weekly(schedule: Schedule, *people) -> None:
    Layer.objects.create(
        schedule=schedule,
        position=0,
        participants=[p.pk for p in people],
        rotation="weekly",
        rotation_start=timezone.now() - timedelta(days=1),
    )


@pytest.fixture
def world(two_tenants):
    """SOC L2 with a weekly schedule that has analyst_a on call; A's and B's in-house teams,
    each with a schedule of their own responder."""
    w = two_tenants
    w["tier"] = Team.objects.create(name="SOC L2", kind="mssp_tier")
    w["on_duty"] = StaffFactory(staff_role="analyst_l2", tenants=[w["a"]])
    w["off_duty"] = StaffFactory(staff_role="analyst_l2", tenants=[w["a"]])
    w["tier"].members.add(w["on_duty"], w["off_duty"])
    w["tier_week"] = Schedule.objects.create(team=w["tier"], name="L2 week", time_zone="UTC")
    weekly(w["tier_week"], w["on_duty"])
    with rls_bypass("test fixture"):
        for key in ("a", "b"):
            team = Team.objects.create(tenant=w[key], name=f"{key} team", kind="in_house")
            team.members.add(w[f"{key}_responder"])
            w[f"{key}_rota"] = Schedule.objects.create(
                team=team, name=f"{key} rota", time_zone="Europe/Berlin"
            )
            weekly(w[f"{key}_rota"], w[f"{key}_responder"])
    return w


def policy_of(w, *steps):
    with rls_bypass("test fixture"):
        EscalationPolicy.objects.create(tenant=w["a"], name="Targets", steps=list(steps))


def fire_first_step(w) -> Escalation:
    ingest_alerts(w["a_source"], title="Credential stuffing")
    (run,) = rows(EscalationRun, w["a"])
    escalation.sweep(run.started_at + timedelta(seconds=1))
    (esc,) = rows(Escalation, w["a"])
    return esc


def paged(w) -> list:
    return [p.user for p in rows(Page, w["a"])]


def test_a_schedule_step_pages_whoever_is_on_call_on_it(world):
    policy_of(world, {"action": "notify_tier", "schedule": str(world["tier_week"].pk)})
    esc = fire_first_step(world)
    assert esc.schedule_id == world["tier_week"].pk and esc.team_id == world["tier"].pk
    assert paged(world) == [world["on_duty"]]  # not the rest of the team


def test_a_person_step_pages_that_person_only(world):
    policy_of(world, {"action": "page_lead", "person": world["off_duty"].pk})
    esc = fire_first_step(world)
    assert esc.person_id == world["off_duty"].pk
    assert paged(world) == [world["off_duty"]]


def test_a_hand_off_to_the_customers_schedule_pages_its_on_call(world):
    world["a"].service_model = "hybrid"
    world["a"].save(update_fields=["service_model"])
    policy_of(world, {"action": "handoff_in_house", "schedule": str(world["a_rota"].pk)})
    esc = fire_first_step(world)
    assert esc.direction == "to_customer" and esc.status == "pending"
    assert paged(world) == [world["a_responder"]]


def test_on_call_people_who_may_not_open_the_incident_are_not_woken(world):
    """A tier member on call who does not work this customer: the rest of the team who do
    are paged instead, never someone the incident would be a 404 for."""
    remove_perm("tenants.work_tenant", world["on_duty"], world["a"])
    policy_of(world, {"action": "notify_tier", "schedule": str(world["tier_week"].pk)})
    fire_first_step(world)
    assert paged(world) == [world["off_duty"]]


def test_a_step_whose_person_lost_access_is_skipped_in_the_timeline(world):
    policy_of(world, {"action": "page_lead", "person": world["off_duty"].pk})
    remove_perm("tenants.work_tenant", world["off_duty"], world["a"])
    ingest_alerts(world["a_source"], title="Credential stuffing")
    (run,) = rows(EscalationRun, world["a"])
    escalation.sweep(run.started_at + timedelta(seconds=1))
    assert rows(Escalation, world["a"]) == [] and paged(world) == []
    (skipped,) = rows(IncidentEvent, world["a"], kind="escalation_skipped")
    assert "target is gone" in skipped.summary and skipped.visibility == "internal"


@pytest.mark.parametrize(
    "step, problem",
    [
        ({"action": "handoff_in_house", "schedule": "B_ROTA"}, "no such on-call schedule"),
        ({"action": "notify_tier", "person": "B_RESPONDER"}, "no such person"),
        ({"action": "notify_tier", "person": "ANALYST_B"}, "no such person"),
        ({"action": "notify_tier", "team": "B_TEAM"}, "no such team"),
        ({"action": "notify_tier", "schedule": "not-a-uuid"}, "no such on-call schedule"),
        ({"action": "notify_tier", "person": True}, "no such person"),
        ({"action": "handoff_in_house", "schedule": "TIER_WEEK"}, "customer's own team"),
        ({"action": "handoff_in_house", "person": "ON_DUTY"}, "customer's own people"),
        ({"action": "notify_tier", "person": "A_RESPONDER"}, "MSSP's own"),
        ({"action": "page_lead", "schedule": "A_ROTA"}, "MSSP's own"),
        ({"action": "notify_noc", "team": "TIER"}, "not a NOC"),
        ({"action": "notify_tier", "team": "TIER", "person": "ON_DUTY"}, "not several"),
    ],
)
def test_a_policy_cannot_name_a_target_out_of_this_customers_reach(api, world, step, problem):
    values = {
        "B_ROTA": str(world["b_rota"].pk),
        "B_RESPONDER": world["b_responder"].pk,
        "ANALYST_B": world["analyst_b"].pk,
        "B_TEAM": str(world["b_rota"].team_id),
        "TIER_WEEK": str(world["tier_week"].pk),
        "ON_DUTY": world["on_duty"].pk,
        "A_RESPONDER": world["a_responder"].pk,
        "A_ROTA": str(world["a_rota"].pk),
        "TIER": str(world["tier"].pk),
    }
    step = {key: values.get(value, value) for key, value in step.items()}
    reply = api(world["mssp_admin"]).post(
        POLICIES, {"name": "Reach", "steps": [step]}, format="json"
    )
    assert reply.status_code == 400, reply.content
    assert problem in reply.json()["detail"]
    assert rows(EscalationPolicy, world["a"]) == []


def test_a_policy_names_schedules_and_people_within_reach(api, world):
    steps = [
        {"action": "notify_tier", "schedule": str(world["tier_week"].pk)},
        {"action": "handoff_in_house", "schedule": str(world["a_rota"].pk), "wait_minutes": 5},
        {"action": "page_lead", "person": world["on_duty"].pk, "wait_minutes": 5},
    ]
    reply = api(world["mssp_admin"]).post(
        POLICIES, {"name": "Reach", "steps": steps}, format="json"
    )
    assert reply.status_code == 201, reply.content
    assert reply.json()["steps"] == steps


def test_the_customers_policy_page_names_the_schedule_but_not_the_mssps_people(client, world):
    policy_of(
        world,
        {"action": "handoff_in_house", "schedule": str(world["a_rota"].pk)},
        {"action": "page_lead", "person": world["on_duty"].pk},
    )
    client.force_login(world["a_responder"])
    page = client.get("/settings/escalation/").content.decode()
    assert "whoever is on call on a rota" in page
    assert "a named MSSP engineer" in page and world["on_duty"].username not in page


def test_the_escalation_api_says_which_schedule_and_person(api, world):
    policy_of(world, {"action": "notify_tier", "schedule": str(world["tier_week"].pk)})
    esc = fire_first_step(world)
    reply = api(world["analyst_a"]).get(f"/api/v1/escalations/{esc.pk}/")
    assert reply.status_code == 200, reply.content
    assert reply.json()["schedule"] == "L2 week" and reply.json()["person"] is None
    with rls_bypass("test"):
        assert Incident.objects.for_tenant(world["a"]).count() == 1
