"""A match against an indicator the tenant's customers may not see (a TLP:RED global one) is
no oracle: it changes nothing a customer can observe (severity, SLA clocks, timeline, stream,
pages), whatever path found it (intake or retro-hunt). MSSP staff see it (internal timeline
entry, staff-only stream event) and may raise the incident by hand: an ordinary analyst
action that the customer then sees as such, without the match."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from django.utils import timezone

from intel.models import Indicator, IndicatorMatch
from tenants.rls import rls_bypass
from tests.factories import issue_token
from tests.intel.test_intel import incident_of, indicator, ingest, ip, timeline_of

pytestmark = pytest.mark.django_db

RED = "203.0.113.66"
PROBES = ("198.51.100.1", "198.51.100.2", RED)  # two values nobody names, and the RED one


def send_probes(source) -> list:
    """Three `low` alerts of the customer's own source, each its own incident."""
    return [
        ingest(source, {"title": f"Probe {n}", "severity": "low", "observables": ip(value)})[0]
        for n, value in enumerate(PROBES)
    ]


@pytest.fixture
def red_world(two_tenants):
    w = dict(two_tenants)
    indicator(kind="ip", value=RED, tlp="red", confidence=95, severity="critical")
    w["probes"] = send_probes(w["a_source"])
    return w


def _without_ids(data: dict) -> str:
    """An event's data with the ids (which differ from alert to alert) blanked."""
    blank = {}
    for key, value in data.items():
        try:
            uuid.UUID(str(value))
            blank[key] = "<id>"
        except ValueError:
            blank[key] = value
    return json.dumps(blank, sort_keys=True)


def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _shape(incident: dict) -> tuple:
    """What a customer sees of an incident, but for what differs between any two incidents
    (ids, titles, times); respond_by as its distance from the incident's creation, in
    seconds (the SLA clocks follow the severity)."""
    respond = incident["respond_by"]
    lead = (
        round((_moment(respond) - _moment(incident["created_at"])).total_seconds() / 10)
        if respond
        else None
    )
    return (incident["severity"], incident["status"], incident["alert_count"], lead)


def test_a_red_match_changes_nothing_the_customer_sees_in_the_api(red_world, api):
    w = red_world
    customer = api(w["a_admin"])
    incidents = [customer.get(f"/api/v1/incidents/{a.incident_id}/").json() for a in w["probes"]]
    assert [i["severity"] for i in incidents] == ["low", "low", "low"]
    assert _shape(incidents[2]) == _shape(incidents[0]) == _shape(incidents[1])
    listed = customer.get("/api/v1/incidents/?page_size=50").json()["results"]
    assert {i["severity"] for i in listed} == {"low"} and len(listed) == 3
    timelines = [
        customer.get(f"/api/v1/incidents/{a.incident_id}/timeline/").json() for a in w["probes"]
    ]
    kinds = [[e["kind"] for e in t] for t in timelines]
    assert kinds[2] == kinds[0] == kinds[1]
    assert RED not in json.dumps(timelines) and "intelligence" not in json.dumps(timelines)
    assert customer.get("/api/v1/intel/matches/").json()["results"] == []
    alerts = customer.get("/api/v1/alerts/?page_size=50").json()["results"]
    assert {a["severity"] for a in alerts} == {"low"}

    # MSSP staff: the match, and an internal entry saying what it would have done
    staff = api(w["analyst_a"])
    red_incident = w["probes"][2].incident_id
    assert staff.get(f"/api/v1/incidents/{red_incident}/").json()["severity"] == "low"
    entries = staff.get(f"/api/v1/incidents/{red_incident}/timeline/").json()
    intel = [e for e in entries if e["kind"] == "intel_matched"]
    assert len(intel) == 1 and intel[0]["visibility"] == "internal"
    assert "critical" in intel[0]["summary"] and "by hand" in intel[0]["summary"]
    assert "severity_raised" not in [e["kind"] for e in entries]
    (match,) = staff.get(f"/api/v1/intel/matches/?incident={red_incident}").json()["results"]
    assert match["severity_raised_to"] == "" and match["tlp"] == "red"


