"""One ASGI application for HTTP and websockets, served by daphne.

Websockets pass origin validation (the Origin header must be one of ALLOWED_HOSTS) and the
session middleware; the stream consumer itself refuses sockets that do not authenticate."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mssp.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402  (needs Django set up first)
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.urls import path  # noqa: E402

from tenants.consumers import StreamConsumer  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(URLRouter([path("ws/stream/", StreamConsumer.as_asgi())]))
        ),
    }
)
