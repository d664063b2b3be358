"""Outgoing webhooks of customers: where they may point, and how they are sent.

A customer's webhook may not reach into the MSSP's own network (SSRF): only http(s), and only
public unicast addresses (WEBHOOK_ALLOW_PRIVATE, for a lab or the test suite, also admits
private, loopback and link-local ones; never multicast, broadcast or the unspecified address).
The host name is resolved once, every address it resolves to is checked, and the delivery
connects to a checked address: nothing is looked up again between the check and the
connection (DNS rebinding). The request still names the URL's host (Host header), and TLS
sends it as SNI and verifies the certificate against it. Redirects are never followed; each
read and write is bounded, and so is the whole delivery (DEADLINE)."""

from __future__ import annotations

import base64
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx
from django.conf import settings

CONNECT_TIMEOUT = 5.0  # seconds, to connect (each address) and for each read or write
DEADLINE = 10.0  # seconds, for a whole delivery: connect, TLS, request and answer

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# IPv6 forms that carry an IPv4 address: judged by the address they carry.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052 well-known prefix
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")  # RFC 8215: any IPv4, local policy
_TEREDO = ipaddress.IPv6Network("2001::/32")  # a tunnel to wherever its server relays
_GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")  # all global unicast IPv6 (RFC 4291)
_BROADCAST = ipaddress.IPv4Address("255.255.255.255")


class DestinationRefused(ValueError):
    """Not a destination a webhook may reach (a permanent refusal: retrying cannot help)."""


class DeliveryFailed(OSError):
    """The receiver could not be reached or did not answer in time (worth a retry)."""


@dataclass(frozen=True)
class Destination:
    url: httpx.URL
    addresses: tuple[str, ...]  # checked, in the resolver's order


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address.sixtofour  # 2002::/16


def address_allowed(address: IPAddress, allow_private: bool = False) -> bool:
    """A unicast address a webhook may be sent to: public, or with `allow_private` also
    private, loopback or link-local."""
    if isinstance(address, ipaddress.IPv6Address):
        if address in _TEREDO or address in _NAT64_LOCAL:
            return False
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            return address_allowed(embedded, allow_private)
        if address.is_multicast or address.is_unspecified:
            return False
        return allow_private or (address in _GLOBAL_UNICAST and address.is_global)
    if address.is_multicast or address.is_unspecified or address.is_reserved:
        return False  # reserved: 240.0.0.0/4, the limited broadcast among them
    if address == _BROADCAST:
        return False
    return allow_private or address.is_global


