"""One ASGI application for HTTP and websockets, served by daphne. In the production layout
(mssp.serve, deploy/nginx.conf) nginx sends it only /ws/, and HTTP goes to the worker pool
(mssp.wsgi); in the embedded mode daphne serves both, since the in-process channel layer
cannot cross processes.

Websockets pass the origin check (SameOriginValidator), then the session middleware; the
stream consumer itself refuses sockets that do not authenticate."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mssp.settings")
django_asgi_app = get_asgi_application()

from urllib.parse import urlsplit  # noqa: E402

from channels.auth import AuthMiddlewareStack  # noqa: E402  (needs Django set up first)
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import WebsocketDenier  # noqa: E402
from django.conf import settings  # noqa: E402
from django.http.request import is_same_domain, split_domain_port, validate_host  # noqa: E402
from django.urls import path  # noqa: E402

from tenants.consumers import StreamConsumer  # noqa: E402


def _header(scope, name: bytes) -> str | None:
    values = [value for key, value in scope.get("headers", ()) if key.lower() == name]
    if len(values) != 1:
        return None  # none, or a repeated header that could mean two things
    return values[0].decode("latin-1")


def _is_secure(scope) -> bool:
    if scope.get("scheme") in ("wss", "https"):
        return True
    # Behind the TLS-terminating proxy named by BEHIND_TLS_PROXY, as Django's is_secure().
    proxy = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    if proxy:
        header, secure_value = proxy
        name = header.removeprefix("HTTP_").replace("_", "-").lower().encode()
        value = _header(scope, name)
        return value is not None and value.split(",", 1)[0].strip() == secure_value
    return False


def origin_allowed(scope) -> bool:
    """Django's CSRF origin rule, for the websocket handshake a cross-site page could start
    with the victim's cookie: the Origin must be the socket's own origin (scheme, host and
    port; the host one of ALLOWED_HOSTS) or one of CSRF_TRUSTED_ORIGINS (exactly, or by its
    `*.` subdomain wildcard, same scheme and port). No Origin, or "null": refused. Browsers
    always send one; other clients send the portal's origin."""
    host = (_header(scope, b"host") or "").lower()
    origin = (_header(scope, b"origin") or "").lower()  # scheme and host: case-insensitive
    if not host or not origin:
        return False
    domain, _port = split_domain_port(host)
    allowed_hosts = settings.ALLOWED_HOSTS
    if settings.DEBUG and not allowed_hosts:
        allowed_hosts = [".localhost", "127.0.0.1", "[::1]"]
    if not domain or not validate_host(domain, allowed_hosts):
        return False
    own = f"{'https' if _is_secure(scope) else 'http'}://{host}"
    if origin == own or origin in (o.lower() for o in settings.CSRF_TRUSTED_ORIGINS):
        return True
    try:
        parsed = urlsplit(origin)
        netloc = parsed.netloc
    except ValueError:
        return False
    if not parsed.scheme or not netloc or origin != f"{parsed.scheme}://{netloc}":
        return False  # an origin is exactly scheme://host[:port]
    return any(
        parsed.scheme == trusted.scheme and is_same_domain(netloc, trusted.netloc[1:])
        for trusted in (urlsplit(o.lower()) for o in settings.CSRF_TRUSTED_ORIGINS)
        if trusted.netloc.startswith("*.")
    )


class SameOriginValidator:
    """Refuses (403) a websocket handshake whose Origin origin_allowed() does not accept."""

    def __init__(self, application) -> None:
        self.application = application

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket" and not origin_allowed(scope):
            return await WebsocketDenier()(scope, receive, send)
        return await self.application(scope, receive, send)


application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": SameOriginValidator(
            AuthMiddlewareStack(URLRouter([path("ws/stream/", StreamConsumer.as_asgi())]))
        ),
    }
)
