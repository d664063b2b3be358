"""Observables as case data: written at intake, added and tagged by hand through the one action
path (page and API), sightings at this customer (and, for MSSP staff only, at others),
similar incidents, and tenant isolation of every route and event."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from alerts import observables
from alerts.ingest import ingest
from alerts.intake.generic import parse
from alerts.models import Alert, Incident, IncidentEvent, IncidentObservable, IntakeSource
from tenants import events
from tenants.models import AuditEvent
from tenants.rls import rls_bypass, tenant_scope

pytestmark = pytest.mark.django_db


def send(source, *records):
    """Ingest generic records into `source`'s tenant; the incidents they joined, in order."""
    with tenant_scope([source.tenant_id]):
        source = IntakeSource.objects.for_tenant(source.tenant_id).select_related("tenant")
        source = source.get()
        result = ingest(source, [parse(r) for r in records])
        return list(
            Alert.objects.for_tenant(source.tenant_id)
            .filter(pk__in=result.alert_ids)
            .values_list("incident_id", flat=True)
        )


def record(title, *pairs, fingerprint=None):
    body = {
        "title": title,
        "severity": "high",
        "observables": [{"type": t, "value": v} for t, v in pairs],
    }
    if fingerprint:
        body["fingerprint"] = fingerprint
    return body


def rows(**filters):
    with rls_bypass("test assertion"):
        return list(
            IncidentObservable.objects.dangerously_unscoped("test")
            .filter(**filters)
            .order_by("value")
        )


def incident(pk):
    with rls_bypass("test"):
        return Incident.objects.dangerously_unscoped("test").select_related("tenant").get(pk=pk)


@pytest.fixture
def w(two_tenants):
    """A's two incidents sharing 203.0.113.7 (the first also evil.example), B's one with it."""
    w = dict(two_tenants)
    first = send(
        w["a_source"],
        record("Beacon", ("ip", "203.0.113.7"), ("domain", "Evil.Example."), fingerprint="f1"),
        record("Beacon again", ("ip", "203.0.113.7"), fingerprint="f1"),
    )
    second = send(w["a_source"], record("Scan", ("ip", "203.0.113.7"), fingerprint="f2"))
    third = send(w["b_source"], record("B's beacon", ("ip", "203.0.113.7"), fingerprint="fb"))
    w["a1"], w["a2"], w["b1"] = incident(first[0]), incident(second[0]), incident(third[0])
    return w


def url(incident, oid=None, tail="observables"):
    base = f"/api/v1/incidents/{incident.pk}/{tail}/"
    return f"{base}{oid}/" if oid else base


# --- intake and the other ways alerts join -------------------------------------------------------


def test_intake_writes_each_incidents_observables_normalised_with_counts(w):
    a1 = {(r.type, r.value): r for r in rows(incident=w["a1"])}
    assert set(a1) == {("ip", "203.0.113.7"), ("domain", "evil.example")}
    assert a1[("ip", "203.0.113.7")].alert_count == 2
    assert a1[("ip", "203.0.113.7")].source == "alert"
    assert a1[("ip", "203.0.113.7")].visibility == "shared"
    send(w["a_source"], record("Third", ("ip", "203.0.113.7"), fingerprint="f1"))
    assert rows(incident=w["a1"], type="ip")[0].alert_count == 3
    assert rows(incident=w["a1"], type="ip")[0].key == observables.key_of("ip", "203.0.113.7")


def test_intake_writes_a_batchs_observables_in_one_statement(w):
    def statements(n):
        batch = [
            record(f"n{i}", ("ip", f"198.51.100.{i}"), fingerprint=f"g{i % 3}") for i in range(n)
        ]
        with CaptureQueriesContext(connection) as captured:
            send(w["a_source"], *batch)
        return [q["sql"] for q in captured.captured_queries if "incidentobservable" in q["sql"]]

    small, large = statements(2), statements(30)
    assert len(small) == len(large) == 1  # PostgreSQL: inside the grouping statement
    assert len(rows(tenant=w["a"], value__startswith="198.51.100.")) == 30


