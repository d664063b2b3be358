"""The one way the portal calls a connector (a customer's tool, an enrichment service).

Interface (stable; the `response` app builds on it):

    client = ConnectorClient(connector, purpose="isolate", incident=incident, actor=user)
    answer = client.request("POST", "/api/machines/42/isolate", json={...}, idempotent=False)
    answer.status, answer.headers, answer.content, answer.json()
    token = client.oauth_token(token_url, client_id=..., client_secret=..., scope=...)
    client.secrets  # the connector's unsealed secrets (a dict), never to be logged

- Where: `request()` takes a path (joined to the connector's base URL, or its kind's default)
  or an absolute URL. Every destination is checked as tenants.webhooks checks a webhook:
  resolved once, each address checked, and the connection made to a checked address (no DNS
  rebinding); redirects are never followed. Public addresses must be https. Private,
  loopback and link-local addresses are refused unless they are inside a network of the
  deployment's CONNECTOR_PRIVATE_NETWORKS (a customer's FortiGate or Wazuh manager reached over
  a VPN: "10.20.0.0/16,192.168.50.0/24"), where http is allowed too. The test suite allows
  127.0.0.0/8 per test, never by default.
- How long: CONNECTOR_CONNECT_TIMEOUT to connect, CONNECTOR_TIMEOUT for each read or write,
  and CONNECTOR_DEADLINE for a whole attempt (a receiver that trickles is cut off).
- Retries: up to CONNECTOR_ATTEMPTS attempts, with exponential backoff
  (CONNECTOR_BACKOFF * 2**n seconds), on connection errors, timeouts and 5xx answers, for
  idempotent requests (GET/HEAD/PUT/DELETE, or `idempotent=True`: a read sent as POST such as a
  GraphQL query). A non-idempotent request is retried only when it could not connect (it
  never reached the tool). Never on 4xx. A 429 is retried after its Retry-After when that is at
  most CONNECTOR_RETRY_AFTER_MAX seconds; longer, `ConnectorRateLimited` says when.
- Rate: each connector has a per-minute budget (its kind's `rate_per_minute`, or its
  options' `rate_per_minute`), shared by every process (tenants.ratelimit); over it,
  `ConnectorRateLimited` (nothing is sent).
- A disabled connector sends nothing (`ConnectorRefused`), except for purpose "test".
- Failures raise `ConnectorError` subclasses carrying a human `message` (never a secret):
  `ConnectorRefused` (configuration or destination: retrying cannot help),
  `ConnectorUnavailable` (timeouts, connection errors, 5xx after the retries),
  `ConnectorRateLimited(retry_after=s)`, `ConnectorAnswerError(status=...)` (a 4xx, a
  redirect, a body that is not what the vendor documents, an answer over
  CONNECTOR_MAX_ANSWER_BYTES).
- Log: every attempt is a `ConnectorCall` row (tenant, connector, incident, purpose, method,
  URL, status, duration, request and response excerpts, error), redacted: authorization and
  key headers, secret-looking query parameters and JSON/form fields, and every secret value
  of the connector (and each OAuth token it fetched) wherever it appears, bounded to
  CALL_EXCERPT characters.
- OAuth 2.0 client credentials (`oauth_token`): the token endpoint is called once and its
  token kept (sealed) in the cache until a minute before it expires; `refresh=True` (after a
  401) fetches a new one."""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
import ssl
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode

import httpcore
import httpx
from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from tenants import ratelimit
from tenants.sealed import SecretsUnreadable, seal, unseal
from tenants.webhooks import IPAddress, _PinnedBackend, address_allowed, ssl_context

from . import kinds

if TYPE_CHECKING:
    from .models import Connector

CALL_EXCERPT = 4000  # characters of a request or an answer kept in a ConnectorCall
REDACTED = "[redacted]"
USER_AGENT = "mssp-portal-connector/1"
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})

