"""SLA clocks: started with the incident, met by the workflow, paused while awaiting the
customer, fired once by the sweeper; the summary; policies."""

from __future__ import annotations

import threading
from datetime import UTC, timedelta

import pytest
import time_machine
from django.db import connection
from django.utils import timezone

from alerts.models import Incident, IncidentEvent
from sla import services
from sla.models import ClockState, SlaClock, SlaPolicy
from tenants.models import AuditEvent
from tenants.rls import rls_bypass, tenant_scope
from tests.factories import ingest_alerts

pytestmark = pytest.mark.django_db


def clocks_of(incident):
    with rls_bypass("test"):
        return {
            c.target: c
            for c in SlaClock.objects.for_tenant(incident.tenant_id).filter(incident=incident)
        }


def the_incident(tenant):
    with rls_bypass("test"):
        return Incident.objects.for_tenant(tenant).get()


def url(incident, action):
    return f"/api/v1/incidents/{incident.pk}/{action}/"


def test_an_opened_incident_starts_its_clocks_from_the_default_contract(two_tenants):
    ingest_alerts(two_tenants["a_source"], 1)  # severity high
    incident = the_incident(two_tenants["a"])
    clocks = clocks_of(incident)
    assert set(clocks) == {"acknowledge", "notify", "contain", "resolve"}
    ack = clocks["acknowledge"]
    assert ack.target_minutes == 30 and ack.state == "running"
    assert ack.due_at == ack.started_at + timedelta(minutes=30)
    assert ack.at_risk_at == ack.started_at + timedelta(minutes=22.5)


def test_tenant_override_wins_over_the_default(two_tenants):
    with rls_bypass("test"):
        SlaPolicy.objects.create(
            tenant=two_tenants["a"], severity="high", acknowledge_minutes=5, resolve_minutes=60
        )
    ingest_alerts(two_tenants["a_source"], 1)
    clocks = clocks_of(the_incident(two_tenants["a"]))
    assert set(clocks) == {"acknowledge", "resolve"}
    assert clocks["acknowledge"].target_minutes == 5


def test_workflow_meets_targets(api, two_tenants):
    opened = timezone.now()
    with time_machine.travel(opened, tick=False):
        ingest_alerts(two_tenants["a_source"], 1)
    incident = the_incident(two_tenants["a"])
    client = api(two_tenants["analyst_a"])
    with time_machine.travel(opened + timedelta(seconds=90), tick=False):
        client.post(url(incident, "acknowledge"))
    client.post(
        url(incident, "comments"), {"body": "We are on it", "visibility": "shared"}, format="json"
    )
    clocks = clocks_of(incident)
    assert clocks["acknowledge"].state == "met" and clocks["notify"].state == "met"
    assert clocks["contain"].state == "running"
    with time_machine.travel(opened + timedelta(minutes=10), tick=False):
        client.post(
            url(incident, "transition"),
            {"status": "resolved", "resolution": "benign"},
            format="json",
        )
    clocks = clocks_of(incident)
    assert clocks["contain"].state == "met" and clocks["resolve"].state == "met"
    # The clocks ran (24x7 for the default contract) from intake to each action, to the second.
    assert clocks["acknowledge"].consumed_seconds == pytest.approx(90, abs=1)
    assert clocks["resolve"].consumed_seconds == pytest.approx(600, abs=1)


def test_awaiting_customer_pauses_and_resuming_moves_the_deadline(api, two_tenants):
    ingest_alerts(two_tenants["a_source"], 1)
    incident = the_incident(two_tenants["a"])
    before = clocks_of(incident)["resolve"]
    client = api(two_tenants["analyst_a"])
    client.post(
        url(incident, "transition"),
        {"status": "awaiting_customer", "reason": "Which host is this?"},
        format="json",
    )
    paused = clocks_of(incident)["resolve"]
    assert paused.state == "paused" and paused.due_at is None
    # an hour later the customer answers
    with rls_bypass("test"):
        SlaClock.objects.for_tenant(two_tenants["a"]).filter(pk=paused.pk).update(
            paused_at=paused.paused_at - timedelta(hours=1)
        )
    client.post(url(incident, "transition"), {"status": "investigating"}, format="json")
    resumed = clocks_of(incident)["resolve"]
    assert resumed.state == "running"
    assert resumed.due_at > before.due_at  # the paused time does not count