def test_a_red_match_changes_nothing_on_the_customers_pages(red_world, client):
    w = red_world
    red = w["probes"][2]
    client.force_login(w["a_viewer"])
    listed = client.get("/incidents/").content.decode()
    assert "sev-critical" not in listed and listed.count("sev-low") >= 3
    response = client.get(f"/incidents/{red.incident_id}/")
    control = client.get(f"/incidents/{w['probes'][0].incident_id}/")
    page = response.content.decode()
    assert 'class="sev sev-low"' in page and "sev-critical" not in page
    kinds = [[e.kind for e in r.context["timeline"]] for r in (response, control)]
    assert kinds[0] == kinds[1]
    assert "Threat intelligence" not in page and "intelligence" not in page.lower()
    alert_page = client.get(f"/alerts/{red.pk}/").content.decode()
    assert "Threat intelligence" not in alert_page
    # MSSP staff see the match, and may raise the incident from it
    client.force_login(w["analyst_a"])
    staff_page = client.get(f"/incidents/{red.incident_id}/").content.decode()
    assert "Threat intelligence" in staff_page and "Raise the incident to" in staff_page


def test_staff_raise_the_incident_by_hand_as_an_ordinary_analyst_action(red_world, api, client):
    w = red_world
    red = w["probes"][2]
    (match,) = api(w["analyst_a"]).get(f"/api/v1/intel/matches/?alert={red.pk}").json()["results"]
    url = f"/api/v1/intel/matches/{match['id']}/raise/"
    # customers may not (and learn nothing of the match); another tenant's analyst finds nothing
    assert api(w["a_admin"]).post(url).status_code == 403
    assert api(w["analyst_b"]).post(url).status_code == 404
    raised = api(w["analyst_a"]).post(url)
    assert raised.status_code == 200, raised.json()
    assert raised.json()["severity"] == "critical"
    customer = api(w["a_viewer"])
    assert customer.get(f"/api/v1/incidents/{red.incident_id}/").json()["severity"] == "critical"
    timeline = customer.get(f"/api/v1/incidents/{red.incident_id}/timeline/").json()
    (entry,) = [e for e in timeline if e["kind"] == "severity_raised"]
    assert entry["actor_name"] == w["analyst_a"].username
    assert RED not in json.dumps(entry) and "intelligence" not in json.dumps(entry).lower()
    assert str(match["id"]) not in json.dumps(entry)
    assert customer.get("/api/v1/intel/matches/").json()["results"] == []
    with rls_bypass("test"):
        assert IndicatorMatch.objects.for_tenant(w["a"]).get(pk=match["id"]).severity_raised_to
    again = api(w["analyst_a"]).post(url)
    assert again.status_code == 409 and "already" in again.json()["detail"]


def test_staff_raise_the_incident_from_the_incident_page(red_world, client):
    w = red_world
    red = w["probes"][2]
    with rls_bypass("test"):
        match = IndicatorMatch.objects.for_tenant(w["a"]).get(alert_id=red.pk)
    client.force_login(w["a_admin"])
    assert client.post(f"/intel/matches/{match.pk}/raise/").status_code == 403
    client.force_login(w["analyst_b"])
    assert client.post(f"/intel/matches/{match.pk}/raise/").status_code == 404
    client.force_login(w["analyst_a"])
    done = client.post(f"/intel/matches/{match.pk}/raise/")
    assert done.status_code == 302 and str(red.incident_id) in done["Location"]
    assert incident_of(red).severity == "critical"


def test_a_retro_hunt_red_match_changes_nothing_the_customer_sees(
    two_tenants, api, django_capture_on_commit_callbacks
):
    w = two_tenants
    (alert,) = ingest(w["a_source"], {"severity": "low", "observables": ip("198.18.7.7")})
    with django_capture_on_commit_callbacks(execute=True):
        created = api(w["mssp_admin"]).post(
            "/api/v1/intel/indicators/",
            {"value": "198.18.7.7", "tlp": "red", "confidence": 95, "severity": "critical"},
            format="json",
        )
    assert created.status_code == 201, created.json()
    hunt = created.json()["retro_hunt"]
    assert api(w["mssp_admin"]).get(f"/api/v1/intel/retro-hunts/{hunt}/").json()["hits"] == 1
    assert incident_of(alert).severity == "low"
    shared = [e.kind for e in timeline_of(incident_of(alert)) if e.visibility == "shared"]
    assert "intel_matched" not in shared and "severity_raised" not in shared


