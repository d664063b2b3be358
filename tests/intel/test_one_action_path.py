"""Issue 11: one path for every intel action. A rule changed in one place (intel.policy, an
action's serializer) changes the page and the API alike, and both refuse another tenant's
objects as missing (404)."""

from __future__ import annotations

import io
import uuid

from rest_framework import serializers

from alerts.models import Alert, IntakeSource
from intel import normalise, policy, services
from intel.api.serializers import IndicatorCreateSerializer
from intel.models import Indicator, IndicatorImport, IndicatorMatch
from tenants.rls import rls_bypass, tenant_scope

INDICATORS = "/api/v1/intel/indicators/"


def own_indicator(tenant, value: str) -> Indicator:
    kind, value = normalise.guess(value)
    with rls_bypass("test fixture"):
        saved, _, _ = services.indicator_create(tenant.pk, kind, value, {}, actor=None, hunt=False)
    return saved


def stored_values(tenant) -> set[str]:
    with rls_bypass("test"):
        return set(Indicator.objects.for_tenant(tenant).values_list("value", flat=True))


def status_of(tenant, indicator: Indicator) -> str:
    with rls_bypass("test"):
        return Indicator.objects.for_tenant(tenant).get(pk=indicator.pk).status


def imports_of(tenant) -> int:
    with rls_bypass("test"):
        return IndicatorImport.objects.for_tenant(tenant).count()


def matched_alert(source, value: str) -> IndicatorMatch:
    """An alert of the source's tenant whose observable a global indicator matches at intake."""
    from alerts.ingest import ingest
    from alerts.intake.generic import parse

    kind, value = normalise.guess(value)
    with rls_bypass("test fixture"):
        services.indicator_create(None, kind, value, {}, actor=None, hunt=False)
    with tenant_scope([source.tenant_id]):
        source = (
            IntakeSource.objects.for_tenant(source.tenant_id)
            .select_related("tenant")
            .get(pk=source.pk)
        )
        record = {
            "title": "Beacon",
            "severity": "low",
            "source_ref": uuid.uuid4().hex,
            "observables": [{"type": "ip", "value": value}],
        }
        (alert_id,) = ingest(source, [parse(record)]).alert_ids
        alert = Alert.objects.for_tenant(source.tenant_id).get(pk=alert_id)
    with rls_bypass("test"):
        return IndicatorMatch.objects.for_tenant(alert.tenant_id).get(alert_id=alert.pk)


def test_the_management_rule_is_one_for_the_page_and_the_api(two_tenants, api, client, monkeypatch):
    w = two_tenants
    # an L1 analyst may not manage tenant A's indicators: not by the page, not by the API
    client.force_login(w["analyst_a"])
    page = client.post("/intel/add/", {"value": "198.51.100.1", "tenant": "tenant-a"})
    answer = api(w["analyst_a"]).post(
        INDICATORS, {"value": "198.51.100.2", "tenant": "tenant-a"}, format="json"
    )
    assert (page.status_code, answer.status_code) == (403, 403)
    # the rule changed in intel.policy alone: both now accept
    monkeypatch.setattr(policy, "may_manage", lambda access, tenant_id: True)
    page = client.post("/intel/add/", {"value": "198.51.100.1", "tenant": "tenant-a"})
    answer = api(w["analyst_a"]).post(
        INDICATORS, {"value": "198.51.100.2", "tenant": "tenant-a"}, format="json"
    )
    assert page.status_code == 302 and answer.status_code == 201, answer.content
    assert {"198.51.100.1", "198.51.100.2"} <= stored_values(w["a"])


def test_a_refusal_in_the_policy_refuses_every_write_on_both_paths(
    two_tenants, api, client, monkeypatch
):
    w = two_tenants
    mine = own_indicator(w["a"], "mine.example")
    monkeypatch.setattr(policy, "may_manage", lambda access, tenant_id: False)
    client.force_login(w["a_admin"])
    customer = api(w["a_admin"])
    # add
    assert client.post("/intel/add/", {"value": "new.example"}).status_code == 403
    assert customer.post(INDICATORS, {"value": "new.example"}, format="json").status_code == 403
    # revoke (the page) / change (the API)
    assert client.post(f"/intel/indicators/{mine.pk}/revoke/").status_code == 403
    patched = customer.patch(f"{INDICATORS}{mine.pk}/", {"status": "revoked"}, format="json")
    assert patched.status_code == 403
    # upload a list
    upload = io.BytesIO(b"203.0.113.50\n")
    upload.name = "list.txt"
    assert client.post("/intel/imports/", {"file": upload, "kind": "text"}).status_code == 403
    raw = customer.post(
        "/api/v1/intel/imports/?kind=text", b"203.0.113.50\n", content_type="text/plain"
    )
    assert raw.status_code == 403
    assert stored_values(w["a"]) == {"mine.example"} and imports_of(w["a"]) == 0
    assert status_of(w["a"], mine) == Indicator.Status.ACTIVE


def test_who_uses_intel_at_all_is_one_rule(two_tenants, api, client, monkeypatch):
    w = two_tenants
    client.force_login(w["mssp_admin"])
    assert client.get("/intel/").status_code == 200
    assert api(w["mssp_admin"]).get(INDICATORS).status_code == 200
    monkeypatch.setattr(policy, "may_use_intel", lambda access: False)
    assert client.get("/intel/").status_code == 403
    assert api(w["mssp_admin"]).get(INDICATORS).status_code == 403


def test_the_input_rules_are_the_api_serializers_on_both_paths(
    two_tenants, api, client, monkeypatch
):
    w = two_tenants
    original = IndicatorCreateSerializer.validate

    def stricter(self, data):
        data = original(self, data)
        if data["value"].endswith(".example"):
            raise serializers.ValidationError({"value": "No .example names today."})
        return data

    monkeypatch.setattr(IndicatorCreateSerializer, "validate", stricter)
    client.force_login(w["a_admin"])
    page = client.post("/intel/add/", {"value": "new.example"}, follow=True)
    answer = api(w["a_admin"]).post(INDICATORS, {"value": "new.example"}, format="json")
    assert b"No .example names today." in page.content
    assert answer.status_code == 400 and "No .example names today." in answer.json()["detail"]
    assert "new.example" not in stored_values(w["a"])


def test_another_tenants_indicator_is_missing_on_both_paths(two_tenants, api, client):
    w = two_tenants
    theirs = own_indicator(w["b"], "theirs.example")
    client.force_login(w["a_admin"])
    assert client.post(f"/intel/indicators/{theirs.pk}/revoke/").status_code == 404
    customer = api(w["a_admin"])
    url = f"{INDICATORS}{theirs.pk}/"
    assert customer.patch(url, {"status": "revoked"}, format="json").status_code == 404
    assert customer.delete(url).status_code == 404
    assert status_of(w["b"], theirs) == Indicator.Status.ACTIVE


def test_another_tenants_match_is_missing_on_both_paths(two_tenants, api, client):
    w = two_tenants
    match = matched_alert(w["a_source"], "198.18.9.9")
    client.force_login(w["analyst_b"])  # staff who work tenant B only
    assert client.post(f"/intel/matches/{match.pk}/raise/").status_code == 404
    answer = api(w["analyst_b"]).post(f"/api/v1/intel/matches/{match.pk}/raise/")
    assert answer.status_code == 404