# Header names whose value is a credential, and parameter / field names that look like one.
SECRET_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "x-apikey",
        "x-api-key",
        "api-key",
        "apikey",
        "key",
        "x-auth-token",
        "x-csrf-token",
    }
)
SECRET_NAME = re.compile(
    r"(pass(word|wd)?|secret|token|api[_-]?key|apikey|^key$|auth|credential|session|signature|cookie)",
    re.IGNORECASE,
)
_SCHEMES = re.compile(r"\b(Bearer|Basic|SSWS|ApiToken|Token|key)\s+[A-Za-z0-9._~+/=-]{8,}", re.I)


def _setting(name: str, default: Any) -> Any:
    return getattr(settings, name, default)


# --- failures ----------------------------------------------------------------------------------
class ConnectorError(Exception):
    """A connector could not do what was asked; `message` is for people (no secrets)."""

    def __init__(self, message: str, *, status: int | None = None):
        super().__init__(message)
        self.message = message
        self.status = status


class ConnectorRefused(ConnectorError):
    """Not a call the portal may make (destination, configuration): retrying cannot help."""


class ConnectorUnavailable(ConnectorError):
    """The tool could not be reached, did not answer in time, or answered 5xx (retry later)."""


class ConnectorRateLimited(ConnectorUnavailable):
    """Over the connector's budget or the tool's rate limit: retry after `retry_after` s."""

    def __init__(self, message: str, *, retry_after: int, status: int | None = None):
        super().__init__(message, status=status)
        self.retry_after = retry_after


class ConnectorAnswerError(ConnectorError):
    """The tool answered, but not with what was asked for (4xx, redirect, garbage)."""


# --- where a connector may point -----------------------------------------------------------------
def private_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    found = []
    for entry in _setting("CONNECTOR_PRIVATE_NETWORKS", []) or []:
        try:
            found.append(ipaddress.ip_network(str(entry).strip(), strict=False))
        except ValueError:
            continue  # a typo admits nothing (fail closed)
    return found


def _in_private_allow_list(address: IPAddress, networks: list[Any]) -> bool:
    return any(address.version == n.version and address in n for n in networks)


@dataclass(frozen=True)
class Destination:
    url: httpx.URL
    addresses: tuple[str, ...]


def check_url(url: str) -> httpx.URL:
    """The URL's syntax only (a form's check): http(s), a host, no credentials, no fragment."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError):
        raise ConnectorRefused("Not a valid URL.") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ConnectorRefused("A connector's address is an http(s) URL.")
    if parsed.userinfo:
        raise ConnectorRefused("Give credentials as the connector's secrets, not in its URL.")
    return parsed


def check_destination(url: str) -> Destination:
    """The URL resolved once and each address checked; raises ConnectorRefused (a private
    address outside CONNECTOR_PRIVATE_NETWORKS, plain http to a public address) or
    ConnectorUnavailable (the name does not resolve)."""
    import socket

    parsed = check_url(url)
    host = parsed.raw_host.decode("ascii")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError):
            raise ConnectorUnavailable(f"{parsed.host} does not resolve.") from None
        addresses = []
        for info in infos:
            try:
                found = ipaddress.ip_address(info[4][0])
            except ValueError:
                raise ConnectorRefused(
                    f"{parsed.host} is not an address a connector may reach."
                ) from None
            if found not in addresses:
                addresses.append(found)
    networks = private_networks()
    all_private_allowed = True
    for address in addresses:
        if address_allowed(address, allow_private=False):
            all_private_allowed = False
            continue
        if address_allowed(address, allow_private=True) and _in_private_allow_list(
            address, networks
        ):
            continue
        raise ConnectorRefused(
            f"{parsed.host} is a private address: the deployment allows private networks "
            "for connectors in CONNECTOR_PRIVATE_NETWORKS only."
        )
    if not addresses:
        raise ConnectorUnavailable(f"{parsed.host} does not resolve.")
    if parsed.scheme != "https" and not all_private_allowed:
        raise ConnectorRefused("A connector on a public address is reached over https only.")
    return Destination(parsed, tuple(str(a) for a in addresses))


class _PinnedTransport(httpx.HTTPTransport):
    """httpx's transport, connecting only to the checked addresses (tenants.webhooks'
    backend), within the attempt's deadline."""

    def __init__(self, destination: Destination, deadline: float, trusted: str = ""):
        super().__init__(retries=0)
        tls = None
        if destination.url.scheme == "https":
            tls = trusted_context(trusted) if trusted else ssl_context()
        self._pool = httpcore.ConnectionPool(
            ssl_context=tls,
            network_backend=_PinnedBackend(destination.addresses, deadline),
            max_connections=1,
            retries=0,
        )


