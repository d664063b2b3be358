"""Whatever a client sends, the stream answers it and keeps going (issue 10, finding 11).

A socket is closed only for the documented reasons: 4401 (not authenticated), 4400 (a frame
that is binary or larger than MAX_MESSAGE_BYTES). Anything else gets {"type": "error"} (or
{"type": "reload"} for a resume it cannot serve) and the socket stays usable; nothing a client
sends makes the consumer raise (which daphne turns into a 1011 close).
"""

from __future__ import annotations

import json
import time

import pytest
from asgiref.sync import async_to_sync
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tenants import consumers, events
from tests.factories import MembershipFactory, TenantFactory, issue_token
from tests.tenants.test_stream import WAIT, closed_with, open_socket, publish, token_socket

sockets_db = pytest.mark.django_db(transaction=True)  # a token, and a consumer that reads it


@pytest.fixture
def token():
    tenant = TenantFactory(slug="input-a")
    return issue_token(MembershipFactory(tenant=tenant, role="viewer").user)


def run(scenario) -> None:
    async_to_sync(scenario)()


async def replies_until_pong(socket) -> list[dict]:
    """Sends a ping and returns what came before its pong: the socket is open and working."""
    await socket.send_json_to({"type": "ping"})
    got = []
    while (reply := await socket.receive_json_from(timeout=WAIT)) != {"type": "pong"}:
        got.append(reply)
    return got


HOSTILE_RESUME_IDS = [
    "1700000000000-",  # no sequence: Redis refuses "(1700000000000-"
    "-0",
    "-",
    "",
    "١٢٣-0",  # Arabic-Indic digits: int() takes them, Redis does not
    "１２３-0",  # fullwidth digits
    "18446744073709551616-0",  # 2**64
    "1-18446744073709551616",
    "99999999999999999999999999999999-0",
    " 1-0",
    "1-0 ",
    "1_000-0",
    "+1-0",
    "0x10-0",
    "1-0-0",
    "1.5-0",
    "1-\u0000",
    "9" * 40,
    123,
    -1,
    1.5,
    None,
    True,
    [],
    ["1-0"],
    {"ms": 1},
]


@sockets_db
def test_hostile_resume_ids_get_an_error_and_the_socket_stays_open(token):
    async def scenario():
        socket = await token_socket(token)
        try:
            for after in HOSTILE_RESUME_IDS:
                await socket.send_json_to({"type": "resume", "after": after})
                replies = await replies_until_pong(socket)
                assert [r["type"] for r in replies] == ["error"], after
                assert "event id" in replies[0]["detail"], after
            await socket.send_json_to({"type": "resume"})  # no id at all
            assert [r["type"] for r in await replies_until_pong(socket)] == ["error"]
        finally:
            await socket.disconnect()  # re-raises if the consumer had crashed

    run(scenario)


@sockets_db
def test_resume_ids_at_the_edges_of_the_syntax_are_answered(token):
    """Well-formed but useless ids: too old (reload), from the future or the largest id Redis
    allows (nothing to send)."""
    future = int(time.time() * 1000) + 3_600_000
    top = 2**64 - 1

    async def scenario():
        socket = await token_socket(token)
        try:
            for after, answer in (
                ("0-0", [{"type": "reload"}]),
                (f"{future}-0", []),
                (f"{top}-{top}", []),
                (f"{top}-0", []),
            ):
                await socket.send_json_to({"type": "resume", "after": after})
                assert await replies_until_pong(socket) == answer, after
        finally:
            await socket.disconnect()

    run(scenario)


@sockets_db
def test_resume_still_delivers_what_was_missed(token):
    from tenants.models import Tenant

    tenant = Tenant.objects.get(slug="input-a")

    async def scenario():
        socket = await token_socket(token)
        try:
            first = await publish(tenant)
            assert await socket.receive_json_from(timeout=WAIT) == first
            second = await publish(tenant)
            assert await socket.receive_json_from(timeout=WAIT) == second
            await socket.send_json_to({"type": "resume", "after": first["event_id"]})
            assert await replies_until_pong(socket) == [second]
        finally:
            await socket.disconnect()

    run(scenario)


@sockets_db
def test_resume_with_the_event_log_unreachable_answers_reload(token, monkeypatch):
    class Unreachable:
        def since(self, tenant_ids, after):
            raise ConnectionError("event log down")

    monkeypatch.setattr(events, "event_log", Unreachable)

    async def scenario():
        socket = await token_socket(token)
        try:
            await socket.send_json_to({"type": "resume", "after": f"{int(time.time() * 1000)}-0"})
            assert await replies_until_pong(socket) == [{"type": "reload"}]
        finally:
            await socket.disconnect()

    run(scenario)


def test_missed_events_never_passes_a_malformed_id_to_the_log(monkeypatch):
    seen = []

    class Log:
        def since(self, tenant_ids, after):
            seen.append(after)
            return []

    monkeypatch.setattr(events, "event_log", Log)
    for after in HOSTILE_RESUME_IDS:
        with pytest.raises(ValueError):
            events.missed_events([1], after)
    assert seen == []


@pytest.mark.services("redis")
@sockets_db
def test_redis_log_error_replies_are_not_iterated(token):
    """XRANGE answers an error for an exclusive start at the very last id: since() must not
    iterate it as if it were entries."""
    from tenants.models import Tenant

    tenant = Tenant.objects.get(slug="input-a")
    async_to_sync(publish)(tenant)
    top = 2**64 - 1
    assert events.event_log().since([tenant.pk], f"{top}-{top}") in ([], None)