def test_sweeper_fires_at_risk_then_breach_exactly_once(
    two_tenants, django_capture_on_commit_callbacks
):
    ingest_alerts(two_tenants["a_source"], 1)
    incident = the_incident(two_tenants["a"])
    ack = clocks_of(incident)["acknowledge"]
    with django_capture_on_commit_callbacks(execute=True) as published:
        assert services.sweep(ack.at_risk_at + timedelta(seconds=1)) == (1, 0)
        assert services.sweep(ack.at_risk_at + timedelta(seconds=2)) == (0, 0)
        assert services.sweep(ack.due_at + timedelta(seconds=1))[1] >= 1
        assert services.sweep(ack.due_at + timedelta(seconds=2)) == (0, 0)
    ack = clocks_of(incident)["acknowledge"]
    assert ack.state == "breached" and ack.breached_at == ack.due_at
    with rls_bypass("test"):
        kinds = list(
            IncidentEvent.objects.for_tenant(two_tenants["a"])
            .filter(incident=incident, kind__startswith="sla_")
            .values_list("kind", flat=True)
        )
        audited = (
            AuditEvent.objects.for_tenant(two_tenants["a"]).filter(action="sla.breached").count()
        )
    assert kinds.count("sla_at_risk") == 1
    assert audited == kinds.count("sla_breached") >= 1
    assert len(published) == len(kinds)  # one stream message per firing


def test_met_clocks_never_fire(api, two_tenants):
    ingest_alerts(two_tenants["a_source"], 1)
    incident = the_incident(two_tenants["a"])
    api(two_tenants["analyst_a"]).post(url(incident, "acknowledge"))
    ack = clocks_of(incident)["acknowledge"]
    services.sweep(ack.started_at + timedelta(days=30))
    assert clocks_of(incident)["acknowledge"].state == "met"


