"""alerts.intake.receive without HTTP: a key and a body in, alerts stored in the key's tenant
(and no other), a typed receipt or a typed refusal out."""

from __future__ import annotations

import json

import pytest

from alerts.intake.base import IntakeRefused
from alerts.intake.receive import Receipt, Rejection, receive
from alerts.models import Alert, IntakeSource
from tenants.rls import rls_bypass

ALERT = {"title": "Brute force on VPN", "severity": "high", "source_ref": "evt-1"}


def generic_source(tenant) -> tuple[IntakeSource, str]:
    with rls_bypass("test fixture"):
        source = IntakeSource(tenant=tenant, name="generic feed", kind="generic")
        key = source.set_new_key()
        source.save()
    return source, key


def alerts_of(tenant) -> list[Alert]:
    with rls_bypass("test"):
        return list(Alert.objects.for_tenant(tenant))


def body(document) -> bytes:
    return json.dumps(document).encode()


@pytest.mark.django_db
def test_a_key_and_a_body_store_alerts_in_the_keys_tenant(two_tenants):
    source, key = generic_source(two_tenants["a"])
    receipt = receive("generic", key, body([ALERT, {**ALERT, "source_ref": "evt-2"}]))
    assert isinstance(receipt, Receipt) and receipt.status == 202
    assert receipt.source.pk == source.pk
    assert receipt.accepted == 2 and receipt.duplicates == 0 and receipt.rejected == []
    stored = alerts_of(two_tenants["a"])
    assert sorted(str(alert.pk) for alert in stored) == sorted(map(str, receipt.alert_ids))
    assert {alert.source_id for alert in stored} == {source.pk}
    assert alerts_of(two_tenants["b"]) == []


@pytest.mark.django_db
def test_another_tenants_key_never_stores_into_this_tenant(two_tenants):
    """The body cannot choose the tenant, and neither can the order of calls: each call is
    admitted to its own key's tenant only."""
    _, key_a = generic_source(two_tenants["a"])
    _, key_b = generic_source(two_tenants["b"])
    receive("generic", key_a, body(ALERT))
    claims_a = {**ALERT, "source_ref": "evt-b", "tenant": "tenant-a", "tenant_id": 1}
    receipt = receive("generic", key_b, body({**claims_a, "tenant_id": two_tenants["a"].pk}))
    assert receipt.source.tenant_id == two_tenants["b"].pk
    assert [alert.source_ref for alert in alerts_of(two_tenants["a"])] == ["evt-1"]
    assert [alert.source_ref for alert in alerts_of(two_tenants["b"])] == ["evt-b"]


@pytest.mark.django_db
def test_bad_records_are_typed_rejections_and_the_rest_is_stored(two_tenants):
    _, key = generic_source(two_tenants["a"])
    receipt = receive("generic", key, body([ALERT, {"title": "no severity"}, "text"]))
    assert receipt.accepted == 1
    assert [rejection.index for rejection in receipt.rejected] == [1, 2]
    assert all(isinstance(r, Rejection) and r.error for r in receipt.rejected)
    assert len(alerts_of(two_tenants["a"])) == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    "kind,key,payload,content_type,status,code",
    [
        ("syslog", "KEY", body(ALERT), "application/json", 404, "not_found"),
        ("generic", "", body(ALERT), "application/json", 401, "not_authenticated"),
        ("generic", "mssp_ik_nope", body(ALERT), "application/json", 401, "invalid_key"),
        ("wazuh", "KEY", body(ALERT), "application/json", 400, "wrong_source"),
        ("generic", "KEY", body(ALERT), "text/plain", 415, "unsupported_media_type"),
        ("generic", "KEY", b'{"title": ', "application/json", 400, "invalid"),
        ("generic", "KEY", b"[]", "application/json", 400, "invalid"),
    ],
)
def test_refusals_carry_status_code_and_message(
    two_tenants, kind, key, payload, content_type, status, code
):
    _, real_key = generic_source(two_tenants["a"])
    with pytest.raises(IntakeRefused) as refused:
        receive(kind, real_key if key == "KEY" else key, payload, content_type=content_type)
    assert (refused.value.status, refused.value.code) == (status, code)
    assert refused.value.detail
    assert alerts_of(two_tenants["a"]) == []


@pytest.mark.django_db
def test_nothing_accepted_is_refused_naming_each_record(two_tenants):
    _, key = generic_source(two_tenants["a"])
    with pytest.raises(IntakeRefused) as refused:
        receive("generic", key, body([{"title": "x"}, {"severity": "low"}]))
    assert refused.value.status == 400
    assert refused.value.extra["accepted"] == 0
    assert [rejection["index"] for rejection in refused.value.extra["rejected"]] == [0, 1]


@pytest.mark.django_db
def test_the_size_limit_holds_without_http(two_tenants, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 64
    _, key = generic_source(two_tenants["a"])
    with pytest.raises(IntakeRefused) as refused:
        receive("generic", key, body([ALERT] * 5))
    assert (refused.value.status, refused.value.code) == (413, "too_large")


@pytest.mark.django_db(transaction=True)
def test_outside_any_transaction_the_alerts_are_committed_when_it_returns(two_tenants):
    """Called on its own (no request, no test transaction), receive() opens its transaction:
    the key's row-level-security context lasts for the whole pipeline and the alerts are
    committed by the time the receipt is returned."""
    from django.db import connection

    _, key = generic_source(two_tenants["a"])
    receipt = receive("generic", key, body(ALERT))
    assert not connection.in_atomic_block
    assert [str(alert.pk) for alert in alerts_of(two_tenants["a"])] == list(
        map(str, receipt.alert_ids)
    )
