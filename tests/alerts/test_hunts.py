"""Hunts: a saved search over alerts and observables, run across the tenants the runner works
(three tenants, the analyst works two: the third's alerts exist and are never found), on
demand and on a schedule, paged like the alert list; a hit opens an incident in its tenant."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from alerts.hunts import run_due_hunts
from alerts.ingest import ingest
from alerts.intake.generic import parse
from alerts.models import Alert, Hunt, HuntRun, Incident, IntakeSource
from sla.models import SlaClock
from tenants.rls import rls_bypass, tenant_scope
from tests.factories import IntakeSourceFactory, StaffFactory, TenantFactory

pytestmark = pytest.mark.django_db

TOR = "185.220.101.47"


def _alert(source, title, observables, **extra) -> Alert:
    record = parse({"title": title, "severity": "high", "observables": observables, **extra})
    with tenant_scope([source.tenant_id]):
        source = (
            IntakeSource.objects.for_tenant(source.tenant_id)
            .select_related("tenant")
            .get(pk=source.pk)
        )
        alert_id = ingest(source, [record]).alert_ids[0]
        return Alert.objects.for_tenant(source.tenant_id).get(pk=alert_id)


@pytest.fixture
def world(two_tenants):
    w = dict(two_tenants)
    w["c"] = TenantFactory(slug="tenant-c", name="Tenant C")
    w["c_source"] = IntakeSourceFactory(tenant=w["c"])
    w["hunter"] = StaffFactory(staff_role="analyst_l2", tenants=[w["a"], w["b"]])
    for name in ("a", "b", "c"):
        w[f"{name}_hit"] = _alert(
            w[f"{name}_source"],
            f"VPN login from Tor at {name.upper()}",
            [{"type": "ip", "value": TOR}, {"type": "user", "value": f"{name}-user"}],
            mitre=["T1078"],
        )
        w[f"{name}_miss"] = _alert(
            w[f"{name}_source"], f"Printer offline at {name.upper()}", [], category="availability"
        )
    return w


def _create(client, **overrides):
    body = {
        "name": "Tor logins",
        "query": {"observable_type": "ip", "observable_value": TOR},
        "lookback_days": 7,
        **overrides,
    }
    return client.post("/api/v1/hunts/", body, format="json")


def test_a_hunt_finds_the_hits_of_the_tenants_the_analyst_works_and_nothing_else(api, world):
    client = api(world["hunter"])
    hunt = _create(client).json()
    run = client.post(f"/api/v1/hunts/{hunt['id']}/run/").json()
    assert run["per_tenant"] == {"tenant-a": 1, "tenant-b": 1}
    assert run["hits"] == 2 and run["new_hits"] == 2
    results = client.get(f"/api/v1/hunts/{hunt['id']}/results/").json()["results"]
    found = {r["id"] for r in results}
    assert found == {str(world["a_hit"].pk), str(world["b_hit"].pk)}
    with rls_bypass("test: C's hit exists"):
        assert Alert.objects.dangerously_unscoped("t").filter(pk=world["c_hit"].pk).exists()
    # Naming tenant C (not worked) narrows to nothing rather than widening.
    narrowed = _create(
        client,
        name="C only",
        query={"observable_value": TOR, "tenants": ["tenant-c"]},
    ).json()
    assert client.post(f"/api/v1/hunts/{narrowed['id']}/run/").json()["hits"] == 0
    assert client.get(f"/api/v1/hunts/{narrowed['id']}/results/").json()["results"] == []


@pytest.mark.parametrize(
    "query, field",
    [
        ({"q": "Tor", "mitre": "T1078"}, None),
        ({"category": "availability"}, None),
        ({"rule": "nothing-like-it"}, None),
        ({"severity": ["critical"]}, None),
    ],
)
def test_field_filters(api, world, query, field):
    client = api(world["hunter"])
    hunt = _create(client, query=query).json()
    results = client.get(f"/api/v1/hunts/{hunt['id']}/results/").json()["results"]
    titles = {r["title"] for r in results}
    if "q" in query:
        assert titles == {"VPN login from Tor at A", "VPN login from Tor at B"}
    elif "category" in query:
        assert titles == {"Printer offline at A", "Printer offline at B"}
    else:
        assert titles == set()


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"query": {}}, "at least one condition"),
        ({"query": {"observable_type": "ip"}}, "value"),
        ({"query": {"mitre": "1078"}}, "mitre"),
        ({"query": {"severity": ["urgent"]}}, "severity"),
        ({"lookback_days": 0}, "lookback_days"),
        ({"lookback_days": 1000}, "lookback_days"),
        ({"name": "x" * 201}, "name"),
        ({"query": {"q": "a\x00b"}}, ""),
        ({"query": "not an object"}, "query"),
    ],
)
def test_bad_hunts_are_refused_with_a_message(api, world, overrides, message):
    response = _create(api(world["hunter"]), **overrides)
    assert response.status_code == 400, response.json()
    assert message in response.json()["detail"]


def test_hunts_are_for_mssp_staff_only(api, client, world):
    for who in ("a_admin", "a_responder", "a_viewer"):
        assert api(world[who]).get("/api/v1/hunts/").status_code == 403
        assert _create(api(world[who])).status_code == 403
        client.force_login(world[who])
        assert client.get("/hunts/").status_code == 403


def test_a_shared_hunt_runs_over_the_runners_own_tenants(api, world):
    owner = api(world["hunter"])
    hunt = _create(owner, shared=True).json()
    private = _create(owner, name="mine").json()
    owner.post(f"/api/v1/hunts/{hunt['id']}/run/")  # the owner's run: A and B
    other = api(world["analyst_b"])  # works B only
    listed = {h["id"] for h in other.get("/api/v1/hunts/").json()["results"]}
    assert hunt["id"] in listed and private["id"] not in listed
    assert other.get(f"/api/v1/hunts/{private['id']}/").status_code == 404
    run = other.post(f"/api/v1/hunts/{hunt['id']}/run/").json()
    assert run["per_tenant"] == {"tenant-b": 1}
    results = other.get(f"/api/v1/hunts/{hunt['id']}/results/").json()["results"]
    assert {r["id"] for r in results} == {str(world["b_hit"].pk)}
    # The owner's earlier run counted A too: B's analyst is told about B only.
    for row in other.get(f"/api/v1/hunts/{hunt['id']}/runs/").json():
        assert set(row["per_tenant"]) <= {"tenant-b"}
    assert (
        other.patch(f"/api/v1/hunts/{hunt['id']}/", {"name": "mine now"}, format="json").status_code
        == 403
    )
    assert other.delete(f"/api/v1/hunts/{hunt['id']}/").status_code == 403
    assert Hunt.objects.get(pk=hunt["id"]).name == "Tor logins"


def test_scheduled_hunts_run_once_as_their_owner_and_count_what_is_new(api, world):
    hunt = Hunt.objects.get(pk=_create(api(world["hunter"]), schedule="hourly").json()["id"])
    assert hunt.next_run_at is not None
    Hunt.objects.filter(pk=hunt.pk).update(next_run_at=timezone.now() - timedelta(seconds=1))
    assert run_due_hunts() == 1
    assert run_due_hunts() == 0  # moved to the next hour: not twice
    first = HuntRun.objects.get(hunt=hunt)
    assert first.scheduled and first.per_tenant == {"tenant-a": 1, "tenant-b": 1}
    _alert(world["a_source"], "Another Tor login at A", [{"type": "ip", "value": TOR}])
    Hunt.objects.filter(pk=hunt.pk).update(next_run_at=timezone.now() - timedelta(seconds=1))
    assert run_due_hunts() == 1
    latest = HuntRun.objects.filter(hunt=hunt).order_by("-started_at").first()
    assert latest.hits == 3 and latest.new_hits == 1
    next_run = Hunt.objects.get(pk=hunt.pk).next_run_at
    assert timedelta(minutes=59) < next_run - timezone.now() <= timedelta(hours=1)


def test_a_failing_scheduled_hunt_is_recorded_and_the_others_still_run(api, world, monkeypatch):
    from django.db import DatabaseError

    from alerts import hunts

    client = api(world["hunter"])
    broken = Hunt.objects.get(pk=_create(client, name="a", schedule="daily").json()["id"])
    fine = Hunt.objects.get(pk=_create(client, name="b", schedule="daily").json()["id"])
    Hunt.objects.update(next_run_at=timezone.now() - timedelta(seconds=1))
    real = hunts.hunt_run

    def flaky(hunt, access, **kwargs):
        if hunt.pk == broken.pk:
            raise DatabaseError("canceling statement due to statement timeout")
        return real(hunt, access, **kwargs)

    monkeypatch.setattr(hunts, "hunt_run", flaky)
    assert run_due_hunts() == 2
    failed = HuntRun.objects.get(hunt=broken)
    assert failed.status == "failed" and "statement timeout" in failed.error
    assert HuntRun.objects.get(hunt=fine).status == "done"
    assert Hunt.objects.get(pk=broken.pk).next_run_at > timezone.now()  # not retried at once


def test_a_hit_opens_an_incident_in_its_tenant(api, world):
    client = api(world["hunter"])
    hit = world["a_hit"]
    # Its incident is open: that one is the answer.
    again = client.post(f"/api/v1/alerts/{hit.pk}/open-incident/")
    assert again.status_code == 200 and again.json()["id"] == str(hit.incident_id)
    # Resolved: a new incident of its own, on the SLA clock.
    with rls_bypass("test: resolve the incident"):
        Incident.objects.dangerously_unscoped("t").filter(pk=hit.incident_id).update(
            status="closed"
        )
    opened = client.post(
        f"/api/v1/alerts/{hit.pk}/open-incident/", {"reason": "hunt"}, format="json"
    )
    assert opened.status_code == 201, opened.json()
    body = opened.json()
    assert body["tenant"] == "tenant-a" and body["id"] != str(hit.incident_id)
    with rls_bypass("test"):
        assert SlaClock.objects.dangerously_unscoped("t").filter(incident_id=body["id"]).exists()
        assert Alert.objects.dangerously_unscoped("t").get(pk=hit.pk).incident_id is not None
    # Tenant C's alert: not found, like a missing one; customers may not.
    assert client.post(f"/api/v1/alerts/{world['c_hit'].pk}/open-incident/").status_code == 404
    customer = api(world["a_admin"]).post(f"/api/v1/alerts/{hit.pk}/open-incident/")
    assert customer.status_code == 403


def test_hunt_pages(client, world):
    client.force_login(world["hunter"])
    assert b"No hunt saved yet" in client.get("/hunts/").content
    bad = client.post("/hunts/", {"name": "x"})
    assert bad.status_code == 400 and b"at least one condition" in bad.content
    created = client.post(
        "/hunts/",
        {"name": "Tor", "observable_type": "ip", "observable_value": TOR, "lookback_days": "7"},
    )
    assert created.status_code == 302
    page = client.get(created["Location"]).content.decode()
    assert "VPN login from Tor at A" in page and "VPN login from Tor at B" in page
    assert "at C" not in page
    assert client.get(created["Location"] + "?cursor=zz").status_code == 400
    ran = client.post(created["Location"] + "run/", follow=True)
    assert "2 hit(s)" in " ".join(str(m) for m in ran.context["messages"])
    assert "tenant-a: 1" in ran.content.decode()
    # A hit with an open incident links it; after closing, the page opens a new one.
    with rls_bypass("test: close A's incident"):
        Incident.objects.dangerously_unscoped("t").filter(pk=world["a_hit"].incident_id).update(
            status="closed"
        )
    opened = client.post(f"/alerts/{world['a_hit'].pk}/open-incident/")
    assert opened.status_code == 302 and "/incidents/" in opened["Location"]
    assert client.post(f"/alerts/{world['c_hit'].pk}/open-incident/").status_code == 404


def test_run_counts_are_those_of_the_viewers_tenants_only(api, client, world):
    """A lead who works A, B and C runs a shared hunt; the hunter works A and B: every count
    the hunter is shown (hits, new hits, per tenant; API and pages) leaves C out."""
    lead = StaffFactory(staff_role="lead", tenants=[world["a"], world["b"], world["c"]])
    hunt = _create(api(lead), shared=True).json()
    first = api(lead).post(f"/api/v1/hunts/{hunt['id']}/run/").json()
    assert first["hits"] == 3 and first["new_hits"] == 3  # the lead's own view: all three
    _alert(world["c_source"], "Another Tor login at C", [{"type": "ip", "value": TOR}])
    second = api(lead).post(f"/api/v1/hunts/{hunt['id']}/run/").json()
    assert second["hits"] == 4 and second["new_hits"] == 1
    rows = api(world["hunter"]).get(f"/api/v1/hunts/{hunt['id']}/runs/").json()
    assert [(r["hits"], r["new_hits"], r["per_tenant"]) for r in rows] == [
        (2, 0, {"tenant-a": 1, "tenant-b": 1}),
        (2, 2, {"tenant-a": 1, "tenant-b": 1}),
    ]
    client.force_login(world["hunter"])
    page = client.get(f"/hunts/{hunt['id']}/")
    assert [(r.visible_hits, r.visible_new_hits) for r in page.context["runs"]] == [(2, 0), (2, 2)]
    assert "tenant-c" not in page.content.decode()
    listed = client.get("/hunts/")
    assert [h.last_hits for h in listed.context["hunts"]] == [2]