@pytest.mark.services("redis")
@pytest.mark.django_db(transaction=True)
def test_a_red_match_sends_the_customer_exactly_what_any_alert_does(two_tenants):
    from tests.tenants.test_stream import QUIET, WAIT, token_socket

    w = two_tenants
    indicator(kind="ip", value=RED, tlp="red", confidence=95, severity="critical")
    names = ("a_viewer", "a_admin", "a_responder", "analyst_a")
    tokens = {name: issue_token(w[name]) for name in names}

    async def drain(socket):
        got = []
        while not await socket.receive_nothing(timeout=QUIET):
            got.append(await socket.receive_json_from(timeout=WAIT))
        return [(e["type"], _without_ids(e["data"])) for e in got]

    async def scenario():
        sockets = {name: await token_socket(token) for name, token in tokens.items()}
        try:
            seen = []
            for n, value in enumerate(PROBES):
                await database_sync_to_async(ingest)(
                    w["a_source"],
                    {"title": f"Probe {n}", "severity": "low", "observables": ip(value)},
                )
                seen.append({name: await drain(s) for name, s in sockets.items()})
            for name in ("a_viewer", "a_admin", "a_responder"):
                assert seen[2][name] == seen[0][name] == seen[1][name], name
                assert seen[2][name], name  # they did get the alert's own events
            staff = [kind for kind, _ in seen[2]["analyst_a"]]
            assert "intel.matched" in staff and "incident.updated" not in staff
        finally:
            for socket in sockets.values():
                await socket.disconnect()

    async_to_sync(scenario)()


def test_a_list_that_turns_an_indicator_red_takes_its_matches_from_customers(
    two_tenants, api, django_capture_on_commit_callbacks
):
    """An import that updates an indicator is an edit of it: turned TLP:RED, its earlier
    matches and their timeline entries leave the customer (as an API edit does)."""
    w = two_tenants
    indicator(kind="ip", value="203.0.113.68", tlp="green", confidence=50)
    (alert,) = ingest(w["a_source"], {"severity": "low", "observables": ip("203.0.113.68")})
    url = f"/api/v1/intel/matches/?alert={alert.pk}"
    assert len(api(w["a_admin"]).get(url).json()["results"]) == 1  # seen while green
    admin = api(w["mssp_admin"])
    with django_capture_on_commit_callbacks(execute=True):
        response = admin.post(
            "/api/v1/intel/imports/?kind=csv",
            "value,tlp\n203.0.113.68,red\n",
            content_type="text/csv",
        )
    assert response.status_code == 202, response.content
    record = admin.get(f"/api/v1/intel/imports/{response.json()['id']}/").json()
    assert (record["status"], record["updated_count"]) == ("done", 1)
    assert api(w["a_admin"]).get(url).json()["results"] == []
    assert len(api(w["analyst_a"]).get(url).json()["results"]) == 1
    timeline = api(w["a_viewer"]).get(f"/api/v1/incidents/{alert.incident_id}/timeline/").json()
    assert "203.0.113.68" not in json.dumps(timeline)


def test_an_indicator_turned_red_takes_the_reason_of_its_raise_from_customers(two_tenants, api):
    """The severity it raised stays (the customer saw it); the shared entry that names the
    match as the reason leaves the customer's timeline with the match."""
    w = two_tenants
    green = indicator(kind="ip", value="203.0.113.69", tlp="green", confidence=90, severity="high")
    (alert,) = ingest(w["a_source"], {"severity": "low", "observables": ip("203.0.113.69")})
    timeline_url = f"/api/v1/incidents/{alert.incident_id}/timeline/"
    before = api(w["a_viewer"]).get(timeline_url).json()
    assert "severity_raised" in [e["kind"] for e in before]
    assert "203.0.113.69" in json.dumps(before)
    changed = api(w["mssp_admin"]).patch(
        f"/api/v1/intel/indicators/{green.pk}/", {"tlp": "red"}, format="json"
    )
    assert changed.status_code == 200
    after = api(w["a_viewer"]).get(timeline_url).json()
    assert "203.0.113.69" not in json.dumps(after) and "intelligence" not in json.dumps(after)
    incident = api(w["a_viewer"]).get(f"/api/v1/incidents/{alert.incident_id}/").json()
    assert incident["severity"] == "high"
    staff = api(w["analyst_a"]).get(timeline_url).json()
    assert {"intel_matched", "severity_raised"} <= {e["kind"] for e in staff}


def test_an_expired_indicator_given_a_new_validity_is_active_again(two_tenants, api):
    admin = api(two_tenants["mssp_admin"])
    created = indicator(kind="ip", value="192.0.2.77")
    with rls_bypass("test: its validity ended and the sweep marked it"):
        Indicator.objects.dangerously_unscoped("t").filter(pk=created.pk).update(
            status="expired", valid_until=timezone.now() - timedelta(days=1)
        )
    url = f"/api/v1/intel/indicators/{created.pk}/"
    later = (timezone.now() + timedelta(days=30)).isoformat()
    response = admin.patch(url, {"valid_until": later}, format="json")
    assert response.status_code == 200 and response.json()["status"] == "active"
    revoked = admin.patch(url, {"status": "revoked"}, format="json").json()
    assert revoked["status"] == "revoked"
    assert admin.patch(url, {"valid_until": later}, format="json").json()["status"] == "revoked"
