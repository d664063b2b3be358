"""A source silent for longer than its expected interval raises one alert in its tenant."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from alerts.models import Alert, Incident, IntakeSource
from alerts.tasks import check_silent_sources
from tenants.rls import rls_bypass

pytestmark = pytest.mark.django_db


def set_source(source, **fields):
    with rls_bypass("test"):
        IntakeSource.objects.for_tenant(source.tenant_id).filter(pk=source.pk).update(**fields)


def alerts_of(tenant):
    with rls_bypass("test"):
        return list(Alert.objects.for_tenant(tenant))


def test_silent_source_raises_one_alert_in_its_own_tenant(
    two_tenants, django_capture_on_commit_callbacks
):
    source = two_tenants["a_source"]
    set_source(
        source, expected_interval_minutes=30, last_seen_at=timezone.now() - timedelta(minutes=45)
    )
    set_source(
        two_tenants["b_source"],
        expected_interval_minutes=30,
        last_seen_at=timezone.now() - timedelta(minutes=5),
    )
    assert check_silent_sources.apply().get() == 1
    (alert,) = alerts_of(two_tenants["a"])
    assert "silent for 45 minutes" in alert.title and alert.category == "availability"
    assert alerts_of(two_tenants["b"]) == []
    with rls_bypass("test"):
        assert (
            Incident.objects.for_tenant(two_tenants["a"]).get().fingerprint.startswith("silence:")
        )
        refreshed = IntakeSource.objects.for_tenant(two_tenants["a"]).get(pk=source.pk)
    # the silence alert is not a sign of life
    assert refreshed.last_seen_at < timezone.now() - timedelta(minutes=40)
    # once per silence
    assert check_silent_sources.apply().get() == 0
    assert len(alerts_of(two_tenants["a"])) == 1


def test_a_source_that_speaks_again_can_be_reported_silent_again(two_tenants, client):
    import json

    source = two_tenants["a_source"]
    with rls_bypass("test"):
        key = IntakeSource.objects.for_tenant(source.tenant_id).get(pk=source.pk)
        raw = key.set_new_key()
        key.kind = "generic"
        key.save()
    set_source(
        source, expected_interval_minutes=10, last_seen_at=timezone.now() - timedelta(minutes=30)
    )
    check_silent_sources.apply()
    client.post(
        "/api/v1/intake/generic/",
        json.dumps({"title": "back", "severity": "low"}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {raw}",
    )
    with rls_bypass("test"):
        assert (
            IntakeSource.objects.for_tenant(source.tenant_id).get(pk=source.pk).silence_alerted_at
            is None
        )


def test_sources_without_an_expected_interval_are_not_watched(two_tenants):
    set_source(
        two_tenants["a_source"],
        expected_interval_minutes=None,
        last_seen_at=timezone.now() - timedelta(days=30),
    )
    assert check_silent_sources.apply().get() == 0


def test_run_periodic_runs_the_schedule_once(two_tenants):
    from django.core.management import call_command

    set_source(
        two_tenants["a_source"],
        expected_interval_minutes=1,
        last_seen_at=timezone.now() - timedelta(minutes=5),
    )
    call_command("run_periodic", "--once")
    assert len(alerts_of(two_tenants["a"])) == 1
