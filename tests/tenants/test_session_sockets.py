"""A session ended from the sessions page, by an admin, or by its idle or absolute limit closes
its live-stream sockets (4401) within a second or so; the user's other sessions stay open
(issue 13, "Sessions"; the consumer's side of tenants.sessions)."""

from __future__ import annotations

import time
from datetime import timedelta
from types import SimpleNamespace

import pytest
from channels.db import database_sync_to_async
from django.test import Client
from django.utils import timezone

from tenants import consumers
from tenants.models import Membership, UserSession
from tenants.rls import rls_bypass
from tests.factories import MembershipFactory, StaffFactory, TenantFactory
from tests.mfa import log_in
from tests.tenants.test_stream import closed_with
from tests.tenants.test_stream_lifetime import hang_up, run, session_socket, still_open

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "correct-horse-battery"  # tests.factories.UserFactory
SOON = 2.0  # seconds: "at once", with room for a loaded machine's channel layer


@pytest.fixture
def world():
    a = TenantFactory(slug="sock-a", name="Sock A")
    admin = MembershipFactory(tenant=a, role="admin").user
    viewer = MembershipFactory(tenant=a, role="viewer").user
    analyst = StaffFactory(staff_role="analyst_l1", tenants=[a])
    mssp_admin = StaffFactory(staff_role="admin")
    return SimpleNamespace(a=a, admin=admin, viewer=viewer, analyst=analyst, mssp_admin=mssp_admin)


def browser(user, agent: str = "Firefox/128.0") -> Client:
    client = Client(HTTP_USER_AGENT=agent)
    response = log_in(client, user, PASSWORD)  # with the second factor when it has one
    assert response.status_code == 302
    return client


def record_of(client: Client) -> UserSession:
    from tenants.sessions import SESSION_RECORD

    return UserSession.objects.get(pk=client.session[SESSION_RECORD])


async def closed_soon(socket) -> None:
    started = time.monotonic()
    assert await closed_with(socket) == consumers.CLOSE_UNAUTHENTICATED
    assert time.monotonic() - started < SOON


def test_ending_my_other_session_closes_its_sockets_at_once(world):
    laptop, phone = browser(world.viewer), browser(world.viewer, "Safari/604.1")
    phone_record = record_of(phone)

    async def scenario():
        phone_socket = await session_socket(phone)
        laptop_socket = await session_socket(laptop)
        try:
            answer = await database_sync_to_async(laptop.delete)(
                f"/api/v1/me/sessions/{phone_record.pk}/"
            )
            assert answer.status_code == 204
            await closed_soon(phone_socket)
            await still_open(world.a, laptop_socket)
        finally:
            await hang_up(phone_socket, laptop_socket)

    run(scenario)


def test_ending_all_other_sessions_closes_their_sockets(world):
    laptop, phone = browser(world.viewer), browser(world.viewer, "Safari/604.1")

    async def scenario():
        phone_socket = await session_socket(phone)
        laptop_socket = await session_socket(laptop)
        try:
            response = await database_sync_to_async(laptop.post)("/account/sessions/others/end/")
            assert response.status_code == 302
            await closed_soon(phone_socket)
            await still_open(world.a, laptop_socket)
        finally:
            await hang_up(phone_socket, laptop_socket)

    run(scenario)


def test_an_admin_ending_a_members_sessions_closes_their_sockets(world):
    admin, member = browser(world.admin), browser(world.viewer)
    with rls_bypass("test fixture"):
        membership = Membership.objects.dangerously_unscoped("test").get(user=world.viewer)

    async def scenario():
        member_socket = await session_socket(member)
        admin_socket = await session_socket(admin)
        try:
            answer = await database_sync_to_async(admin.delete)(
                f"/api/v1/tenants/sock-a/members/{membership.pk}/sessions/"
            )
            assert answer.status_code == 200
            await closed_soon(member_socket)
            await still_open(world.a, admin_socket)
        finally:
            await hang_up(member_socket, admin_socket)

    run(scenario)


def test_an_mssp_admin_ending_a_staff_members_sessions_closes_their_sockets(world):
    admin, analyst = browser(world.mssp_admin), browser(world.analyst)

    async def scenario():
        analyst_socket = await session_socket(analyst)
        try:
            answer = await database_sync_to_async(admin.delete)(
                f"/api/v1/staff/{world.analyst.pk}/sessions/"
            )
            assert answer.status_code == 200
            await closed_soon(analyst_socket)
        finally:
            await hang_up(analyst_socket)

    run(scenario)


@pytest.mark.parametrize("limit", ["idle", "absolute"])
def test_a_socket_closes_when_its_session_times_out(world, settings, limit):
    """No request comes: the socket's own timer finds the session past its limit."""
    settings.SESSION_IDLE_MINUTES = 1
    settings.SESSION_ABSOLUTE_MINUTES = 2
    client, other = browser(world.viewer), browser(world.viewer, "Safari/604.1")
    record = record_of(client)
    # one to two seconds before the limit
    if limit == "idle":
        changes = {"last_seen_at": timezone.now() - timedelta(seconds=58)}
    else:
        changes = {
            "signed_in_at": timezone.now() - timedelta(seconds=118),
            "last_seen_at": timezone.now(),
        }
    UserSession.objects.filter(pk=record.pk).update(**changes)

    async def scenario():
        socket = await session_socket(client)
        other_socket = await session_socket(other)
        try:
            assert await closed_with(socket) == consumers.CLOSE_UNAUTHENTICATED
            await still_open(world.a, other_socket)
        finally:
            await hang_up(socket, other_socket)

    run(scenario)
    assert client.get("/account/sessions/").status_code == 302  # and the page signs it out
