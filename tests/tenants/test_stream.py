"""/ws/stream/: who may open it, and which tenants' events reach whom.

Most tests drive mssp.asgi.application in-process with channels' WebsocketCommunicator (over
the Redis channel layer when the run has Redis); one runs a real daphne and talks to it with
the `websockets` client, with the events published from this process through Redis.

Negative checks ("X does not receive B's event") are ordered, not timed: after the event under
test, a sentinel event is published for each tenant, and a socket's messages up to its
sentinel must be exactly the expected ones (the channel layer keeps each channel's order).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import timedelta
from types import SimpleNamespace

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.db import transaction
from django.test import Client
from django.utils import timezone

from mssp.asgi import application
from tenants import consumers, events, rls
from tenants.models import ApiToken, Membership
from tenants.services import member_remove, staff_set_tenants, token_revoke
from tests.factories import MembershipFactory, StaffFactory, TenantFactory, issue_token

pytestmark = pytest.mark.django_db(transaction=True)

HOST = (b"host", b"testserver")
ORIGIN = (b"origin", b"http://testserver")
WAIT = 10  # seconds a socket may take to get a message it is due (bounded, normally ms)
QUIET = 0.2  # after the last due message: nothing more may arrive


# --- the world ---------------------------------------------------------------------------------
@pytest.fixture
def world():
    """Tenants A and B; a customer of each, an analyst who works only A, one who works both,
    and an analyst who works none; each with a token carrying their role's scopes."""
    a = TenantFactory(slug="stream-a", name="Stream A")
    b = TenantFactory(slug="stream-b", name="Stream B")
    users = {
        "a_customer": MembershipFactory(tenant=a, role="viewer").user,
        "b_customer": MembershipFactory(tenant=b, role="viewer").user,
        "analyst_a": StaffFactory(staff_role="analyst_l1", tenants=[a]),
        "analyst_ab": StaffFactory(staff_role="analyst_l2", tenants=[a, b]),
        "outsider": StaffFactory(staff_role="analyst_l1"),
    }
    tokens = {name: issue_token(user) for name, user in users.items()}
    return SimpleNamespace(a=a, b=b, users=users, tokens=tokens)


def run(scenario) -> None:
    async_to_sync(scenario)()


# --- publishing (committed transactions, as the application does) -------------------------------
def _publish(tenant, event_type: str = "incident.updated") -> dict:
    with transaction.atomic():
        event = events.tenant_event(tenant.pk, tenant.slug, event_type, str(uuid.uuid4()))
    # delivered at commit, which filled in its event_id; the audience never goes on the wire
    return {key: value for key, value in event.items() if key != "audience"}


publish = database_sync_to_async(_publish)


async def publish_with_sentinels(event_tenant, *tenants) -> tuple[dict, dict]:
    """One event for `event_tenant`, then a sentinel for each of `tenants`; returns the event
    and the sentinels by tenant slug."""
    event = await publish(event_tenant)
    sentinels = {t.slug: await publish(t, "sentinel") for t in tenants}
    return event, sentinels


async def barrier(user) -> dict:
    """A message to the user's own group: once a socket has it, everything sent to that group
    before (an entitlement change) has been handled."""
    marker = {"type": "barrier", "id": uuid.uuid4().hex}
    layer = get_channel_layer()
    await layer.group_send(events.user_group(user.pk), {"type": "stream.event", "event": marker})
    return marker


# --- sockets -----------------------------------------------------------------------------------
async def open_socket(*headers: tuple[bytes, bytes]) -> WebsocketCommunicator:
    socket = WebsocketCommunicator(application, "/ws/stream/", headers=[HOST, ORIGIN, *headers])
    connected, code = await socket.connect(timeout=WAIT)
    assert connected, code
    return socket


async def token_socket(token: str) -> WebsocketCommunicator:
    socket = await open_socket()
    await socket.send_json_to({"type": "auth", "token": token})
    assert await socket.receive_json_from(timeout=WAIT) == {"type": "ready"}
    return socket


async def next_messages(socket: WebsocketCommunicator, count: int) -> list[dict]:
    """The next `count` messages, then nothing more."""
    got = [await socket.receive_json_from(timeout=WAIT) for _ in range(count)]
    assert await socket.receive_nothing(timeout=QUIET), "more messages than expected"
    return got


async def closed_with(socket: WebsocketCommunicator) -> int | None:
    output = await socket.receive_output(timeout=WAIT)
    assert output["type"] == "websocket.close", output
    return output.get("code")