def test_promote_merge_and_backfill_bring_observables_along(w, api):
    staff = api(w["mssp_admin"])
    with rls_bypass("test"):
        alert = Alert.objects.dangerously_unscoped("t").filter(incident=w["a2"]).get()
    response = staff.post(
        f"/api/v1/incidents/{w['a1'].pk}/promote/", {"alerts": [str(alert.pk)]}, format="json"
    )
    assert response.status_code == 200, response.content
    assert rows(incident=w["a1"], type="ip")[0].alert_count == 3
    # merging: a1's hand-added observable and tag join the survivor
    added = staff.post(url(w["a1"]), {"type": "user", "value": "jdoe", "tag": "ioc"}, format="json")
    assert added.status_code == 201, added.content
    w["a3"] = incident(send(w["a_source"], record("Other", ("user", "jdoe"), fingerprint="f3"))[0])
    assert (
        staff.post(
            f"/api/v1/incidents/{w['a1'].pk}/merge/", {"into": str(w["a3"].pk)}, format="json"
        ).status_code
        == 200
    )
    survivor = {(r.type, r.value): r for r in rows(incident=w["a3"])}
    assert survivor[("user", "jdoe")].tag == "ioc"
    assert ("domain", "evil.example") in survivor
    # the backfill sets counts from the alerts as they are, and can run twice
    with rls_bypass("test"):
        IncidentObservable.objects.dangerously_unscoped("t").filter(incident=w["b1"]).delete()
    call_command("backfill_incident_observables", stdout=open("/dev/null", "w"))
    call_command("backfill_incident_observables", stdout=open("/dev/null", "w"))
    assert [(r.value, r.alert_count) for r in rows(incident=w["b1"])] == [("203.0.113.7", 1)]
    assert survivor[("user", "jdoe")].tag == rows(incident=w["a3"], type="user")[0].tag


# --- by hand: the API --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "value", "message"),
    [
        ("ip", "300.1.1.1", "not a valid IP address"),
        ("ip", "x" * 10_000, "at most 2,000 characters"),
        ("user", "bad\x07name", "control characters"),
        ("domain", "evil.example\nbad.example", "control characters"),
        ("url", "evil.example/path", "scheme"),
        ("hash", "abc123", "not a valid hash"),
        ("file", "x.exe", "type"),
    ],
)
def test_invalid_values_are_a_400_with_a_message(w, api, kind, value, message):
    response = api(w["mssp_admin"]).post(
        url(w["a1"]), {"type": kind, "value": value}, format="json"
    )
    assert response.status_code == 400, response.content
    assert message in str(response.json()).replace("\\n", " ") or message in str(response.json())


def test_staff_add_internal_by_default_and_customers_never_see_it(w, api):
    staff = api(w["analyst_a"])
    response = staff.post(
        url(w["a1"]),
        {"type": "ip", "value": " 2001:DB8::1 ", "note": "from a threat report"},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["value"], body["source"], body["visibility"], body["added_by"]) == (
        "2001:db8::1",
        "analyst",
        "internal",
        w["analyst_a"].username,
    )
    assert (
        staff.post(url(w["a1"]), {"type": "ip", "value": "2001:db8::1"}, format="json").status_code
        == 400
    )
    customer = api(w["a_admin"])
    listed = customer.get(url(w["a1"])).json()
    assert "2001:db8::1" not in str(listed)
    assert (
        customer.patch(url(w["a1"], body["id"]), {"tag": "sighted"}, format="json").status_code
        == 404
    )
    assert customer.delete(url(w["a1"], body["id"])).status_code == 404
    timeline = customer.get(f"/api/v1/incidents/{w['a1'].pk}/timeline/").json()
    assert not [e for e in timeline if e["kind"].startswith("observable_")]
    # the tenant's audit log, which its admins read, keeps the entry but not the value
    audit = customer.get("/api/v1/audit/?page_size=100").json()
    assert "2001:db8::1" not in str(audit) and "threat report" not in str(audit)
    with rls_bypass("test"):
        assert AuditEvent.objects.filter(tenant=w["a"], action="observable.added").exists()
        assert (
            IncidentEvent.objects.dangerously_unscoped("t")
            .filter(kind="observable_added", visibility="internal")
            .exists()
        )