def trusted_context(pem: str) -> ssl.SSLContext:
    """TLS that trusts only the certificate(s) a connector's `ca_certificate` option gives (a
    tool with a certificate of its own), still checking the host name; ConnectorRefused for
    one that is not a PEM certificate."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # certificate and host name checked
    try:
        context.load_verify_locations(cadata=pem)
    except (ssl.SSLError, ValueError):
        raise ConnectorRefused("The trusted certificate is not a PEM certificate.") from None
    return context


# --- redaction ---------------------------------------------------------------------------------
def _scrub_values(text: str, secrets: Iterable[str]) -> str:
    for value in sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True):
        text = text.replace(value, REDACTED)
    return _SCHEMES.sub(lambda m: f"{m.group(1)} {REDACTED}", text)


def _scrub_json(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: (REDACTED if isinstance(k, str) and SECRET_NAME.search(k) else _scrub_json(v))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_scrub_json(v) for v in value]
    return value


def redact_url(url: str | httpx.URL, secrets: Iterable[str] = ()) -> str:
    parsed = httpx.URL(str(url))
    if parsed.query:
        pairs = parse_qsl(parsed.query.decode("latin-1"), keep_blank_values=True)
        query = urlencode([(k, REDACTED if SECRET_NAME.search(k) else v) for k, v in pairs])
        parsed = parsed.copy_with(query=query.encode())
    if parsed.userinfo:
        parsed = parsed.copy_with(username=None, password=None)
    return _scrub_values(str(parsed), secrets)


def redact_headers(headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    return [
        (name, REDACTED if name.lower() in SECRET_HEADERS or SECRET_NAME.search(name) else value)
        for name, value in headers
    ]


def redact_body(content: bytes, content_type: str = "", secrets: Iterable[str] = ()) -> str:
    text = content[: CALL_EXCERPT * 4].decode("utf-8", errors="replace")
    if "json" in content_type or text[:1] in ("{", "["):
        try:
            text = json.dumps(_scrub_json(json.loads(content)), ensure_ascii=False)
        except ValueError:
            pass
    elif "x-www-form-urlencoded" in content_type:
        pairs = parse_qsl(text, keep_blank_values=True)
        text = urlencode([(k, REDACTED if SECRET_NAME.search(k) else v) for k, v in pairs])
    return _scrub_values(text, secrets)


def excerpt(text: str, limit: int = CALL_EXCERPT) -> str:
    text = text.replace("\x00", "\ufffd")  # PostgreSQL's text holds no NUL
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- answers -----------------------------------------------------------------------------------
@dataclass
class Answer:
    status: int
    headers: httpx.Headers
    content: bytes
    call_id: Any = None  # the ConnectorCall that recorded it

    def json(self) -> Any:
        """The body as JSON; ConnectorAnswerError when it is not."""
        try:
            return json.loads(self.content)
        except ValueError:
            raise ConnectorAnswerError(
                "The service answered with something that is not JSON.", status=self.status
            ) from None


def retry_after_seconds(value: str | None) -> int | None:
    """Retry-After as seconds (a number or an HTTP date); None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return int(value)
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0, int((when - timezone.now()).total_seconds()))