def session_cookie(user) -> tuple[bytes, bytes]:
    client = Client()
    client.force_login(user)
    return (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())


# --- authentication ----------------------------------------------------------------------------
def test_silent_unauthenticated_socket_is_closed_4401(monkeypatch):
    monkeypatch.setattr(consumers, "AUTH_TIMEOUT", 0.2)

    async def scenario():
        socket = await open_socket()
        try:
            assert await closed_with(socket) == consumers.CLOSE_UNAUTHENTICATED
        finally:
            await socket.disconnect()

    run(scenario)


def _unusable_tokens(world) -> dict[str, str]:
    user = world.users["a_customer"]
    revoked = issue_token(user)
    token_revoke(ApiToken.objects.get(digest=ApiToken.digest_of(revoked)))
    expired = issue_token(user)
    ApiToken.objects.filter(digest=ApiToken.digest_of(expired)).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    inactive_user = MembershipFactory(tenant=world.a, role="viewer").user
    of_inactive_user = issue_token(inactive_user)
    inactive_user.is_active = False
    inactive_user.save(update_fields=["is_active"])
    return {
        "unknown": "mssp_" + "x" * 43,
        "revoked": revoked,
        "expired": expired,
        "of an inactive user": of_inactive_user,
        "empty": "",
        "not a string": 12345,
    }


def test_bad_token_as_first_message_closes_4401(world):
    tokens = _unusable_tokens(world)

    async def scenario():
        for why, token in tokens.items():
            socket = await open_socket()
            try:
                await socket.send_json_to({"type": "auth", "token": token})
                assert await closed_with(socket) == consumers.CLOSE_UNAUTHENTICATED, why
            finally:
                await socket.disconnect()

    run(scenario)


def test_first_message_that_is_not_auth_closes_4401(world):
    async def scenario():
        for first in ({"type": "ping"}, {"token": world.tokens["a_customer"]}, [1, 2]):
            socket = await open_socket()
            try:
                await socket.send_json_to(first)
                assert await closed_with(socket) == consumers.CLOSE_UNAUTHENTICATED, first
            finally:
                await socket.disconnect()

    run(scenario)


def test_token_auth_first_message_gets_ready(world):
    async def scenario():
        socket = await token_socket(world.tokens["a_customer"])
        try:
            await socket.send_json_to({"type": "ping"})
            assert await socket.receive_json_from(timeout=WAIT) == {"type": "pong"}
        finally:
            await socket.disconnect()

    run(scenario)


def test_token_without_read_scope_is_refused_4401(world):
    responder = MembershipFactory(tenant=world.a, role="responder").user
    write_only = issue_token(responder, scopes={"write"})

    async def scenario():
        socket = await open_socket()
        try:
            await socket.send_json_to({"type": "auth", "token": write_only})
            assert await closed_with(socket) == consumers.CLOSE_UNAUTHENTICATED
        finally:
            await socket.disconnect()

    run(scenario)


@pytest.mark.services
def test_session_cookie_authenticates_socket_without_auth_message(world):
    cookie = session_cookie(world.users["a_customer"])

    async def scenario():
        socket = await open_socket(cookie)
        try:
            assert await socket.receive_json_from(timeout=WAIT) == {"type": "ready"}
            event = await publish(world.a)
            assert await next_messages(socket, 1) == [event]
        finally:
            await socket.disconnect()

    run(scenario)


def test_socket_from_foreign_origin_is_refused(world):
    cookie = session_cookie(world.users["a_customer"])  # a logged-in victim's browser

    async def scenario():
        for headers in (
            [HOST, (b"origin", b"http://evil.example"), cookie],
            [HOST, (b"origin", b"http://testserver.evil.example"), cookie],
            [HOST, (b"origin", b"http://testserver:9999"), cookie],  # another port
            [HOST, cookie],  # no Origin at all
        ):
            socket = WebsocketCommunicator(application, "/ws/stream/", headers=headers)
            connected, _ = await socket.connect(timeout=WAIT)
            assert not connected, headers
            await socket.disconnect()

    run(scenario)