@pytest.mark.services("postgresql")
@pytest.mark.django_db(transaction=True)
def test_two_sweepers_at_once_fire_each_clock_once(two_tenants):
    ingest_alerts(two_tenants["a_source"], 30)
    ingest_alerts(two_tenants["b_source"], 30)
    later = timezone.now() + timedelta(days=60)
    results = []
    barrier = threading.Barrier(2)

    def sweeper():
        try:
            barrier.wait()
            total = [0, 0]
            while True:
                fired = services.sweep(later, batch=7)
                total = [total[0] + fired[0], total[1] + fired[1]]
                if fired == (0, 0):
                    break
            results.append(total)
        finally:
            connection.close()

    threads = [threading.Thread(target=sweeper) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    with rls_bypass("test"):
        clocks = SlaClock.objects.dangerously_unscoped("test").count()
        breaches = (
            AuditEvent.objects.dangerously_unscoped("test").filter(action="sla.breached").count()
        )
        warnings = (
            AuditEvent.objects.dangerously_unscoped("test").filter(action="sla.at_risk").count()
        )
    fired_breaches = sum(r[1] for r in results)
    fired_warnings = sum(r[0] for r in results)
    assert (clocks, fired_breaches, breaches) == (240, 240, 240), results
    # A clock swept for its breach before its warning was reached gets no late warning.
    assert fired_warnings == warnings <= 240


def test_summary_is_the_same_for_the_customer_and_the_mssp(api, two_tenants):
    ingest_alerts(two_tenants["a_source"], 3)
    ingest_alerts(two_tenants["b_source"], 2)
    analyst = api(two_tenants["analyst_a"])
    with rls_bypass("test"):
        first = Incident.objects.for_tenant(two_tenants["a"]).first()
    analyst.post(url(first, "acknowledge"))
    period = "from=2020-01-01T00:00:00Z&to=2100-01-01T00:00:00Z"
    mine = api(two_tenants["a_viewer"]).get(f"/api/v1/sla/summary/?{period}").json()
    mssp = (
        api(two_tenants["mssp_admin"]).get(f"/api/v1/sla/summary/?{period}&tenant=tenant-a").json()
    )
    assert mine == mssp
    assert mine["targets"]["acknowledge"]["clocks"] == 3
    assert mine["targets"]["acknowledge"]["met"] == 1
    assert mine["mtta_seconds"] is not None
    everything = api(two_tenants["mssp_admin"]).get("/api/v1/sla/summary/").json()
    assert everything["targets"]["acknowledge"]["clocks"] == 5
    bad = api(two_tenants["a_viewer"]).get("/api/v1/sla/summary/?from=yesterday")
    assert bad.status_code == 400


def test_policies_read_by_all_written_by_mssp_admins(api, two_tenants):
    customer = api(two_tenants["a_admin"])
    listed = customer.get("/api/v1/sla/policies/").json()["results"]
    assert {p["severity"] for p in listed if p["tenant"] is None} == {
        "critical",
        "high",
        "medium",
        "low",
        "info",
    }
    body = {"tenant": "tenant-a", "severity": "critical", "acknowledge_minutes": 10}
    assert customer.post("/api/v1/sla/policies/", body, format="json").status_code == 403
    admin = api(two_tenants["mssp_admin"])
    created = admin.post("/api/v1/sla/policies/", body, format="json")
    assert created.status_code == 201, created.json()
    assert admin.post("/api/v1/sla/policies/", body, format="json").status_code == 400
    b_view = api(two_tenants["b_admin"]).get("/api/v1/sla/policies/").json()["results"]
    assert all(p["tenant"] in (None, "tenant-b") for p in b_view)


def test_queue_orders_by_sla_time_left_across_tenants(api, two_tenants):
    from tests.factories import StaffFactory

    ingest_alerts(two_tenants["b_source"], 1)  # high: acknowledge within 30 minutes
    with rls_bypass("test"):
        SlaPolicy.objects.create(tenant=two_tenants["a"], severity="high", acknowledge_minutes=5)
    ingest_alerts(two_tenants["a_source"], 1)  # newer, same severity, but due in 5 minutes
    both = StaffFactory(staff_role="analyst_l2", tenants=[two_tenants["a"], two_tenants["b"]])
    queue = api(both).get("/api/v1/queue/").json()["results"]
    assert [row["tenant"] for row in queue] == ["tenant-a", "tenant-b"]
    assert queue[0]["respond_by"] < queue[1]["respond_by"]
    # acknowledged: its next deadline is the later notify target
    incident = the_incident(two_tenants["a"])
    api(both).post(url(incident, "acknowledge"))
    queue = api(both).get("/api/v1/queue/").json()["results"]
    assert [row["tenant"] for row in queue] == ["tenant-b", "tenant-a"]


def test_trend_buckets_are_the_periods_own_days(two_tenants):
    """A clock started at 23:30 UTC is, in Berlin, on the next day: the trend puts it in the
    day the period's time zone says, and the trend's decided clocks add up to the summary's."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from sla.selectors import get_sla_summary, get_sla_trend

    berlin = ZoneInfo("Europe/Berlin")
    ingest_alerts(two_tenants["a_source"], 1)
    started = datetime(2026, 11, 2, 23, 30, tzinfo=UTC)  # 00:30 on 3 November in Berlin
    with rls_bypass("test: one decided clock at a day's edge"):
        SlaClock.objects.dangerously_unscoped("t").filter(tenant=two_tenants["a"]).update(
            started_at=started, state=ClockState.MET, consumed_seconds=60
        )
    start = datetime(2026, 11, 1, tzinfo=berlin)
    end = datetime(2026, 11, 5, tzinfo=berlin)
    ids = [two_tenants["a"].pk]
    with tenant_scope(ids):
        summary = get_sla_summary(ids, start, end)
        trend = get_sla_trend(ids, start, end)
    by_day = {point["period_start"].isoformat(): point["decided"] for point in trend}
    decided = sum(t["met"] + t["breached"] for t in summary["targets"].values())
    assert decided > 0 and sum(by_day.values()) == decided
    assert by_day["2026-11-03"] == decided and by_day["2026-11-02"] == 0
