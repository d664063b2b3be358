"""A socket lives only as long as the credential that opened it (issue 10, finding 6).

A session socket closes (4401) when its session ends: logout, a password change or a
set-password link (every session of the user), the session's expiry. A token socket closes
when its token is revoked or expires. Either closes when the user is deactivated or removed,
however that is done (API, Django admin, a plain save); an entitlement change made anywhere
(role, tenant status, object permissions) makes the socket recompute what it may receive.

The close notices travel through the user's group on the channel layer (every daphne
process); the expiry ones are timers in the socket itself.
"""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from types import SimpleNamespace

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.contrib.auth.tokens import default_token_generator
from django.test import Client
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from guardian.shortcuts import assign_perm

from tenants import consumers, events, rls
from tenants.models import ApiToken, Membership, Tenant
from tenants.services import member_set_role
from tests.factories import MembershipFactory, StaffFactory, TenantFactory, issue_token
from tests.tenants.test_stream import (
    WAIT,
    barrier,
    closed_with,
    next_messages,
    open_socket,
    publish,
    token_socket,
)

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "correct-horse-battery"  # tests.factories.UserFactory
NEW_PASSWORD = "another-Long-passphrase-7"


@pytest.fixture
def world():
    a = TenantFactory(slug="life-a", name="Life A")
    b = TenantFactory(slug="life-b", name="Life B")
    viewer = MembershipFactory(tenant=a, role="viewer").user
    analyst = StaffFactory(staff_role="analyst_l1", tenants=[a])
    return SimpleNamespace(a=a, b=b, viewer=viewer, analyst=analyst)


def run(scenario) -> None:
    async_to_sync(scenario)()


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def cookie_of(client: Client) -> tuple[bytes, bytes]:
    return (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())


async def session_socket(client: Client):
    socket = await open_socket(cookie_of(client))
    assert await socket.receive_json_from(timeout=WAIT) == {"type": "ready"}
    return socket


async def hang_up(*sockets) -> None:
    """Disconnect; re-raises what a consumer raised, but not the cancellation left behind by
    a receive that already failed the test (it timed out)."""
    for socket in sockets:
        try:
            await socket.disconnect()
        except asyncio.CancelledError:
            pass


async def rechecked(socket, user) -> None:
    """Returns once the socket has handled what was sent to the user's group so far (the
    notice of a change): a marker sent after it has arrived."""
    marker = await barrier(user)
    assert await socket.receive_json_from(timeout=WAIT) == marker


async def still_open(tenant, *sockets) -> None:
    """The sockets are open and still receive their tenant's events."""
    event = await publish(tenant)
    for socket in sockets:
        assert await next_messages(socket, 1) == [event]


# --- logout --------------------------------------------------------------------------------------
def test_logout_closes_the_sockets_of_that_session_only(world):
    browser, other_browser = logged_in(world.viewer), logged_in(world.viewer)
    token = issue_token(world.viewer)

    async def scenario():
        socket = await session_socket(browser)
        other = await session_socket(other_browser)
        by_token = await token_socket(token)
        try:
            response = await database_sync_to_async(browser.post)("/logout/")
            assert response.status_code == 302
            assert await closed_with(socket) == consumers.CLOSE_UNAUTHENTICATED
            await still_open(world.a, other, by_token)  # another session, a token: open
        finally:
            await hang_up(socket, other, by_token)

    run(scenario)


# --- password -------------------------------------------------------------------------------------
def test_password_change_closes_every_session_socket_of_the_user(world):
    browser, other_browser = logged_in(world.viewer), logged_in(world.viewer)
    token = issue_token(world.viewer)

    def change_password():
        response = browser.post(
            "/password/",
            {
                "old_password": PASSWORD,
                "new_password1": NEW_PASSWORD,
                "new_password2": NEW_PASSWORD,
            },
        )
        assert response.status_code == 302, response.content

    async def scenario():
        socket = await session_socket(browser)
        other = await session_socket(other_browser)
        by_token = await token_socket(token)
        try:
            await database_sync_to_async(change_password)()
            assert await closed_with(other) == consumers.CLOSE_UNAUTHENTICATED
            # The session that changed the password got a new key (Django keeps it logged
            # in): the socket opened with the old one closes, a new one opens.
            assert await closed_with(socket) == consumers.CLOSE_UNAUTHENTICATED
            renewed = await session_socket(browser)
            await renewed.disconnect()
            await still_open(world.a, by_token)  # tokens are revoked on their own
        finally:
            await hang_up(socket, other, by_token)

    run(scenario)