# --- bad messages ------------------------------------------------------------------------------
def test_oversized_message_closes_4400(world):
    too_big = json.dumps({"type": "ping", "pad": "x" * consumers.MAX_MESSAGE_BYTES})

    async def scenario():
        unauthenticated = await open_socket()
        authenticated = await token_socket(world.tokens["a_customer"])
        try:
            for socket in (unauthenticated, authenticated):
                await socket.send_to(text_data=too_big)
                assert await closed_with(socket) == consumers.CLOSE_BAD_MESSAGE
        finally:
            await unauthenticated.disconnect()
            await authenticated.disconnect()

    run(scenario)


def test_binary_frame_closes_4400(world):
    async def scenario():
        socket = await token_socket(world.tokens["a_customer"])
        try:
            await socket.send_to(bytes_data=b'{"type": "ping"}')
            assert await closed_with(socket) == consumers.CLOSE_BAD_MESSAGE
        finally:
            await socket.disconnect()

    run(scenario)


def test_malformed_messages_get_an_error_and_the_socket_keeps_working(world):
    async def scenario():
        socket = await open_socket()
        try:
            # Before authentication: an error, and authenticating still works.
            await socket.send_to(text_data="not json {")
            assert (await socket.receive_json_from(timeout=WAIT))["type"] == "error"
            await socket.send_json_to({"type": "auth", "token": world.tokens["a_customer"]})
            assert await socket.receive_json_from(timeout=WAIT) == {"type": "ready"}
            # After: each bad message gets an error; the socket stays usable.
            for bad in ("not json {", "[1, 2]", '"a string"', "null", '{"type": "nope"}'):
                await socket.send_to(text_data=bad)
                reply = await socket.receive_json_from(timeout=WAIT)
                assert reply["type"] == "error", bad
                assert isinstance(reply["detail"], str)
            await socket.send_json_to({"type": "ping"})
            assert await socket.receive_json_from(timeout=WAIT) == {"type": "pong"}
        finally:
            await socket.disconnect()  # re-raises if the consumer had crashed

    run(scenario)


# --- isolation -----------------------------------------------------------------------------------
async def _isolation_round(world) -> dict[str, tuple[list[dict], list[dict]]]:
    """Each socket's messages after one event of tenant B, with what it should have got."""
    sockets = {name: await token_socket(token) for name, token in world.tokens.items()}
    try:
        event_b, sentinel = await publish_with_sentinels(world.b, world.a, world.b)
        a, b = sentinel[world.a.slug], sentinel[world.b.slug]
        expected = {
            "a_customer": [a],
            "b_customer": [event_b, b],
            "analyst_a": [a],
            "analyst_ab": [event_b, a, b],
            "outsider": [],
        }
        return {
            name: (await next_messages(sockets[name], len(want)), want)
            for name, want in expected.items()
        }
    finally:
        for socket in sockets.values():
            await socket.disconnect()


@pytest.mark.services
def test_customer_socket_never_receives_other_tenants_event(world):
    got = {}

    async def scenario():
        got.update(await _isolation_round(world))

    run(scenario)
    for name in ("a_customer", "b_customer"):
        received, expected = got[name]
        assert received == expected, name
    assert all(m["tenant"] == "stream-a" for m in got["a_customer"][0])


@pytest.mark.services
def test_analyst_socket_receives_only_the_tenants_the_analyst_works(world):
    got = {}

    async def scenario():
        got.update(await _isolation_round(world))

    run(scenario)
    for name in ("analyst_a", "analyst_ab", "outsider"):
        received, expected = got[name]
        assert received == expected, name
    assert {m["tenant"] for m in got["analyst_ab"][0]} == {"stream-a", "stream-b"}


@pytest.mark.services
def test_analyst_socket_follows_tenant_changes_without_reconnecting(world):
    analyst = world.users["analyst_a"]
    set_tenants = database_sync_to_async(staff_set_tenants)

    async def scenario():
        socket = await token_socket(world.tokens["analyst_a"])
        try:
            event_b, sentinel = await publish_with_sentinels(world.b, world.a)
            assert await next_messages(socket, 1) == [sentinel["stream-a"]]

            await set_tenants(analyst, [world.a, world.b])  # now works B too
            marker = await barrier(analyst)
            event_b, sentinel = await publish_with_sentinels(world.b, world.a)
            assert await next_messages(socket, 3) == [marker, event_b, sentinel["stream-a"]]

            await set_tenants(analyst, [world.a])  # and no longer
            marker = await barrier(analyst)
            event_b, sentinel = await publish_with_sentinels(world.b, world.a)
            assert await next_messages(socket, 2) == [marker, sentinel["stream-a"]]
        finally:
            await socket.disconnect()

    run(scenario)