def test_customer_adds_shared_marks_sighted_but_never_judges_ioc(w, api):
    w["a"].service_model = "outsourced"  # the MSSP works its incidents: IOC is its verdict
    w["a"].save()
    responder = api(w["a_responder"])
    response = responder.post(
        url(w["a1"]),
        {"type": "email", "value": "Phish@Evil.Example", "visibility": "internal"},
        format="json",
    )
    assert response.status_code == 400  # customers' observables are shared
    response = responder.post(
        url(w["a1"]),
        {"type": "email", "value": "Phish@Evil.Example", "note": "in 3 mailboxes"},
        format="json",
    )
    assert response.status_code == 201, response.content
    mine = response.json()
    assert (mine["source"], mine["visibility"], mine["value"]) == (
        "customer",
        "shared",
        "phish@evil.example",
    )
    assert (
        responder.patch(url(w["a1"], mine["id"]), {"tag": "sighted"}, format="json").json()["tag"]
        == "sighted"
    )
    refused = responder.patch(url(w["a1"], mine["id"]), {"tag": "ioc"}, format="json")
    assert refused.status_code == 403 and "IOC" in refused.json()["detail"]
    alert_row = rows(incident=w["a1"], type="ip")[0]
    assert (
        responder.patch(url(w["a1"], alert_row.pk), {"note": "mine now"}, format="json").status_code
        == 403
    )
    assert responder.delete(url(w["a1"], alert_row.pk)).status_code == 403
    staff = api(w["analyst_a"])
    assert (
        staff.patch(url(w["a1"], alert_row.pk), {"tag": "ioc"}, format="json").json()["tag"]
        == "ioc"
    )
    # the SOC's verdict stands: the customer cannot undo it
    assert (
        responder.patch(url(w["a1"], alert_row.pk), {"tag": ""}, format="json").status_code == 403
    )
    assert (
        staff.patch(url(w["a1"], mine["id"]), {"visibility": "internal"}, format="json").status_code
        == 400
    )
    assert staff.patch(url(w["a1"], mine["id"]), {"value": "x"}, format="json").status_code == 400
    assert responder.delete(url(w["a1"], mine["id"])).status_code == 204
    w["a"].service_model = "hybrid"  # its in-house team works incidents: it judges too
    w["a"].save()
    assert (
        responder.patch(url(w["a1"], alert_row.pk), {"tag": "not_ioc"}, format="json").json()["tag"]
        == "not_ioc"
    )
    assert (
        api(w["a_viewer"])
        .post(url(w["a1"]), {"type": "user", "value": "x"}, format="json")
        .status_code
        == 403
    )


def test_sightings_count_this_customers_incidents_and_only_staff_see_other_customers(w, api):
    staff = {r["value"]: r for r in api(w["mssp_admin"]).get(url(w["a1"])).json()}
    ip = staff["203.0.113.7"]
    assert (ip["sightings"]["incidents"], ip["sightings"]["alerts"]) == (2, 3)
    assert ip["other_tenants"]["tenants"] == 1
    assert ip["other_tenants"]["seen"][0]["tenant"] == "tenant-b"
    assert staff["evil.example"]["other_tenants"] is None
    # an analyst who works only A learns nothing of B
    only_a = {r["value"]: r for r in api(w["analyst_a"]).get(url(w["a1"])).json()}
    assert only_a["203.0.113.7"]["other_tenants"] is None
    for user in ("a_admin", "a_viewer"):
        body = api(w[user]).get(url(w["a1"])).json()
        assert all("other_tenants" not in r for r in body)
        assert "tenant-b" not in str(body)
    # an internal observable of another incident is not counted for the customer
    api(w["analyst_a"]).post(
        url(w["a2"]), {"type": "domain", "value": "evil.example"}, format="json"
    )
    customer = {r["value"]: r for r in api(w["a_admin"]).get(url(w["a1"])).json()}
    assert customer["evil.example"]["sightings"]["incidents"] == 1
    staff = {r["value"]: r for r in api(w["analyst_a"]).get(url(w["a1"])).json()}
    assert staff["evil.example"]["sightings"]["incidents"] == 2


def test_similar_incidents_rank_iocs_higher_leave_out_not_ioc_and_stay_in_the_tenant(w, api):
    staff = api(w["mssp_admin"])
    w["a3"] = incident(
        send(w["a_source"], record("Domain", ("domain", "evil.example"), fingerprint="f3"))[0]
    )
    ranked = staff.get(url(w["a1"], tail="similar")).json()
    assert ranked["window_days"] == 90
    assert [r["id"] for r in ranked["incidents"]][:2] and len(ranked["incidents"]) == 2
    domain_row = rows(incident=w["a1"], type="domain")[0]
    staff.patch(url(w["a1"], domain_row.pk), {"tag": "ioc"}, format="json")
    ranked = staff.get(url(w["a1"], tail="similar")).json()
    assert ranked["incidents"][0]["id"] == str(w["a3"].pk) and ranked["incidents"][0]["iocs"] == 1
    assert [r["tenant"] for r in ranked["other_tenants"]] == ["tenant-b"]
    ip_row = rows(incident=w["a1"], type="ip")[0]
    staff.patch(url(w["a1"], ip_row.pk), {"tag": "not_ioc"}, format="json")
    ranked = staff.get(url(w["a1"], tail="similar")).json()
    assert [r["id"] for r in ranked["incidents"]] == [str(w["a3"].pk)]
    assert ranked["other_tenants"] == []
    customer = api(w["a_admin"]).get(url(w["a1"], tail="similar")).json()
    assert "other_tenants" not in customer and "tenant-b" not in str(customer)
    assert api(w["analyst_a"]).get(url(w["a1"], tail="similar")).json()["other_tenants"] == []


# --- isolation ---------------------------------------------------------------------------------