# --- the client --------------------------------------------------------------------------------
class ConnectorClient:
    """Calls to one connector, on behalf of one purpose ("test", "enrich", "isolate" ...),
    optionally for one incident and by one person (recorded on each ConnectorCall)."""

    def __init__(
        self,
        connector: Connector,
        *,
        purpose: str = "",
        incident: Any = None,
        actor: Any = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.connector = connector
        self.purpose = purpose[:40]
        self.incident_id = getattr(incident, "pk", incident)
        self.actor_id = getattr(actor, "pk", actor)
        self.sleep = sleep  # the clock tests replace (no real waiting in the suite)
        self._secrets: dict[str, str] | None = None
        self._redact: set[str] = set()
        self.spec = kinds.spec(connector.kind)

    # -- what the connector holds --
    @property
    def secrets(self) -> dict[str, str]:
        if self._secrets is None:
            try:
                self._secrets = unseal(self.connector.sealed_secrets)
            except SecretsUnreadable:
                raise ConnectorRefused(
                    "The connector's credentials cannot be read with this portal's keys: "
                    "give them again."
                ) from None
            self._redact.update(self._secrets.values())
        return self._secrets

    def secret(self, name: str) -> str:
        value = self.secrets.get(name, "")
        if not value:
            raise ConnectorRefused(f"The connector has no {name.replace('_', ' ')}: give it.")
        return value

    def option(self, name: str, default: str = "") -> str:
        value = (self.connector.options or {}).get(name, default)
        return str(value) if value is not None else default

    @property
    def base_url(self) -> str:
        base = self.connector.base_url or self.spec.default_base_url
        if not base:
            raise ConnectorRefused("The connector has no address: give its API URL.")
        return base.rstrip("/")

    def url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            return path
        return f"{self.base_url}/{path.lstrip('/')}"

    def rate_per_minute(self) -> int:
        try:
            given = int(self.option("rate_per_minute") or 0)
        except ValueError:
            given = 0
        return given if given > 0 else self.spec.rate_per_minute

    def redacted(self, text: str) -> str:
        self.secrets  # noqa: B018 - loads them into the redaction set
        return _scrub_values(text, self._redact)

    # -- calls --
    def get(self, path: str, **kwargs: Any) -> Answer:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Answer:
        return self.request("POST", path, **kwargs)

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        data: dict[str, Any] | None = None,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
        idempotent: bool | None = None,
        accept: Iterable[int] = (),
        purpose: str = "",
    ) -> Answer:
        """Send one request (with its retries); the answer when its status is 2xx or in
        `accept` (a 404 meaning "not known" to a reputation service), else ConnectorError."""
        method = method.upper()
        if not self.connector.is_enabled and self.purpose != "test":
            # the tenant turned it off: nothing is sent through it but a connection test
            raise ConnectorRefused(f"{self.connector.name} is disabled.")
        url = self.url(path)
        if idempotent is None:
            idempotent = method in IDEMPOTENT
        self.secrets  # noqa: B018 - every secret redacted, even one this call does not send
        wait = ratelimit.take("connector", str(self.connector.pk), self.rate_per_minute())
        if wait:
            raise ConnectorRateLimited(
                f"{self.connector.name}: over its {self.rate_per_minute()} requests a minute; "
                f"try again in {wait} s.",
                retry_after=wait,
            )
        request = httpx.Request(
            method,
            url,
            params=params,
            json=json,
            data=data,
            content=content,
            headers={"User-Agent": USER_AGENT, "Accept": "application/json", **(headers or {})},
        )
        attempts = max(1, int(_setting("CONNECTOR_ATTEMPTS", 3)))
        backoff = float(_setting("CONNECTOR_BACKOFF", 0.5))
        retry_cap = int(_setting("CONNECTOR_RETRY_AFTER_MAX", 30))
        accepted = set(accept)
        for attempt in range(1, attempts + 1):
            last = attempt == attempts
            try:
                answer = self._send(request, attempt, purpose or self.purpose)
            except ConnectorUnavailable as exc:
                reached = getattr(exc, "reached", True)
                if last or (reached and not idempotent):
                    raise
                self.sleep(backoff * 2 ** (attempt - 1))
                continue
            status = answer.status
            if 200 <= status < 300 or status in accepted:
                return answer
            if status == 429:
                wait_for = retry_after_seconds(answer.headers.get("retry-after"))
                if wait_for is None:
                    wait_for = int(backoff * 2 ** (attempt - 1))
                if last or wait_for > retry_cap:
                    raise ConnectorRateLimited(
                        f"{self.connector.name} is rate limiting the portal; try again in "
                        f"{max(wait_for, 1)} s.",
                        retry_after=max(wait_for, 1),
                        status=429,
                    )
                self.sleep(wait_for)
                continue
            if status >= 500:
                if last or not idempotent:
                    raise ConnectorUnavailable(
                        f"{self.connector.name} answered {status} (a server error).", status=status
                    )
                self.sleep(backoff * 2 ** (attempt - 1))
                continue
            if 300 <= status < 400:
                raise ConnectorAnswerError(
                    f"{self.connector.name} answered with a redirect ({status}); give the API's "
                    "own address.",
                    status=status,
                )
            raise ConnectorAnswerError(_client_error(self.connector.name, status), status=status)
        raise AssertionError("unreachable")  # pragma: no cover

    def _send(self, request: httpx.Request, attempt: int, purpose: str) -> Answer:
        started = time.monotonic()
        call: dict[str, Any] = {
            "method": request.method,
            "url": excerpt(redact_url(request.url, self._redact), 2000),
            "attempt": attempt,
            "purpose": purpose[:40],
            "request_excerpt": self._request_excerpt(request),
        }
        try:
            destination = check_destination(str(request.url))
        except ConnectorRefused as exc:
            self._record(call, started, error=exc.message)
            raise
        except ConnectorUnavailable as exc:
            exc.reached = False  # type: ignore[attr-defined]
            self._record(call, started, error=exc.message)
            raise
        limit = int(_setting("CONNECTOR_MAX_ANSWER_BYTES", 2 * 1024 * 1024))
        connect = float(_setting("CONNECTOR_CONNECT_TIMEOUT", 5.0))
        read = float(_setting("CONNECTOR_TIMEOUT", 10.0))
        deadline = time.monotonic() + float(_setting("CONNECTOR_DEADLINE", 30.0))
        timeout = httpx.Timeout(read, connect=connect, pool=connect)
        name = self.connector.name
        try:
            with httpx.Client(
                transport=_PinnedTransport(destination, deadline, self.option("ca_certificate")),
                timeout=timeout,
                follow_redirects=False,
                trust_env=False,
            ) as http:
                with http.stream(
                    request.method,
                    request.url,
                    headers=request.headers,
                    content=request.content,
                ) as response:
                    body = b""
                    for chunk in response.iter_bytes():  # decoded, bounded as it arrives
                        body += chunk
                        if len(body) > limit:
                            self._record(
                                call,
                                started,
                                status=response.status_code,
                                error="answer too large",
                            )
                            raise ConnectorAnswerError(
                                f"{name} answered with more than {limit // 1024} KiB.",
                                status=response.status_code,
                            )
        except httpx.ConnectError as exc:
            failure = ConnectorUnavailable(f"{name} could not be reached ({_short(exc)}).")
            failure.reached = False  # type: ignore[attr-defined]
            self._record(call, started, error=failure.message)
            raise failure from None
        except (httpx.TimeoutException, httpcore.TimeoutException):
            failure = ConnectorUnavailable(f"{name} did not answer in time.")
            self._record(call, started, error=failure.message)
            raise failure from None
        except httpx.DecodingError:
            self._record(call, started, error="answer could not be decoded")
            raise ConnectorAnswerError(f"{name}'s answer could not be decoded.") from None
        except (httpx.HTTPError, httpcore.ProtocolError, OSError) as exc:
            failure = ConnectorUnavailable(f"{name}: the connection failed ({_short(exc)}).")
            self._record(call, started, error=failure.message)
            raise failure from None
        answer = Answer(response.status_code, response.headers, body)
        answer.call_id = self._record(
            call,
            started,
            status=response.status_code,
            response_excerpt=self._answer_excerpt(answer),
        )
        return answer

    def _request_excerpt(self, request: httpx.Request) -> str:
        head = "\n".join(f"{k}: {v}" for k, v in redact_headers(request.headers.items()))
        body = redact_body(request.content, request.headers.get("content-type", ""), self._redact)
        return excerpt(self._scrubbed(f"{head}\n\n{body}" if body else head))

    def _answer_excerpt(self, answer: Answer) -> str:
        body = redact_body(answer.content, answer.headers.get("content-type", ""), self._redact)
        return excerpt(self._scrubbed(f"{answer.status}\n\n{body}"))

    def _scrubbed(self, text: str) -> str:
        return _scrub_values(text, self._redact)

    def _record(
        self,
        call: dict[str, Any],
        started: float,
        *,
        status: int | None = None,
        response_excerpt: str = "",
        error: str = "",
    ) -> Any:
        from tenants.rls import tenant_scope

        from .models import ConnectorCall

        with tenant_scope([self.connector.tenant_id]):
            row = ConnectorCall.objects.create(
                tenant_id=self.connector.tenant_id,
                connector_id=self.connector.pk,
                connector_name=self.connector.name[:100],
                incident_id=self.incident_id,
                actor_id=self.actor_id,
                status=status,
                duration_ms=int((time.monotonic() - started) * 1000),
                response_excerpt=response_excerpt,
                error=excerpt(self._scrubbed(error), 500),
                **call,
            )
        return row.pk

    # -- OAuth 2.0 client credentials --
    def oauth_token(
        self,
        token_url: str,
        *,
        client_id: str,
        client_secret: str,
        scope: str = "",
        extra: dict[str, str] | None = None,
        refresh: bool = False,
    ) -> str:
        """An access token from `token_url` (client credentials, form-encoded as RFC 6749
        section 4.4 and the Microsoft identity platform, CrowdStrike and Okta document), kept
        sealed in the cache until a minute before it expires."""
        self._redact.update({client_secret})
        digest = hashlib.sha256(
            "\0".join([str(self.connector.pk), token_url, client_id, scope, client_secret]).encode()
        ).hexdigest()
        key = f"connectors:oauth:{digest}"
        if not refresh:
            held = cache.get(key)
            if held:
                try:
                    token = unseal(held)["token"]
                except (SecretsUnreadable, KeyError):
                    token = ""
                if token:
                    self._redact.add(token)
                    return token
        form = {"grant_type": "client_credentials", "client_id": client_id}
        form["client_secret"] = client_secret
        if scope:
            form["scope"] = scope
        form.update(extra or {})
        answer = self.request("POST", token_url, data=form, idempotent=True, purpose="token")
        body = answer.json()
        found = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(found, str) or not found:
            raise ConnectorAnswerError(
                f"{self.connector.name}: the token endpoint answered without an access token."
            )
        token = found
        self._redact.add(token)
        try:
            lifetime = int(body.get("expires_in", 3600))
        except (TypeError, ValueError):
            lifetime = 3600
        if lifetime > 120:
            cache.set(key, seal({"token": token}), lifetime - 60)
        return token


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text[:200]


def _client_error(name: str, status: int) -> str:
    if status in (401, 403):
        return f"{name} refused the credentials ({status}): check the key and its permissions."
    if status == 404:
        return f"{name} answered 404: check the connector's address."
    return f"{name} refused the request ({status})."
