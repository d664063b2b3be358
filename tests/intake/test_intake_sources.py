"""Real payloads of each of the seven sources, posted to the real endpoint, land as
normalised alerts and incidents in the key's tenant, and on its sockets' stream only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from alerts.models import Alert, Incident, IntakeSource
from tenants.rls import rls_bypass

pytestmark = pytest.mark.django_db
SAMPLES = Path(__file__).parent.parent / "intake" / "samples"

CASES = [
    ("wazuh", "wazuh_sshd_invalid_user.json", "application/json"),
    ("wazuh", "wazuh_sysmon_mimikatz.json", "application/json"),
    ("elastic", "elastic_webhook_alerts_wrapper.json", "application/json"),
    ("elastic", "elastic_flat_powershell_download.json", "application/json"),
    ("splunk", "splunk_es_notable.json", "application/json"),
    ("suricata", "suricata_eve_mixed.ndjson", "application/x-ndjson"),
    ("alertmanager", "alertmanager_firing.json", "application/json"),
    ("cef", "cef_samples.txt", "text/plain"),
]


def source_of(tenant, kind):
    with rls_bypass("test fixture"):
        source = IntakeSource(tenant=tenant, name=f"{kind} sensor", kind=kind)
        key = source.set_new_key()
        source.save()
    return key


def rows(model, tenant):
    with rls_bypass("test"):
        return list(model.objects.for_tenant(tenant))


@pytest.mark.parametrize("kind,sample,content_type", CASES, ids=lambda v: str(v))
def test_real_payloads_land_in_the_keys_tenant(client, two_tenants, kind, sample, content_type):
    key = source_of(two_tenants["a"], kind)
    body = (SAMPLES / sample).read_bytes()
    response = client.generic(
        "POST",
        f"/api/v1/intake/{kind}/",
        body,
        content_type=content_type,
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )
    assert response.status_code == 202, response.content[:500]
    accepted = response.json()["accepted"]
    assert accepted >= 1
    alerts = rows(Alert, two_tenants["a"])
    assert len(alerts) == accepted - response.json()["duplicates"]
    assert all(a.title and a.severity and a.raw is not None for a in alerts)
    assert all(a.incident_id or a.suppressed_by_id for a in alerts)
    assert rows(Incident, two_tenants["a"])
    assert rows(Alert, two_tenants["b"]) == []
    # redelivering the same payload stores nothing new
    again = client.generic(
        "POST",
        f"/api/v1/intake/{kind}/",
        body,
        content_type=content_type,
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )
    assert again.status_code == 202 and again.json()["duplicates"] == accepted
    assert len(rows(Alert, two_tenants["a"])) == len(alerts)


def test_alertmanager_resolved_updates_the_alert_it_resolves(client, two_tenants):
    key = source_of(two_tenants["a"], "alertmanager")
    firing = (SAMPLES / "alertmanager_firing.json").read_bytes()
    resolved_doc = json.loads(firing)
    resolved_doc["status"] = "resolved"
    for alert in resolved_doc["alerts"]:
        alert["status"] = "resolved"
        alert["endsAt"] = "2026-11-27T12:00:00Z"

    def post(body):
        return client.generic(
            "POST",
            "/api/v1/intake/alertmanager/",
            body,
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {key}",
        )

    fired = post(firing).json()
    done = post(json.dumps(resolved_doc).encode()).json()
    assert sorted(done["alerts"]) == sorted(fired["alerts"])
    alerts = rows(Alert, two_tenants["a"])
    assert len(alerts) == len(fired["alerts"])
    assert {a.status for a in alerts} == {"resolved"} and all(a.ends_at for a in alerts)
