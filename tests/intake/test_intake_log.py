"""The durable intake log (INTAKE_MODE "log", alerts.intake.log), in-process on both databases:
append -> 202 with ids -> drain -> the alerts exist with those ids, grouped into incidents.
The drain here is the drain the command and the embedded thread run, called in-process.
The process-level crash tests are in test_intake_log_processes.py."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from alerts.intake import log
from alerts.models import Alert, Incident, IncidentEvent, IntakeLogEntry, IntakeSource
from sla.models import SlaClock
from tenants.rls import rls_bypass
from tests.intake.test_intake_api import ALERT, post, rows

pytestmark = pytest.mark.django_db


@pytest.fixture
def log_mode(settings):
    settings.INTAKE_MODE = "log"


@pytest.fixture
def intake(two_tenants):
    """Each tenant with a generic source whose raw key we know (as test_intake_api's)."""
    keys = {}
    with rls_bypass("test fixture"):
        for name in ("a", "b"):
            source = IntakeSource(tenant=two_tenants[name], name=f"{name} generic", kind="generic")
            keys[name] = source.set_new_key()
            source.save()
    return keys


def test_log_answers_202_with_ids_and_the_drain_stores_them_under_those_ids(
    client, intake, two_tenants, log_mode
):
    batch = [ALERT, {"title": "no severity"}, {**ALERT, "source_ref": "evt-2"}, ALERT]
    response = post(client, intake["a"], batch)
    assert response.status_code == 202, response.json()
    body = response.json()
    assert body["accepted"] == 3 and body["duplicates"] == 1
    assert [r["index"] for r in body["rejected"]] == [1]  # rejected at once, per record
    assert body["alerts"][0] == body["alerts"][2]  # the same alert twice: one id
    assert rows(Alert, tenant=two_tenants["a"]) == []  # not yet through the pipeline
    assert len(rows(IntakeLogEntry)) == 1

    assert log.drain() == 1

    stored = {str(a.pk): a for a in rows(Alert, tenant=two_tenants["a"])}
    assert set(stored) == set(body["alerts"])
    assert stored[body["alerts"][0]].raw["vendor_field"] == 42
    (incident,) = rows(Incident, tenant=two_tenants["a"])
    assert incident.alert_count == 2
    assert {a.incident_id for a in stored.values()} == {incident.pk}
    assert [e.kind for e in rows(IncidentEvent, incident=incident)] == ["created"]
    assert rows(SlaClock, incident_id=incident.pk)  # the SLA app started its clocks
    assert rows(IntakeLogEntry) == []  # trimmed in the drain's transaction
    assert log.drain() == 0


def test_a_redelivery_after_the_drain_is_answered_with_the_stored_id(
    client, intake, two_tenants, log_mode
):
    first = post(client, intake["a"], ALERT).json()
    log.drain()
    again = post(client, intake["a"], ALERT).json()
    assert again["alerts"] == first["alerts"] and again["duplicates"] == 1
    log.drain()
    assert len(rows(Alert, tenant=two_tenants["a"])) == 1
    assert rows(Incident, tenant=two_tenants["a"])[0].alert_count == 1


def test_the_drain_takes_many_requests_of_several_customers_in_one_batch(
    client, intake, two_tenants, log_mode
):
    given = {"a": [], "b": []}
    for n in range(6):
        for name in ("a", "b"):
            answer = post(client, intake[name], {**ALERT, "source_ref": f"{name}-{n}"})
            given[name] += answer.json()["alerts"]
    assert log.drain_batch() == 12  # one transaction, both tenants, each under its own scope
    for name in ("a", "b"):
        stored = rows(Alert, tenant=two_tenants[name])
        assert sorted(str(a.pk) for a in stored) == sorted(given[name])
        (incident,) = rows(Incident, tenant=two_tenants[name])
        assert incident.alert_count == 6


def test_the_parsed_alert_survives_the_log_unchanged(intake):
    from alerts.ingest import dedup_key_of
    from alerts.intake import FORMATS

    record = {**ALERT, "observed_at": "2026-01-02T03:04:05+01:00", "source_ref": ""}
    alert = FORMATS["generic"].parse(record)
    again = log.from_record(log.to_record(alert))
    assert again == alert and dedup_key_of(again) == dedup_key_of(alert)


def test_quota_is_enforced_at_append(client, intake, two_tenants, log_mode, settings):
    settings.INTAKE_QUOTA_PER_MINUTE = 2
    assert post(client, intake["a"], [ALERT, {**ALERT, "source_ref": "x"}]).status_code == 202
    refused = post(client, intake["a"], {**ALERT, "source_ref": "y"})
    assert refused.status_code == 429
    assert len(rows(IntakeLogEntry)) == 1


def test_backlog_and_its_age_are_on_healthz(client, intake, two_tenants, log_mode, settings):
    post(client, intake["a"], [ALERT, {**ALERT, "source_ref": "z"}])
    body = client.get("/healthz").json()
    assert body["intake_log"]["backlog"] == 1 and body["intake_log"]["backlog_alerts"] == 2
    assert body["intake_log"]["status"] == "ok"
    with rls_bypass("test"):
        IntakeLogEntry.objects.dangerously_unscoped("test").update(
            received_at=timezone.now() - timedelta(seconds=settings.INTAKE_LOG_DEGRADED_SECONDS + 5)
        )
    body = client.get("/healthz").json()
    assert body["intake_log"]["status"] == "degraded"
    assert body["intake_log"]["oldest_seconds"] > settings.INTAKE_LOG_DEGRADED_SECONDS
    log.drain()
    assert client.get("/healthz").json()["intake_log"]["backlog"] == 0


def test_a_row_the_pipeline_fails_on_is_set_aside_and_the_rest_go_through(
    client, intake, two_tenants, log_mode
):
    post(client, intake["a"], {**ALERT, "source_ref": "good-1"})
    post(client, intake["a"], {**ALERT, "source_ref": "bad"})
    post(client, intake["a"], {**ALERT, "source_ref": "good-2"})
    with rls_bypass("test"):  # a row no pipeline can take (a log written by a broken release)
        entry = IntakeLogEntry.objects.dangerously_unscoped("test").order_by("id")[1]
        entry.alerts[0]["alert"]["severity"] = "apocalyptic"
        entry.save()
    for _ in range(log.MAX_ATTEMPTS):
        log.drain()
    assert {a.source_ref for a in rows(Alert, tenant=two_tenants["a"])} == {"good-1", "good-2"}
    (kept,) = rows(IntakeLogEntry)
    assert kept.attempts == log.MAX_ATTEMPTS and kept.failed_at is not None
    assert "severity" in kept.last_error
    assert log.backlog().set_aside == 1 and log.backlog().degraded


@pytest.mark.django_db(transaction=True)
def test_embedded_mode_drains_on_a_thread_woken_after_commit(client, intake, two_tenants):
    if connection.vendor == "postgresql":
        pytest.skip("the embedded mode's thread: SQLite (PostgreSQL: drain_intake)")
    from django.test import override_settings

    try:
        with override_settings(INTAKE_MODE="log"):
            answer = post(client, intake["a"], ALERT).json()
            # Looked at once, before the thread's fallback timer (FALLBACK_SECONDS) could have
            # woken it: the commit did. (Not polled: the in-memory test database of SQLite
            # locks whole tables across threads, a file in WAL mode does not.)
            time.sleep(log.FALLBACK_SECONDS * 0.7)
            assert rows(Alert, pk=answer["alerts"][0]), "the drain thread did not run"
    finally:
        log.embedded_drain.stop()
    assert rows(IntakeLogEntry) == []
    assert rows(Incident, tenant=two_tenants["a"])[0].alert_count == 1


def test_make_run_starts_a_drain_where_the_log_is_used(monkeypatch):
    """On PostgreSQL `make run` (mssp.serve) starts drain_intake beside the workers; in the
    embedded mode (SQLite) a thread of daphne drains, and in the direct mode nothing does."""
    from mssp import serve

    monkeypatch.delenv("INTAKE_MODE", raising=False)
    monkeypatch.setenv("DATABASE_URL", "postgresql://mssp_app@127.0.0.1/mssp")
    drains = [cmd for cmd in serve.commands() if "drain_intake" in cmd]
    assert drains == [[serve.sys.executable, "manage.py", "drain_intake"]]
    assert not any("drain_intake" in cmd for cmd in serve.commands(web_only=True))
    monkeypatch.setenv("INTAKE_MODE", "direct")
    assert not any("drain_intake" in cmd for cmd in serve.commands())
    monkeypatch.setenv("INTAKE_MODE", "log")
    monkeypatch.setenv("DATABASE_URL", "sqlite:///var/db.sqlite3")
    assert not any("drain_intake" in cmd for cmd in serve.commands())


def test_the_managers_view_shows_the_backlog_to_managers_not_to_leads(
    client, intake, two_tenants, log_mode
):
    from tests.factories import StaffFactory

    post(client, intake["a"], [ALERT, {**ALERT, "source_ref": "m"}])
    client.force_login(StaffFactory(staff_role="manager"))
    page = client.get("/manager/")
    assert page.status_code == 200
    assert page.context["intake_log"].requests == 1
    assert b"2 accepted alerts in 1 request waits for the pipeline" in page.content
    log.drain()
    assert b"the intake log is empty" in client.get("/manager/").content
    client.force_login(StaffFactory(staff_role="lead", tenants=[two_tenants["a"]]))
    assert client.get("/manager/").context["intake_log"] is None


def test_with_redis_unreachable_intake_still_appends_counts_the_quota_and_drains(
    client, intake, two_tenants, log_mode, settings, monkeypatch
):
    """The quota's shared count lives in Redis: while Redis is down each process counts it
    itself, so alerts are neither refused nor let in beyond the quota."""
    import socket

    from alerts.intake import receive
    from tenants import ratelimit

    with socket.socket() as closed:  # a port that refuses connections
        closed.bind(("127.0.0.1", 0))
        settings.RATE_LIMIT_STORAGE = f"redis://127.0.0.1:{closed.getsockname()[1]}/0"
        settings.INTAKE_QUOTA_PER_MINUTE = 3
        ratelimit._make_limiter.cache_clear()
        monkeypatch.setattr(receive, "_local_limiter", None)
        try:
            answer = post(client, intake["a"], [ALERT, {**ALERT, "source_ref": "r2"}])
            assert answer.status_code == 202, answer.content
            refused = post(client, intake["a"], [{**ALERT, "source_ref": f"r{n}"} for n in (3, 4)])
            assert refused.status_code == 429 and refused["Retry-After"]
        finally:
            ratelimit._make_limiter.cache_clear()
    log.drain()
    stored = {str(a.pk) for a in rows(Alert, tenant=two_tenants["a"])}
    assert stored == set(answer.json()["alerts"])
