"""The periodic clean-up of sessions (tenants.session_sweep): sessions past a limit that never
come back are ended, audited and their sockets told; Django's expired rows and old records
go; live sessions are untouched, whoever's they are."""

from __future__ import annotations

from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.contrib.sessions.models import Session
from django.test import Client
from django.utils import timezone

from mssp.celery import app
from tenants import events
from tenants.models import AuditEvent, UserSession
from tenants.rls import rls_bypass
from tenants.session_sweep import end_timed_out, sweep
from tests.factories import MembershipFactory, StaffFactory, TenantFactory

pytestmark = pytest.mark.django_db


def a_session(user, *, seen_ago: timedelta, signed_in_ago: timedelta | None = None, **fields):
    now = timezone.now()
    return UserSession.objects.create(
        user=user,
        key_digest=f"digest-{user.pk}-{UserSession.objects.count()}",
        signed_in_at=now - (signed_in_ago or seen_ago),
        last_seen_at=now - seen_ago,
        device="Firefox 128 on Linux",
        **fields,
    )


def reloaded(record: UserSession) -> UserSession:
    return UserSession.objects.get(pk=record.pk)


def timeouts_audited() -> list[AuditEvent]:
    with rls_bypass("test assertion"):
        return list(
            AuditEvent.objects.dangerously_unscoped("test assertion").filter(
                action="auth.session_timeout"
            )
        )


def test_a_session_idle_past_its_limit_is_ended_and_audited_in_its_users_tenant(settings):
    settings.SESSION_IDLE_MINUTES = 60
    tenant = TenantFactory()
    member = MembershipFactory(tenant=tenant, role="responder").user
    staff = StaffFactory(staff_role="analyst_l1")
    idle = a_session(member, seen_ago=timedelta(minutes=61))
    live = a_session(staff, seen_ago=timedelta(minutes=59))
    result = sweep()
    assert result.timed_out == 1
    assert (reloaded(idle).ended_at, reloaded(idle).end_reason) != (None, "")
    assert reloaded(idle).end_reason == UserSession.EndReason.IDLE
    assert reloaded(live).ended_at is None
    (entry,) = timeouts_audited()
    assert entry.tenant_id == tenant.pk
    assert entry.data["session"] == str(idle.pk) and entry.data["reason"] == "idle"


def test_a_tenants_stricter_limit_and_the_absolute_limit_are_applied(settings):
    settings.SESSION_IDLE_MINUTES = 60
    settings.SESSION_ABSOLUTE_MINUTES = 12 * 60
    member = MembershipFactory(tenant=TenantFactory(), role="viewer").user
    strict = a_session(member, seen_ago=timedelta(minutes=10), idle_minutes=5)
    long_running = a_session(
        StaffFactory(staff_role="manager"),
        seen_ago=timedelta(minutes=2),
        signed_in_ago=timedelta(hours=13),
    )
    assert sweep().timed_out == 2
    assert reloaded(strict).end_reason == UserSession.EndReason.IDLE
    assert reloaded(long_running).end_reason == UserSession.EndReason.ABSOLUTE


def test_an_ended_session_is_not_ended_again():
    user = StaffFactory(staff_role="analyst_l1")
    earlier = timezone.now() - timedelta(hours=3)
    record = a_session(
        user, seen_ago=timedelta(hours=5), ended_at=earlier, end_reason=UserSession.EndReason.USER
    )
    assert sweep().timed_out == 0
    assert reloaded(record).ended_at == earlier
    assert reloaded(record).end_reason == UserSession.EndReason.USER
    assert timeouts_audited() == []


def test_a_run_ends_at_most_a_batch_and_the_next_run_takes_the_rest():
    user = StaffFactory(staff_role="analyst_l1")
    for _ in range(3):
        a_session(user, seen_ago=timedelta(days=1))
    now = timezone.now()
    with rls_bypass("test: the sweep's own scope"):
        assert end_timed_out(now, batch=2) == 2
        assert end_timed_out(now, batch=2) == 1
    assert UserSession.objects.filter(ended_at__isnull=True).count() == 0


def test_the_sockets_of_a_timed_out_session_are_told_at_once(
    django_capture_on_commit_callbacks,
):
    user = StaffFactory(staff_role="analyst_l1")
    record = a_session(user, seen_ago=timedelta(days=1))
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(events.user_group(user.pk), channel)
    with django_capture_on_commit_callbacks(execute=True):
        sweep()
    message = async_to_sync(layer.receive)(channel)
    assert message == {"type": "stream.session_ended", "session": record.key_digest}


def test_a_browser_whose_session_the_sweep_ended_is_signed_out_at_its_next_request(settings):
    settings.SESSION_IDLE_MINUTES = 30
    user = MembershipFactory(tenant=TenantFactory(), role="responder").user
    client = Client()
    client.force_login(user)
    assert client.get("/account/sessions/").status_code == 200
    UserSession.objects.filter(user=user).update(
        last_seen_at=timezone.now() - timedelta(minutes=31)
    )
    assert sweep().timed_out == 1
    response = client.get("/account/sessions/")
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_old_records_and_expired_django_sessions_are_deleted(settings):
    settings.SESSION_HISTORY_DAYS = 90
    user = StaffFactory(staff_role="analyst_l1")
    now = timezone.now()
    old = a_session(user, seen_ago=timedelta(days=100), ended_at=now - timedelta(days=91))
    recent = a_session(user, seen_ago=timedelta(days=30), ended_at=now - timedelta(days=29))
    Session.objects.create(session_key="x" * 32, session_data="", expire_date=now - timedelta(1))
    Session.objects.create(session_key="y" * 32, session_data="", expire_date=now + timedelta(1))
    result = sweep()
    assert result.forgotten == 1 and result.expired_rows_cleared
    assert not UserSession.objects.filter(pk=old.pk).exists()
    assert UserSession.objects.filter(pk=recent.pk).exists()
    assert list(Session.objects.values_list("session_key", flat=True)) == ["y" * 32]


def test_the_sweep_runs_each_minute_as_a_periodic_task(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["sessions"]
    assert entry == {"task": "tenants.tasks.sweep_sessions", "schedule": 60.0}
    a_session(StaffFactory(staff_role="analyst_l1"), seen_ago=timedelta(days=2))
    app.loader.import_default_modules()  # the apps' tasks modules, as run_periodic does
    result = app.tasks[entry["task"]].apply().get()  # as beat and run_periodic call it
    assert result == {"timed_out": 1, "expired_rows_cleared": True, "forgotten": 0}