def test_set_password_link_closes_the_users_session_sockets(world):
    browser = logged_in(world.viewer)
    uid = urlsafe_base64_encode(force_bytes(world.viewer.pk))
    link = f"/reset/{uid}/{default_token_generator.make_token(world.viewer)}/"

    def set_password():
        stranger = Client()
        form = stranger.get(link, follow=True)
        assert form.status_code == 200
        response = stranger.post(
            form.redirect_chain[-1][0],
            {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
        )
        assert response.status_code == 302, response.content

    async def scenario():
        socket = await session_socket(browser)
        try:
            await database_sync_to_async(set_password)()
            assert await closed_with(socket) == consumers.CLOSE_UNAUTHENTICATED
        finally:
            await hang_up(socket)

    run(scenario)


# --- expiry ---------------------------------------------------------------------------------------
def test_token_socket_closes_when_the_token_expires(world):
    raw = issue_token(world.viewer)
    ApiToken.objects.filter(digest=ApiToken.digest_of(raw)).update(
        expires_at=timezone.now() + timedelta(seconds=1.5)
    )

    async def scenario():
        socket = await token_socket(raw)
        try:
            # Nothing is published and nobody is told: the socket's own timer closes it.
            assert await closed_with(socket) == consumers.CLOSE_UNAUTHENTICATED
        finally:
            await hang_up(socket)

    run(scenario)


def test_session_socket_closes_when_the_session_expires(world):
    browser = logged_in(world.viewer)
    session = browser.session
    session.set_expiry(2)
    session.save()

    async def scenario():
        socket = await session_socket(browser)
        try:
            assert await closed_with(socket) == consumers.CLOSE_UNAUTHENTICATED
        finally:
            await hang_up(socket)

    run(scenario)


def test_socket_rechecks_its_session_now_and_then(world, monkeypatch):
    """A session ended without a notice (another login in that browser, a deleted row) is
    noticed by the periodic re-check."""
    monkeypatch.setattr(consumers, "RECHECK_SECONDS", 0.5)
    browser = logged_in(world.viewer)

    async def scenario():
        socket = await session_socket(browser)
        try:
            await database_sync_to_async(browser.session.delete)()
            assert await closed_with(socket) == consumers.CLOSE_UNAUTHENTICATED
        finally:
            await hang_up(socket)

    run(scenario)


# --- the account, however it is changed ---------------------------------------------------------
def test_user_deactivated_by_a_plain_save_loses_its_sockets(world):
    """The Django admin (and any other code) saves the user; it does not call a service."""
    browser = logged_in(world.analyst)
    token = issue_token(world.analyst)

    def deactivate():
        world.analyst.is_active = False
        world.analyst.save()

    async def scenario():
        socket = await session_socket(browser)
        by_token = await token_socket(token)
        try:
            await database_sync_to_async(deactivate)()
            assert await closed_with(socket) == consumers.CLOSE_UNAUTHENTICATED
            assert await closed_with(by_token) == consumers.CLOSE_UNAUTHENTICATED
        finally:
            await hang_up(socket, by_token)

    run(scenario)


def test_deleted_user_loses_its_sockets(world):
    token = issue_token(world.analyst)

    async def scenario():
        socket = await token_socket(token)
        try:
            await database_sync_to_async(world.analyst.delete)()
            assert await closed_with(socket) == consumers.CLOSE_UNAUTHENTICATED
        finally:
            await hang_up(socket)

    run(scenario)


def test_token_revoked_by_a_plain_save_closes_its_socket(world):
    raw = issue_token(world.viewer)

    def revoke_in_admin():
        token = ApiToken.objects.get(digest=ApiToken.digest_of(raw))
        token.revoked_at = timezone.now()
        token.save()

    async def scenario():
        socket = await token_socket(raw)
        try:
            await database_sync_to_async(revoke_in_admin)()
            assert await closed_with(socket) == consumers.CLOSE_UNAUTHENTICATED
        finally:
            await hang_up(socket)

    run(scenario)


def test_token_expiry_brought_forward_closes_its_socket(world):
    raw = issue_token(world.viewer)

    def expire_soon():
        token = ApiToken.objects.get(digest=ApiToken.digest_of(raw))
        token.expires_at = timezone.now() + timedelta(seconds=1)
        token.save()

    async def scenario():
        socket = await token_socket(raw)
        try:
            await database_sync_to_async(expire_soon)()
            assert await closed_with(socket) == consumers.CLOSE_UNAUTHENTICATED
        finally:
            await hang_up(socket)

    run(scenario)


# --- entitlements ---------------------------------------------------------------------------------
def _alert_event(tenant) -> dict:
    from django.db import transaction

    with transaction.atomic():
        event = events.tenant_event(
            tenant.pk, tenant.slug, "alert.created", "x", audience=events.ALERTS
        )
    return {key: value for key, value in event.items() if key != "audience"}


publish_alert = database_sync_to_async(_alert_event)


def test_viewer_made_responder_gets_the_in_house_teams_events(world):
    """Alerts are for the customer's portal users, not its in-house team (CONTRACT.md)."""

    def promote():
        with rls.tenant_scope([world.a.pk]):
            member_set_role(
                Membership.objects.for_tenant(world.a).get(user=world.viewer), "responder"
            )

    token = issue_token(world.viewer)

    async def scenario():
        socket = await token_socket(token)
        try:
            alert = await publish_alert(world.a)
            assert await next_messages(socket, 1) == [alert]
            await database_sync_to_async(promote)()
            await rechecked(socket, world.viewer)
            await publish_alert(world.a)
            incident = await publish(world.a, "incident.created")
            assert await next_messages(socket, 1) == [incident]
        finally:
            await hang_up(socket)

    run(scenario)


def test_suspended_tenants_customers_stop_receiving_its_events(world):
    def suspend():
        world.a.status = Tenant.Status.SUSPENDED
        world.a.save()

    token = issue_token(world.viewer)

    async def scenario():
        socket = await token_socket(token)
        try:
            await still_open(world.a, socket)
            await database_sync_to_async(suspend)()
            await rechecked(socket, world.viewer)
            await publish(world.a)
            marker = await barrier(world.viewer)
            assert await next_messages(socket, 1) == [marker]
        finally:
            await hang_up(socket)

    run(scenario)


def test_tenant_granted_outside_the_services_reaches_the_analysts_socket(world):
    """The Django admin's object-permission page assigns guardian permissions directly."""
    token = issue_token(world.analyst)

    async def scenario():
        socket = await token_socket(token)
        try:
            await database_sync_to_async(assign_perm)("tenants.work_tenant", world.analyst, world.b)
            await rechecked(socket, world.analyst)
            event_b = await publish(world.b)
            assert await next_messages(socket, 1) == [event_b]
        finally:
            await hang_up(socket)

    run(scenario)


def test_new_tenant_reaches_the_sockets_of_staff_who_see_every_tenant(world):
    admin = StaffFactory(staff_role="admin")
    token = issue_token(admin)

    async def scenario():
        socket = await token_socket(token)
        try:
            tenant = await database_sync_to_async(TenantFactory)(slug="life-new")
            await rechecked(socket, admin)
            event = await publish(tenant)
            assert await next_messages(socket, 1) == [event]
        finally:
            await hang_up(socket)

    run(scenario)


def test_events_queued_before_a_tenant_was_lost_are_dropped(world):
    """Events already queued for a socket when it leaves a tenant's group (published while it
    re-checked) are not forwarded: each message names its tenant, checked on forwarding."""
    token = issue_token(world.analyst)

    async def scenario():
        socket = await token_socket(token)
        try:
            layer = get_channel_layer()
            group = events.user_group(world.analyst.pk)
            for tenant in (world.b, world.a):
                event = {"type": "incident.updated", "tenant": tenant.slug, "id": tenant.slug}
                await layer.group_send(
                    group, {"type": "stream.events", "tenant_id": tenant.pk, "events": [event]}
                )
            assert await next_messages(socket, 1) == [
                {"type": "incident.updated", "tenant": world.a.slug, "id": world.a.slug}
            ]
        finally:
            await hang_up(socket)

    run(scenario)


def test_recheck_that_fails_closes_1011_instead_of_crashing(world, monkeypatch):
    """The database gone while a socket re-checks: a clean close the client reconnects after
    (portal.js backs off), its timers and groups cleaned up; not a consumer crash."""
    token = issue_token(world.viewer)

    async def failing_check(credential):
        raise ConnectionError("database unreachable")

    async def scenario():
        socket = await token_socket(token)
        try:
            monkeypatch.setattr(consumers, "_check", failing_check)
            await database_sync_to_async(events.entitlements_changed)(world.viewer.pk)
            assert await closed_with(socket) == consumers.CLOSE_SERVER_ERROR
        finally:
            await hang_up(socket)  # re-raises if the consumer had crashed

    run(scenario)


# --- through a real daphne ------------------------------------------------------------------------
@pytest.mark.services
@pytest.mark.slow
@pytest.mark.timeout(120)
def test_daphne_session_socket_closes_on_logout_from_another_process(world, tmp_path):
    """The logout happens in this process; the socket lives in daphne's: the notice crosses
    processes through the user's group on channels-redis."""
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    from tests.live import running_daphne

    browser = logged_in(world.viewer)
    cookie = f"sessionid={browser.cookies['sessionid'].value}"

    async def scenario(base_url: str):
        url = base_url.replace("http://", "ws://") + "/ws/stream/"
        async with connect(url, origin=base_url, additional_headers={"Cookie": cookie}) as ws:
            assert json.loads(await asyncio.wait_for(ws.recv(), WAIT)) == {"type": "ready"}
            await database_sync_to_async(browser.post)("/logout/")
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), WAIT)
            assert closed.value.rcvd.code == consumers.CLOSE_UNAUTHENTICATED

    with running_daphne(tmp_path) as base_url:
        async_to_sync(scenario)(base_url)