def assert_losing_access_closes_socket(world, token: str, lose_access) -> None:
    """A socket open with the token is closed 4401 at the next event after lose_access()."""

    async def scenario():
        socket = await token_socket(token)
        try:
            await database_sync_to_async(lose_access)()
            await publish(world.a)
            assert await closed_with(socket) == consumers.CLOSE_UNAUTHENTICATED
        finally:
            await socket.disconnect()

    run(scenario)


@pytest.mark.services
def test_removed_member_socket_is_closed_and_gets_no_more_events(world):
    user = world.users["a_customer"]

    def remove() -> None:
        with rls.tenant_scope([world.a.pk]):
            member_remove(Membership.objects.for_tenant(world.a).get(user=user))

    assert_losing_access_closes_socket(world, world.tokens["a_customer"], remove)


@pytest.mark.services
def test_deactivated_analyst_socket_is_closed_and_gets_no_more_events(world):
    from rest_framework.test import APIClient

    analyst = world.users["analyst_a"]
    admin_api = APIClient()
    admin_token = issue_token(StaffFactory(staff_role="admin"))
    admin_api.credentials(HTTP_AUTHORIZATION=f"Bearer {admin_token}")

    def deactivate() -> None:
        response = admin_api.patch(
            f"/api/v1/staff/{analyst.pk}/", {"is_active": False}, format="json"
        )
        assert response.status_code == 200, response.content

    assert_losing_access_closes_socket(world, world.tokens["analyst_a"], deactivate)


@pytest.mark.services
def test_socket_of_revoked_token_is_closed_and_gets_no_more_events(world):
    raw = world.tokens["a_customer"]

    def revoke() -> None:
        token_revoke(ApiToken.objects.get(digest=ApiToken.digest_of(raw)))

    assert_losing_access_closes_socket(world, raw, revoke)


# --- through a real daphne -----------------------------------------------------------------------
@pytest.mark.services
@pytest.mark.slow
@pytest.mark.timeout(120)
def test_daphne_stream_delivers_each_tenants_events_only_to_its_own_sockets(world, tmp_path):
    from websockets.asyncio.client import connect
    from websockets.exceptions import InvalidStatus

    from tests.live import running_daphne

    cookie = session_cookie(world.users["a_customer"])[1].decode()

    async def receive(ws, count: int) -> list[dict]:
        got = [json.loads(await asyncio.wait_for(ws.recv(), WAIT)) for _ in range(count)]
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(ws.recv(), QUIET)
        return got

    async def scenario(base_url: str):
        url = base_url.replace("http://", "ws://") + "/ws/stream/"
        with pytest.raises(InvalidStatus) as refused:
            async with connect(
                url, origin="http://evil.example", additional_headers={"Cookie": cookie}
            ):
                pass
        assert refused.value.response.status_code == 403
        # The same host on another port is another origin (another site's page).
        other_port = base_url.rsplit(":", 1)[0] + ":9"
        with pytest.raises(InvalidStatus) as refused:
            async with connect(url, origin=other_port, additional_headers={"Cookie": cookie}):
                pass
        assert refused.value.response.status_code == 403

        a_headers = {"Cookie": cookie}
        async with (
            connect(url, origin=base_url, additional_headers=a_headers) as a_socket,
            connect(url, origin=base_url) as b_socket,
        ):
            assert json.loads(await asyncio.wait_for(a_socket.recv(), WAIT)) == {"type": "ready"}
            await b_socket.send(json.dumps({"type": "auth", "token": world.tokens["b_customer"]}))
            assert json.loads(await asyncio.wait_for(b_socket.recv(), WAIT)) == {"type": "ready"}

            event_b, sentinel = await publish_with_sentinels(world.b, world.a, world.b)
            assert await receive(a_socket, 1) == [sentinel["stream-a"]]
            assert await receive(b_socket, 2) == [event_b, sentinel["stream-b"]]

            # A hostile resume id gets an answer; the socket stays open (it was a 1011).
            await b_socket.send(json.dumps({"type": "resume", "after": "1700000000000-"}))
            assert (await receive(b_socket, 1))[0]["type"] == "error"
            await b_socket.send(json.dumps({"type": "ping"}))
            assert await receive(b_socket, 1) == [{"type": "pong"}]

    with running_daphne(tmp_path) as base_url:
        async_to_sync(scenario)(base_url)