@sockets_db
def test_deeply_nested_json_gets_an_error(token):
    async def scenario():
        socket = await token_socket(token)
        try:
            for depth in (500, 1500, consumers.MAX_MESSAGE_BYTES // 2 - 1):
                await socket.send_to(text_data="[" * depth + "]" * depth)
                assert [r["type"] for r in await replies_until_pong(socket)] == ["error"]
                nested = '{"type": ' + "[" * depth + "]" * depth + "}"
                if len(nested) <= consumers.MAX_MESSAGE_BYTES:
                    await socket.send_to(text_data=nested)
                    assert [r["type"] for r in await replies_until_pong(socket)] == ["error"]
        finally:
            await socket.disconnect()

    run(scenario)


@sockets_db
def test_auth_token_that_is_not_encodable_closes_4401():
    async def scenario():
        socket = await open_socket()
        try:
            await socket.send_to(text_data='{"type": "auth", "token": "\\ud800"}')
            assert await closed_with(socket) == consumers.CLOSE_UNAUTHENTICATED
        finally:
            await socket.disconnect()

    run(scenario)


@sockets_db
def test_message_size_is_counted_in_bytes(token):
    """MAX_MESSAGE_BYTES is bytes: 4096 characters of a 3-byte script are 12 KiB."""
    too_big = json.dumps({"type": "ping", "pad": "€" * 2000}, ensure_ascii=False)
    assert len(too_big) <= consumers.MAX_MESSAGE_BYTES < len(too_big.encode())

    async def scenario():
        socket = await token_socket(token)
        try:
            await socket.send_to(text_data=too_big)
            assert await closed_with(socket) == consumers.CLOSE_BAD_MESSAGE
        finally:
            await socket.disconnect()

    run(scenario)


# --- fuzzing ------------------------------------------------------------------------------------
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=50),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=20,
)
id_parts = st.integers(-1, 2**70).map(str) | st.from_regex(r"\A[0-9١-٩０-９+_. ]{0,25}\Z")
resume_ids = st.builds(
    lambda a, sep, b: f"{a}{sep}{b}", id_parts, st.sampled_from("-- _"), id_parts
)
message_objects = st.fixed_dictionaries(
    {"type": st.sampled_from(["auth", "ping", "resume", "resume", "nope", ""]) | json_values},
    optional={"after": resume_ids | json_values, "token": st.text(max_size=60) | json_values},
).map(json.dumps)
frames = st.one_of(
    st.text(min_size=1, max_size=300),  # mostly not JSON at all
    json_values.map(json.dumps),  # JSON, mostly not an object
    message_objects,
    message_objects,
    st.integers(1, consumers.MAX_MESSAGE_BYTES // 2).map(lambda n: "[" * n + "]" * n),
    st.integers(1, 3000).map(lambda n: '{"type":' * n),  # truncated nesting
    st.integers(consumers.MAX_MESSAGE_BYTES - 20, 3 * consumers.MAX_MESSAGE_BYTES).map(
        lambda n: json.dumps({"type": "resume", "after": "1" * n})
    ),
    st.binary(min_size=1, max_size=100),
)


@sockets_db
@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(frame=frames, authenticated=st.booleans())
# What crashed the consumer before (issue 10), whatever the draw:
@example(frame='{"type": "resume", "after": "1700000000000-"}', authenticated=True)
@example(frame='{"type": "resume", "after": "١٢٣-0"}', authenticated=True)
@example(frame='{"type": "resume", "after": "99999999999999999999999-0"}', authenticated=True)
@example(frame="[" * 1500 + "]" * 1500, authenticated=True)
@example(frame="[" * 1500 + "]" * 1500, authenticated=False)
@example(frame='{"type": "auth", "token": "\\ud800"}', authenticated=False)
def test_no_inbound_frame_crashes_the_consumer(token, frame, authenticated):
    async def scenario():
        socket = await (token_socket(token) if authenticated else open_socket())
        try:
            if isinstance(frame, bytes):
                await socket.send_to(bytes_data=frame)
            else:
                await socket.send_to(text_data=frame)
            # Then something that must be answered: a ping, or the real token.
            if authenticated:
                await socket.send_json_to({"type": "ping"})
            else:
                await socket.send_json_to({"type": "auth", "token": token})
            last = {"type": "pong"} if authenticated else {"type": "ready"}
            while True:
                output = await socket.receive_output(timeout=WAIT)
                if output["type"] == "websocket.close":
                    assert output.get("code") in (
                        consumers.CLOSE_BAD_MESSAGE,
                        consumers.CLOSE_UNAUTHENTICATED,
                    ), output
                    unreadable = isinstance(frame, bytes) or (
                        len(frame.encode("utf-8", "surrogatepass")) > consumers.MAX_MESSAGE_BYTES
                    )
                    # An authenticated socket is closed only for a frame it cannot read.
                    assert not authenticated or unreadable, (frame, output)
                    break
                reply = json.loads(output["text"])
                assert isinstance(reply, dict) and isinstance(reply.get("type"), str), reply
                if reply == last:
                    break
        finally:
            await socket.disconnect()  # re-raises if the consumer had crashed

    run(scenario)
