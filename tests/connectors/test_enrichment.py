"""Enriching an incident's observable through the API and the incident page, against local
VirusTotal and AbuseIPDB receivers over real HTTP: results kept until their TTL, never sent to
a service the tenant has not enabled (nor another tenant's), nor out at all when TLP, PAP or a
private address forbid it; a service's garbage is a clean failure."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from alerts.intake.base import Observable
from alerts.models import Incident, IncidentEvent
from alerts.observables import observable_add
from connectors.models import ConnectorCall, Enrichment
from tenants.rls import tenant_scope
from tests.factories import ingest_alerts

from .conftest import ABUSE_KEY, VT_KEY, make_connector
from .receivers import Receiver, VirusTotal

pytestmark = pytest.mark.django_db

PUBLIC_IP = "185.220.101.7"


def incident_with(tenant, source, author, value=PUBLIC_IP, title="Suspicious login", **classified):
    """An incident of `tenant` and one shared observable on it (ip `value`)."""
    ingest_alerts(source, 1, title=title)
    with tenant_scope([tenant.pk]):
        incident = Incident.objects.for_tenant(tenant).order_by("-first_seen").first()
        row = observable_add(
            incident,
            actor=author,
            observable=Observable("ip", value),
            source="analyst",
            visibility="shared",
            **classified,
        )
    return incident, row


def enrich_url(incident, row):
    return f"/api/v1/incidents/{incident.pk}/observables/{row.pk}/enrich/"


@pytest.fixture
def world(two_tenants, loopback, virustotal, abuseipdb, settings):
    settings.ENRICHMENT_DNS = False  # no resolver in the suite
    a = two_tenants["a"]
    virustotal.known[PUBLIC_IP] = {"malicious": 7, "harmless": 50, "undetected": 13}
    abuseipdb.scores[PUBLIC_IP] = 100
    make_connector(a, "virustotal", f"{virustotal.base}/api/v3", {"api_key": VT_KEY})
    make_connector(a, "abuseipdb", f"{abuseipdb.base}/api/v2", {"api_key": ABUSE_KEY})
    incident, row = incident_with(a, two_tenants["a_source"], two_tenants["analyst_a"])
    return {**two_tenants, "incident": incident, "row": row}


def test_an_observable_is_enriched_by_the_tenants_services_and_kept_until_its_ttl(
    api, world, virustotal, abuseipdb
):
    analyst = api(world["analyst_a"])
    url = enrich_url(world["incident"], world["row"])
    answer = analyst.post(url, {}, format="json")
    assert answer.status_code == 200, answer.content
    body = answer.json()
    by_source = {e["source_name"]: e for e in body["enrichments"]}
    assert by_source["VirusTotal (virustotal of tenant-a)"]["verdict"] == "malicious"
    assert by_source["AbuseIPDB (abuseipdb of tenant-a)"]["score"] == 100
    assert by_source["Portal intel"]["verdict"] == "unknown"
    assert len(virustotal.seen) == len(abuseipdb.seen) == 1
    # asked again: the answers held are fresh, nothing is sent
    assert analyst.post(url, {}, format="json").status_code == 200
    assert len(virustotal.seen) == 1
    listed = analyst.get(f"/api/v1/incidents/{world['incident'].pk}/enrichments/").json()
    assert {e["source_name"] for e in listed} == set(by_source)
    # past VirusTotal's TTL (24 h) it is asked again; `refresh` asks at once
    with time_machine.travel(timezone.now() + timedelta(hours=25), tick=False):
        assert analyst.post(url, {}, format="json").status_code == 200
    assert len(virustotal.seen) == 2
    assert analyst.post(url, {"refresh": True}, format="json").status_code == 200
    assert len(virustotal.seen) == 3
    with tenant_scope([world["a"].pk]):
        calls = ConnectorCall.objects.for_tenant(world["a"]).filter(incident=world["incident"])
        assert calls.count() == 6  # each service asked three times
        assert not any(VT_KEY in c.request_excerpt or ABUSE_KEY in c.request_excerpt for c in calls)
        entries = IncidentEvent.objects.for_tenant(world["a"]).filter(kind="observable_enriched")
        assert entries.exists()


def test_never_a_disabled_service_nor_another_tenants(api, world, virustotal):
    a, b = world["a"], world["b"]
    with VirusTotal(keys={"b-key-1234567890"}) as b_vt:
        b_connector = make_connector(
            b, "virustotal", f"{b_vt.base}/api/v3", {"api_key": "b-key-1234567890"}
        )
        with tenant_scope([a.pk]):
            a.connectors.update(is_enabled=False)
        analyst = api(world["analyst_a"])
        answer = analyst.post(enrich_url(world["incident"], world["row"]), {}, format="json")
        assert answer.status_code == 200
        assert [e["source"] for e in answer.json()["enrichments"]] == ["intel"]
        refused = analyst.post(
            enrich_url(world["incident"], world["row"]),
            {"connectors": [str(b_connector.pk)]},
            format="json",
        )
        assert refused.status_code == 400
        assert b_vt.seen == [] and virustotal.seen == []


@pytest.mark.parametrize(
    "classified",
    [{"tlp": "red"}, {"tlp": "amber+strict"}, {"pap": "red"}],
    ids=["tlp-red", "tlp-amber-strict", "pap-red"],
)
def test_a_value_its_tlp_or_pap_keeps_in_never_leaves(api, world, virustotal, classified):
    _, row = incident_with(
        world["a"], world["a_source"], world["analyst_a"], value="185.220.101.8", **classified
    )
    answer = api(world["analyst_a"]).post(enrich_url(row.incident, row), {}, format="json")
    assert answer.status_code == 200
    body = answer.json()
    assert [e["source"] for e in body["enrichments"]] == ["intel"]
    assert {s["source"] for s in body["skipped"]} == {
        "virustotal of tenant-a",
        "abuseipdb of tenant-a",
    }
    assert virustotal.seen == []


def test_a_private_address_is_not_sent_out(api, world, virustotal):
    _, row = incident_with(world["a"], world["a_source"], world["analyst_a"], value="10.9.8.7")
    body = api(world["analyst_a"]).post(enrich_url(row.incident, row), {}, format="json").json()
    assert "private" in body["skipped"][0]["reason"] and virustotal.seen == []


def test_a_services_garbage_or_silence_is_a_clean_failure(api, world, settings):
    settings.CONNECTOR_TIMEOUT = 0.2
    settings.CONNECTOR_ATTEMPTS = 1
    a = world["a"]
    with Receiver(mode="garbage") as garbage, Receiver(mode="hang") as hanging:
        with tenant_scope([a.pk]):
            a.connectors.update(is_enabled=False)
        make_connector(a, "virustotal", garbage.base, {"api_key": VT_KEY}, name="Garbage VT")
        make_connector(a, "abuseipdb", hanging.base, {"api_key": ABUSE_KEY}, name="Silent")
        answer = api(world["analyst_a"]).post(
            enrich_url(world["incident"], world["row"]), {}, format="json"
        )
    assert answer.status_code == 200
    errors = {e["source_name"]: e["error"] for e in answer.json()["enrichments"]}
    assert "not JSON" in errors["VirusTotal (Garbage VT)"]
    assert "did not answer in time" in errors["AbuseIPDB (Silent)"]


def test_who_may_enrich(api, world):
    url = enrich_url(world["incident"], world["row"])
    assert api(world["a_viewer"]).post(url, {}, format="json").status_code == 403
    assert api(world["a_responder"]).post(url, {}, format="json").status_code == 200
    # another tenant's people: the incident does not exist for them
    for outsider in ("b_admin", "analyst_b", "outsider"):
        assert api(world[outsider]).post(url, {}, format="json").status_code == 404
        listed = api(world[outsider]).get(f"/api/v1/incidents/{world['incident'].pk}/enrichments/")
        assert listed.status_code == 404


def test_the_incident_page_shows_the_card_and_its_button_enriches(client, world, virustotal):
    client.force_login(world["analyst_a"])
    page = client.get(f"/incidents/{world['incident'].pk}/")
    assert page.status_code == 200 and b'id="enrichment"' in page.content
    done = client.post(f"/incidents/{world['incident'].pk}/observables/{world['row'].pk}/enrich/")
    assert done.status_code == 302 and done.url.endswith("#enrichment")
    assert len(virustotal.seen) == 1
    page = client.get(f"/incidents/{world['incident'].pk}/")
    assert b"7 of 70 engines malicious" in page.content
    assert b'id="connector-calls"' in page.content and VT_KEY.encode() not in page.content
    client.force_login(world["a_viewer"])  # the customer's viewer: no calls, no button
    page = client.get(f"/incidents/{world['incident'].pk}/")
    assert page.status_code == 200 and b'id="connector-calls"' not in page.content
    client.force_login(world["b_admin"])
    other = client.post(f"/incidents/{world['incident'].pk}/observables/{world['row'].pk}/enrich/")
    assert other.status_code == 404


def test_the_task_enriches_by_id_and_skips_a_removed_observable(world, virustotal):
    from connectors.tasks import enrich_observable

    a = world["a"]
    assert enrich_observable(a.pk, str(world["row"].pk), world["analyst_a"].pk) == 3
    assert len(virustotal.seen) == 1
    assert enrich_observable(a.pk, "01a2539b-6679-73df-963e-e91d517d1947") == 0
    with tenant_scope([a.pk]):
        assert Enrichment.objects.for_tenant(a).filter(observable=world["row"]).count() == 3


def test_with_a_broker_enrichment_is_a_task_after_commit(
    api, world, virustotal, settings, django_capture_on_commit_callbacks
):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    with django_capture_on_commit_callbacks(execute=False) as queued:
        answer = api(world["analyst_a"]).post(
            enrich_url(world["incident"], world["row"]), {}, format="json"
        )
    assert answer.status_code == 202 and answer.json()["status"] == "queued"
    assert len(queued) == 1 and virustotal.seen == []  # sent to the broker once committed


def test_the_same_value_on_another_incident_is_not_asked_again(api, world, virustotal):
    analyst = api(world["analyst_a"])
    first = analyst.post(enrich_url(world["incident"], world["row"]), {}, format="json")
    assert first.status_code == 200
    other, row = incident_with(world["a"], world["a_source"], world["analyst_a"], title="Beacon")
    answer = analyst.post(enrich_url(other, row), {}, format="json")
    assert answer.status_code == 200
    assert {e["observable"] for e in answer.json()["enrichments"]} == {str(row.pk)}
    assert len(virustotal.seen) == 1