def check_destination(url: str) -> Destination:
    """The URL's addresses, resolved once and each checked; raises DestinationRefused (a
    ValueError). Called when a webhook is saved and at every delivery (DNS can change)."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError):
        raise DestinationRefused("not a valid URL") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise DestinationRefused("webhooks are http(s) URLs")
    host = parsed.raw_host.decode("ascii")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        addresses = [ipaddress.ip_address(host)]  # a literal address: nothing to look up
    except ValueError:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError):
            raise DeliveryFailed(f"{parsed.host} does not resolve") from None
        addresses = []
        for info in infos:
            try:
                found = ipaddress.ip_address(info[4][0])
            except ValueError:  # not an address we understand: refuse rather than guess
                raise DestinationRefused(f"{parsed.host} is not a public address") from None
            if found not in addresses:
                addresses.append(found)
    allow_private = bool(settings.WEBHOOK_ALLOW_PRIVATE)
    if not addresses or not all(address_allowed(a, allow_private) for a in addresses):
        raise DestinationRefused(f"{parsed.host} is not a public address")
    return Destination(parsed, tuple(str(a) for a in addresses))


def ssl_context() -> ssl.SSLContext:
    """Certificates verified against the system's (or SSL_CERT_FILE's) trusted authorities."""
    return httpx.create_ssl_context()


@dataclass(frozen=True)
class Reply:
    """What a receiver answered: its status and its headers (names in lower case; the last of
    a repeated one). The body is read only when asked for, and then at most `read_body` bytes
    of it (an API that answers in its body: Slack's Web API)."""

    status: int
    headers: dict[str, str]
    body: bytes = b""


def post(url: str, body: bytes, headers: dict[str, str]) -> int:
    """POST `body` to `url` at an address check_destination() admitted; the answer's status.
    Raises DestinationRefused (permanent) or DeliveryFailed (retry later)."""
    return post_for_reply(url, body, headers).status


def post_for_reply(url: str, body: bytes, headers: dict[str, str], *, read_body: int = 0) -> Reply:
    """post(), answering the status and the headers too (Retry-After: when to come back), and
    with `read_body`, at most that many bytes of the answer's body (the rest is never read)."""
    return send("POST", url, body, headers, read_body=read_body)


def send(
    method: str, url: str, body: bytes, headers: dict[str, str], *, read_body: int = 0
) -> Reply:
    """Any request to a customer-given URL under the same rules (a single-sign-on provider's
    discovery document and keys are read with GET)."""
    destination = check_destination(url)
    parsed = destination.url
    deadline = time.monotonic() + DEADLINE
    request_headers = [(b"Host", parsed.netloc)]
    if parsed.userinfo:
        credentials = f"{parsed.username}:{parsed.password}".encode()
        request_headers.append((b"Authorization", b"Basic " + base64.b64encode(credentials)))
    request_headers += [(name.encode(), value.encode()) for name, value in headers.items()]
    target = httpcore.URL(
        scheme=parsed.raw_scheme, host=parsed.raw_host, port=parsed.port, target=parsed.raw_path
    )
    timeouts = dict.fromkeys(("connect", "read", "write", "pool"), CONNECT_TIMEOUT)
    try:
        with httpcore.ConnectionPool(
            ssl_context=ssl_context() if parsed.scheme == "https" else None,
            network_backend=_PinnedBackend(destination.addresses, deadline),
            max_connections=1,
            retries=0,
        ) as pool:
            with pool.stream(
                method,
                target,
                headers=request_headers,
                content=body,
                extensions={"timeout": timeouts},
            ) as response:
                # the status and the headers are the answer; the body only when asked for
                answer = b""
                if read_body > 0:
                    for chunk in response.iter_stream():
                        answer += chunk[: read_body - len(answer)]
                        if len(answer) >= read_body:
                            break
                return Reply(
                    response.status,
                    {
                        name.decode("latin-1").lower(): value.decode("latin-1")
                        for name, value in response.headers
                    },
                    answer,
                )
    except httpcore.TimeoutException:
        raise DeliveryFailed(f"{parsed.host} did not answer in time") from None
    except (httpcore.NetworkError, httpcore.ProtocolError, ssl.SSLError, OSError) as exc:
        raise DeliveryFailed(f"{parsed.host}: {exc or type(exc).__name__}") from None


class _PinnedBackend(httpcore.NetworkBackend):
    """httpcore's own socket backend, except that it connects to the checked addresses
    whatever host name it is asked for, and bounds every step by the delivery's deadline."""

    def __init__(self, addresses: tuple[str, ...], deadline: float):
        self.addresses, self.deadline = addresses, deadline
        self.inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.NetworkStream:
        failure: Exception = httpcore.ConnectError(f"{host}: no address")
        for address in self.addresses:
            try:
                stream = self.inner.connect_tcp(
                    address,
                    port,
                    timeout=_within(self.deadline, timeout, httpcore.ConnectTimeout),
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except httpcore.ConnectError as exc:  # refused or unreachable: the next one
                failure = exc
                continue
            return _DeadlineStream(stream, self.deadline)
        raise failure

    def connect_unix_socket(self, *args: Any, **kwargs: Any) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("webhooks are sent over TCP only")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream, deadline: float):
        self.inner, self.deadline = inner, deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self.inner.read(max_bytes, _within(self.deadline, timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self.inner.write(buffer, _within(self.deadline, timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self.inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        # server_hostname is the URL's host: SNI and certificate verification use it
        stream = self.inner.start_tls(
            ssl_context,
            server_hostname=server_hostname,
            timeout=_within(self.deadline, timeout, httpcore.ConnectTimeout),
        )
        return _DeadlineStream(stream, self.deadline)

    def get_extra_info(self, info: str) -> Any:
        return self.inner.get_extra_info(info)


def _within(deadline: float, timeout: float | None, error: type[Exception]) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise error("the delivery's deadline has passed")
    return left if timeout is None else min(timeout, left)
