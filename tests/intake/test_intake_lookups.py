"""What intake remembers between requests (alerts.intake.lookups): the source a key unlocks,
its tenant and the tenant's rules. A request after the first skips those statements, and any
change (a key rotated, a source disabled, a tenant suspended, a quota lowered, a rule added or
switched off) takes effect at the very next request.

Transactional: a lookup is remembered only once its request commits. With a shared cache only
(Redis): the embedded run checks that nothing is remembered there.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from alerts.intake import lookups
from alerts.models import Alert, IntakeSource, SuppressionRule
from tenants.rls import rls_bypass
from tests.factories import TenantFactory

pytestmark = pytest.mark.django_db(transaction=True)

INTAKE = "/api/v1/intake/generic/"


@pytest.fixture
def world():
    lookups.forget()
    tenant = TenantFactory(slug="lookups", name="Lookups")
    with rls_bypass("test fixture"):
        source = IntakeSource(tenant=tenant, name="lookups", kind="generic")
        key = source.set_new_key()
        source.save()
    yield tenant, source, key
    lookups.forget()


def post(key: str, body: object):
    import json

    return Client().post(
        INTAKE,
        json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )


def alert(n: int, title: str = "Port scan") -> dict:
    return {"title": f"{title} {n}", "severity": "low", "source_ref": f"ref-{n}"}


def statements(key: str, n: int) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        response = post(key, alert(n))
    assert response.status_code == 202, response.content
    return [query["sql"] for query in captured.captured_queries]


@pytest.mark.services
def test_a_request_after_the_first_skips_the_lookups(world, monkeypatch):
    _, _, key = world
    first = statements(key, 1)  # remembers the source and the rules; marks the source seen
    remembered = statements(key, 2)
    monkeypatch.setattr(lookups, "enabled", lambda: False)
    looked_up = statements(key, 3)  # the same request, looking everything up
    # The key's presentation to row-level security, the source's SELECT and the two rule
    # queries: 4 statements fewer.
    assert len(looked_up) - len(remembered) == 4, (looked_up, remembered)
    assert any("alerts_intakesource" in sql and "key_digest" in sql for sql in looked_up)
    assert not any("alerts_intakesource" in sql and "key_digest" in sql for sql in remembered)
    assert not any("alerts_suppressionrule" in sql for sql in remembered)
    # Marked seen by the first request only (at most every 30 s), remembered or not.
    for run in (remembered, looked_up):
        assert not any(sql.startswith("UPDATE") and "last_seen_at" in sql for sql in run)
    assert any(sql.startswith("UPDATE") and "last_seen_at" in sql for sql in first)


@pytest.mark.services
def test_a_rotated_key_or_a_disabled_source_is_refused_at_once(world):
    _, source, key = world
    assert post(key, alert(1)).status_code == 202
    assert post(key, alert(2)).status_code == 202  # remembered
    with rls_bypass("test: rotate"):
        source.refresh_from_db()
        new_key = source.set_new_key()
        source.save()
    refused = post(key, alert(3))
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_key"
    assert post(new_key, alert(4)).status_code == 202
    assert post(new_key, alert(5)).status_code == 202  # remembered again
    with rls_bypass("test: disable"):
        source.refresh_from_db()
        source.status = IntakeSource.Status.DISABLED
        source.save()
    refused = post(new_key, alert(6))
    assert refused.status_code == 401
    assert refused.json()["detail"] == "This intake source is disabled."


@pytest.mark.services
def test_a_suspended_tenant_or_a_lower_quota_counts_at_once(world):
    tenant, _, key = world
    assert post(key, [alert(1), alert(2)]).status_code == 202
    assert post(key, [alert(3), alert(4)]).status_code == 202  # remembered
    tenant.intake_quota_per_minute = 1
    tenant.save()
    over = post(key, [alert(5), alert(6)])
    assert over.status_code == 413 and over.json()["error"] == "batch_over_quota"
    tenant.intake_quota_per_minute = None
    tenant.status = tenant.Status.SUSPENDED
    tenant.save()
    suspended = post(key, alert(7))
    assert suspended.status_code == 403 and suspended.json()["error"] == "tenant_suspended"


@pytest.mark.services
def test_a_rule_added_or_switched_off_applies_at_once(world):
    tenant, _, key = world
    assert post(key, alert(1, "Noisy scanner")).status_code == 202
    assert post(key, alert(2, "Noisy scanner")).status_code == 202  # rules remembered
    with rls_bypass("test: a rule"):
        rule = SuppressionRule.objects.create(
            tenant=tenant,
            name="scanner",
            reason="known scanner",
            conditions={"title_contains": "noisy scanner"},
            expires_at=timezone.now() + timedelta(days=1),
        )
    assert post(key, alert(3, "Noisy scanner")).status_code == 202
    assert post(key, alert(4, "Noisy scanner")).status_code == 202  # remembered with the rule
    with rls_bypass("test: off"):
        rule.is_active = False
        rule.save()
    assert post(key, alert(5, "Noisy scanner")).status_code == 202
    with rls_bypass("test check"):
        suppressed = dict(
            Alert.objects.for_tenant(tenant.pk).values_list("source_ref", "suppressed_by_id")
        )
    assert suppressed == {
        "ref-1": None,
        "ref-2": None,
        "ref-3": rule.pk,
        "ref-4": rule.pk,
        "ref-5": None,
    }


def test_nothing_is_remembered_without_a_shared_cache(world, settings):
    settings.REDIS_URL = ""
    _, _, key = world
    assert post(key, alert(1)).status_code == 202
    assert lookups.source(IntakeSource.digest_of(key)) == ("", None)
    assert lookups._sources == {} and lookups._rules == {}


@pytest.mark.services
def test_an_unreadable_generation_or_an_old_entry_means_looking_up(world, monkeypatch):
    _, _, key = world
    statements(key, 1)
    remembered = len(statements(key, 2))
    monkeypatch.setattr(lookups, "MAX_AGE", 0.0)  # every entry is too old
    assert len(statements(key, 3)) == remembered + 4
    monkeypatch.setattr(lookups, "MAX_AGE", 60.0)
    statements(key, 4)
    assert len(statements(key, 5)) == remembered

    def unreachable(*_args, **_kwargs):
        raise ConnectionError("Redis is down")

    monkeypatch.setattr(lookups.cache, "get", unreachable)
    assert len(statements(key, 6)) == remembered + 4  # answered all the same, looked up
    assert lookups._sources == {} and lookups._rules == {}
