"""Which pages may open /ws/stream/ with the visitor's cookie (issue 10, finding 12).

The rule is Django's CSRF origin check: the Origin must be the socket's own origin (scheme,
host and port, the host one of ALLOWED_HOSTS) or one of CSRF_TRUSTED_ORIGINS. A handshake
without Origin is refused too (browsers always send one; scripts send the portal's origin).
"""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator

from mssp.asgi import application
from tests.tenants.test_stream import WAIT

# The origin is checked before the session and the consumer reads nothing (no cookie; a
# logged-in victim's cookie: tests/tenants/test_stream.py). Only channels' connection upkeep may
# touch the database, so the cheap, non-transactional mark is enough.
pytestmark = pytest.mark.django_db


def handshake(headers, scheme: str | None = None) -> bool:
    """Whether the stream accepts a handshake with these headers."""

    async def attempt() -> bool:
        socket = WebsocketCommunicator(application, "/ws/stream/", headers=headers)
        if scheme is not None:
            socket.scope["scheme"] = scheme
        connected, _ = await socket.connect(timeout=WAIT)
        await socket.disconnect()
        return connected

    return async_to_sync(attempt)()


def headers_for(host: str | None, origin: str | None) -> list[tuple[bytes, bytes]]:
    headers = []
    if host is not None:
        headers.append((b"host", host.encode()))
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    return headers


@pytest.mark.parametrize(
    ("host", "origin"),
    [
        ("testserver", "http://testserver"),
        ("localhost:8000", "http://localhost:8000"),
        ("127.0.0.1:8000", "http://127.0.0.1:8000"),
        ("[::1]:8000", "http://[::1]:8000"),
        ("LocalHost:8000", "http://localhost:8000"),  # host names are case-insensitive
    ],
)
def test_own_origin_is_accepted(host, origin):
    assert handshake(headers_for(host, origin))


@pytest.mark.parametrize(
    ("host", "origin"),
    [
        ("localhost:8000", "http://localhost:9999"),  # the review's finding: another port
        ("localhost:8000", "http://localhost"),
        ("localhost", "http://localhost:80"),  # not how a browser writes its origin
        ("localhost:8000", "https://localhost:8000"),  # another scheme
        ("testserver", "https://testserver"),
        ("testserver", "ws://testserver"),
        ("testserver", "http://evil.example"),
        ("testserver", "http://testserver.evil.example"),
        ("testserver", "http://evil.testserver"),
        ("testserver", "http://testserver/"),
        ("testserver", "http://user@testserver"),
        ("testserver", "null"),  # sandboxed frames, file:// pages
        ("testserver", ""),
        ("testserver", "http://[::1"),  # not even parseable
        ("testserver", None),  # no Origin at all
        ("evil.example", "http://evil.example"),  # a Host that is not ours (DNS rebinding)
        (None, "http://testserver"),
    ],
)
def test_other_origins_are_refused(host, origin):
    assert not handshake(headers_for(host, origin))


def test_repeated_origin_header_is_refused():
    headers = headers_for("testserver", "http://testserver")
    assert not handshake([*headers, (b"origin", b"http://evil.example")])


def test_secure_socket_needs_the_https_origin():
    assert handshake(headers_for("testserver", "https://testserver"), scheme="wss")
    assert not handshake(headers_for("testserver", "http://testserver"), scheme="wss")


def test_behind_tls_proxy_the_forwarded_scheme_counts(settings):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    forwarded = (b"x-forwarded-proto", b"https")
    assert handshake([*headers_for("testserver", "https://testserver"), forwarded])
    assert not handshake([*headers_for("testserver", "http://testserver"), forwarded])
    # Without the setting, the header is anyone's to send and means nothing.
    settings.SECURE_PROXY_SSL_HEADER = None
    assert not handshake([*headers_for("testserver", "https://testserver"), forwarded])


def test_csrf_trusted_origins_are_accepted_exactly(settings):
    settings.ALLOWED_HOSTS = ["portal.internal", "testserver"]
    settings.CSRF_TRUSTED_ORIGINS = ["https://portal.example.com", "https://*.example.org"]
    for origin in ("https://portal.example.com", "https://example.org", "https://a.example.org"):
        assert handshake(headers_for("portal.internal", origin)), origin
    for origin in (
        "http://portal.example.com",  # scheme
        "https://portal.example.com:8443",  # port
        "https://a.example.org:8443",
        "http://a.example.org",
        "https://evil-example.org",
        "https://example.org.evil.example",
    ):
        assert not handshake(headers_for("portal.internal", origin)), origin