@pytest.mark.parametrize("attacker", ["b_admin", "b_responder", "analyst_b"])
def test_tenant_b_cannot_list_add_tag_or_delete_tenant_as_observables(w, api, attacker):
    client = api(w[attacker])
    target = rows(incident=w["a1"], type="ip")[0]
    assert target.tenant_id == w["a"].pk  # A's observable exists: a real target
    before = [(r.pk, r.tag, r.note) for r in rows(tenant=w["a"])]
    assert client.get(url(w["a1"])).status_code == 404
    assert client.get(url(w["a1"], tail="similar")).status_code == 404
    assert (
        client.post(url(w["a1"]), {"type": "user", "value": "x"}, format="json").status_code == 404
    )
    assert (
        client.patch(url(w["a1"], target.pk), {"tag": "not_ioc"}, format="json").status_code == 404
    )
    assert client.delete(url(w["a1"], target.pk)).status_code == 404
    # A's observable named under B's own incident is as absent as a missing one
    assert (
        client.patch(url(w["b1"], target.pk), {"tag": "not_ioc"}, format="json").status_code == 404
    )
    assert client.delete(url(w["b1"], target.pk)).status_code == 404
    assert [(r.pk, r.tag, r.note) for r in rows(tenant=w["a"])] == before


def test_events_of_an_internal_observable_reach_staff_only(w, api, monkeypatch):
    sent = []
    monkeypatch.setattr(events, "tenant_event", lambda *a, **k: sent.append((a, k)))
    staff = api(w["analyst_a"])
    internal = staff.post(
        url(w["a1"]), {"type": "user", "value": "svc-backup"}, format="json"
    ).json()
    staff.patch(url(w["a1"], internal["id"]), {"tag": "ioc"}, format="json")
    staff.delete(url(w["a1"], internal["id"]))
    shared = staff.post(
        url(w["a1"]), {"type": "user", "value": "jdoe", "visibility": "shared"}, format="json"
    ).json()
    kinds = [(a[2], a[3], k["audience"]) for a, k in sent]
    assert [k[0] for k in kinds] == [
        "observable.added",
        "observable.updated",
        "observable.updated",
        "observable.added",
    ]
    for event_type, _object_id, audience in kinds[:3]:
        assert audience == (events.STAFF,), (event_type, audience)
        assert events.CUSTOMER not in audience and events.WORK not in audience
    assert kinds[3][1] == shared["id"] and kinds[3][2] == events.EVERYONE
    assert all("value" not in a[4] and a[4]["incident"] == str(w["a1"].pk) for a, _ in sent)


# --- the page ----------------------------------------------------------------------------------


def test_incident_page_shows_tags_sightings_and_similar_per_audience(w, client):
    client.force_login(w["mssp_admin"])
    page = f"/incidents/{w['a1'].pk}/"
    response = client.post(
        page + "observables/",
        {"type": "domain", "value": "c2.example", "tag": "ioc", "visibility": "internal"},
    )
    assert response.status_code == 302
    body = client.get(page).content.decode()
    assert "c2.example" in body and "IOC" in body and "Tenant B" in body
    assert "At other customers" in body and "Similar incidents" in body
    bad = client.post(page + "observables/", {"type": "ip", "value": "999.1.1.1"}, follow=True)
    assert "not a valid IP address" in bad.content.decode()
    client.force_login(w["a_admin"])
    body = client.get(page).content.decode()
    assert "c2.example" not in body and "Tenant B" not in body and "At other customers" not in body
    assert "203.0.113.7" in body and "Add an observable" in body
    client.post(page + "observables/", {"type": "hostname", "value": "WS-042"})
    assert rows(incident=w["a1"], type="hostname")[0].source == "customer"
    target = rows(incident=w["a1"], value="c2.example")[0]
    assert client.post(page + f"observables/{target.pk}/", {"tag": "not_ioc"}).status_code == 404
    client.force_login(w["b_admin"])
    assert client.get(page).status_code == 404
    assert client.post(page + "observables/", {"type": "user", "value": "x"}).status_code == 404


def test_intel_looks_for_hand_added_observables_at_other_customers_but_not_for_not_iocs(w, api):
    staff = api(w["mssp_admin"])
    send(w["b_source"], record("B's login", ("user", "svc-x"), fingerprint="fx"))
    staff.post(url(w["a1"]), {"type": "user", "value": "svc-x"}, format="json")
    found = staff.get(f"/api/v1/intel/sightings/?incident={w['a1'].pk}").json()
    seen = {(s["type"], s["value"]): s["tenants"] for s in found}
    assert seen[("user", "svc-x")] == 1 and seen[("ip", "203.0.113.7")] == 1
    ip_row = rows(incident=w["a1"], type="ip")[0]
    staff.patch(url(w["a1"], ip_row.pk), {"tag": "not_ioc"}, format="json")
    found = staff.get(f"/api/v1/intel/sightings/?incident={w['a1'].pk}").json()
    assert ("ip", "203.0.113.7") not in {(s["type"], s["value"]) for s in found}
