"""POST /api/v1/intake/{source}/: durable, deduplicated, grouped, hostile input refused."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest

from alerts.models import Alert, Incident, IncidentEvent, IntakeSource
from tenants.rls import rls_bypass

pytestmark = pytest.mark.django_db


@pytest.fixture
def intake(two_tenants):
    """Each tenant with a generic source whose raw key we know."""
    keys = {}
    with rls_bypass("test fixture"):
        for name in ("a", "b"):
            source = IntakeSource(tenant=two_tenants[name], name=f"{name} generic", kind="generic")
            keys[name] = source.set_new_key()
            source.save()
            keys[f"{name}_source"] = source
    return keys


def post(client, key, body, kind="generic", content_type="application/json", **headers):
    data = body if isinstance(body, bytes | str) else json.dumps(body)
    return client.generic(
        "POST",
        f"/api/v1/intake/{kind}/",
        data,
        content_type=content_type,
        HTTP_AUTHORIZATION=f"Bearer {key}",
        **headers,
    )


def rows(model, **filters):
    with rls_bypass("test"):
        return list(model.objects.dangerously_unscoped("test").filter(**filters))


ALERT = {
    "title": "Brute force on VPN",
    "severity": "high",
    "source_ref": "evt-1",
    "observables": [{"type": "ip", "value": "203.0.113.7"}, {"type": "user", "value": "alice"}],
    "mitre": ["T1110"],
    "category": "credential-access",
    "vendor_field": 42,
}


def test_one_alert_is_stored_and_opens_an_incident(client, intake, two_tenants):
    response = post(client, intake["a"], ALERT)
    assert response.status_code == 202, response.json()
    body = response.json()
    assert body["accepted"] == 1 and len(body["alerts"]) == 1
    (alert,) = rows(Alert, pk=body["alerts"][0])
    assert alert.tenant_id == two_tenants["a"].pk
    assert alert.raw["vendor_field"] == 42  # unknown fields kept
    assert alert.mitre == ["T1110"] and alert.severity == "high"
    assert {"type": "ip", "value": "203.0.113.7"} in alert.observables
    (incident,) = rows(Incident, tenant=two_tenants["a"])
    assert incident.alert_count == 1 and alert.incident_id == incident.pk
    assert [e.kind for e in rows(IncidentEvent, incident=incident)] == ["created"]


def test_redelivery_never_duplicates(client, intake, two_tenants):
    first = post(client, intake["a"], ALERT).json()
    again = post(client, intake["a"], ALERT).json()
    assert again["alerts"] == first["alerts"] and again["duplicates"] == 1
    assert len(rows(Alert, tenant=two_tenants["a"])) == 1
    assert rows(Incident, tenant=two_tenants["a"])[0].alert_count == 1


def test_same_fingerprint_groups_into_the_open_incident(client, intake, two_tenants):
    for n in range(3):
        post(
            client,
            intake["a"],
            {**ALERT, "source_ref": f"evt-{n}", "severity": ["low", "critical", "medium"][n]},
        )
    (incident,) = rows(Incident, tenant=two_tenants["a"])
    assert incident.alert_count == 3
    assert incident.severity == "critical"  # raised by the worst alert
    kinds = [e.kind for e in rows(IncidentEvent, incident=incident)]
    assert kinds == ["created", "alerts_added", "alerts_added"]


def test_a_closed_incident_is_not_reused(client, intake, two_tenants):
    post(client, intake["a"], ALERT)
    with rls_bypass("test"):
        Incident.objects.for_tenant(two_tenants["a"]).update(status="closed")
    post(client, intake["a"], {**ALERT, "source_ref": "evt-2"})
    assert len(rows(Incident, tenant=two_tenants["a"])) == 2


def test_batch_array_stores_good_records_and_names_rejected_ones(client, intake, two_tenants):
    batch = [ALERT, {"title": "no severity"}, {**ALERT, "source_ref": "evt-9"}, "text", ALERT]
    response = post(client, intake["a"], batch)
    assert response.status_code == 202
    body = response.json()
    assert body["accepted"] == 3 and body["duplicates"] == 1
    assert [r["index"] for r in body["rejected"]] == [1, 3]
    assert "severity" in body["rejected"][0]["error"]
    assert len(rows(Alert, tenant=two_tenants["a"])) == 2


def test_ndjson_batch(client, intake, two_tenants):
    lines = "\n".join(json.dumps({**ALERT, "source_ref": f"n{n}"}) for n in range(5))
    lines += "\n{broken\n"
    response = post(client, intake["a"], lines, content_type="application/x-ndjson")
    assert response.status_code == 202
    assert response.json()["accepted"] == 5
    assert response.json()["rejected"][0]["index"] == 5
    assert "line 6" in response.json()["rejected"][0]["error"]


def test_all_records_bad_is_a_400_naming_each(client, intake):
    response = post(client, intake["a"], [{"title": "x"}, {"severity": "low"}])
    assert response.status_code == 400
    assert response.json()["error"] == "invalid"
    assert [r["index"] for r in response.json()["rejected"]] == [0, 1]


@pytest.mark.parametrize(
    "header,code",
    [
        (None, "not_authenticated"),
        ("Bearer ", "not_authenticated"),
        ("Bearer mssp_ik_nope", "invalid_key"),
        ("Token abc", "not_authenticated"),
    ],
)
def test_missing_or_invalid_key_is_401(client, intake, header, code):
    extra = {"HTTP_AUTHORIZATION": header} if header is not None else {}
    response = client.generic(
        "POST",
        "/api/v1/intake/generic/",
        json.dumps(ALERT),
        content_type="application/json",
        **extra,
    )
    assert response.status_code == 401
    assert response.json()["error"] == code


def test_revoked_key_is_401_and_stores_nothing(client, intake, two_tenants, api):
    admin = api(two_tenants["a_admin"])
    source = intake["a_source"]
    assert admin.delete(f"/api/v1/tenants/tenant-a/sources/{source.pk}/").status_code == 204
    response = post(client, intake["a"], ALERT)
    assert response.status_code == 401
    assert rows(Alert, tenant=two_tenants["a"]) == []


def test_user_api_token_is_not_an_intake_key(client, intake, two_tenants):
    from tests.factories import issue_token

    response = post(client, issue_token(two_tenants["a_admin"]), ALERT)
    assert response.status_code == 401


def test_a_key_only_ever_writes_into_its_own_tenant(client, intake, two_tenants):
    # The body cannot choose the tenant: the key decides.
    post(client, intake["b"], {**ALERT, "tenant": "tenant-a", "tenant_id": two_tenants["a"].pk})
    assert rows(Alert, tenant=two_tenants["a"]) == []
    assert len(rows(Alert, tenant=two_tenants["b"])) == 1


def test_key_of_another_kind_of_source_is_refused(client, intake):
    response = post(client, intake["a"], ALERT, kind="wazuh")
    assert response.status_code == 400
    assert response.json()["error"] == "wrong_source"
    assert "/api/v1/intake/generic/" in response.json()["detail"]


def test_unknown_source_kind_is_404(client, intake):
    assert post(client, intake["a"], ALERT, kind="syslog").status_code == 404


@pytest.mark.parametrize(
    "body,content_type,status",
    [
        (b'{"title": ', "application/json", 400),
        (b'{"title": "\xff\xfe"}', "application/json", 400),
        (b'{"title": "\\ud800 half a character", "severity": "low"}', "application/json", 400),
        (b"[" * 500 + b"]" * 500, "application/json", 400),
        (b"title=x", "application/x-www-form-urlencoded", 415),
        (b'{"title": "x", "severity": "low"}', "", 415),
        (b"[]", "application/json", 400),
        (b"   ", "application/json", 400),
    ],
)
def test_hostile_bodies_are_refused_whole(client, intake, two_tenants, body, content_type, status):
    response = post(client, intake["a"], body, content_type=content_type)
    assert response.status_code == status, response.content
    assert response.json()["detail"]
    assert rows(Alert, tenant=two_tenants["a"]) == []


def test_body_over_the_size_limit_is_413(client, intake, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2048
    response = post(client, intake["a"], [ALERT] * 50)
    assert response.status_code == 413
    assert response.json()["error"] == "too_large"


def test_batch_over_the_record_limit_is_413(client, intake, settings, two_tenants):
    settings.INTAKE_MAX_BATCH = 3
    response = post(client, intake["a"], [{**ALERT, "source_ref": str(n)} for n in range(4)])
    assert response.status_code == 413
    assert response.json()["error"] == "batch_too_large"
    assert rows(Alert, tenant=two_tenants["a"]) == []


def test_quota_answers_429_with_retry_after_and_spares_other_tenants(client, intake, two_tenants):
    tenant = two_tenants["a"]
    tenant.intake_quota_per_minute = 3
    tenant.save()
    accepted = post(client, intake["a"], [{**ALERT, "source_ref": str(n)} for n in range(3)])
    assert accepted.status_code == 202
    refused = post(client, intake["a"], {**ALERT, "source_ref": "over"})
    assert refused.status_code == 429
    assert refused.json()["error"] == "quota_exceeded"
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert len(rows(Alert, tenant=tenant)) == 3
    # the noisy tenant does not use up anyone else's quota
    assert post(client, intake["b"], ALERT).status_code == 202


def _signed(secret: str, body: bytes, timestamp: int | None = None) -> dict:
    timestamp = int(time.time()) if timestamp is None else timestamp
    signature = hmac.new(
        secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256
    ).hexdigest()
    return {"HTTP_X_MSSP_TIMESTAMP": str(timestamp), "HTTP_X_MSSP_SIGNATURE": f"sha256={signature}"}


def test_signed_source_accepts_fresh_signatures_and_refuses_replays(client, intake, two_tenants):
    source = intake["a_source"]
    with rls_bypass("test"):
        IntakeSource.objects.for_tenant(two_tenants["a"]).filter(pk=source.pk).update(
            signing_secret="s3cret"
        )
    body = json.dumps(ALERT).encode()
    unsigned = post(client, intake["a"], body)
    assert unsigned.status_code == 401 and unsigned.json()["error"] == "signature_required"
    headers = _signed("s3cret", body)
    assert post(client, intake["a"], body, **headers).status_code == 202
    replay = post(client, intake["a"], body, **headers)
    assert replay.status_code == 401 and replay.json()["error"] == "replayed_signature"
    stale = post(client, intake["a"], body, **_signed("s3cret", body, int(time.time()) - 3600))
    assert stale.json()["error"] == "stale_signature"
    forged = post(client, intake["a"], body, **_signed("wrong", body))
    assert forged.json()["error"] == "bad_signature"
    tampered = _signed("s3cret", body)
    assert post(client, intake["a"], body + b" ", **tampered).json()["error"] == "bad_signature"


def test_intake_marks_the_source_seen(client, intake, two_tenants):
    post(client, intake["a"], ALERT)
    (source,) = rows(IntakeSource, pk=intake["a_source"].pk)
    assert source.last_seen_at is not None


def test_202_comes_only_after_commit(client, intake, two_tenants, monkeypatch):
    """A failure after the alerts were written rolls them back and answers an error, never 202."""
    from alerts import ingest

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(ingest, "_group_into_incidents", broken)
    client.raise_request_exception = False
    response = post(client, intake["a"], ALERT)
    assert response.status_code == 500
    assert rows(Alert, tenant=two_tenants["a"]) == []
