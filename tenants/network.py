"""Where a request comes from: one rule for the login throttle, the lockout (django-axes) and
the audit log.

X-Forwarded-For is whatever the client says, except for the entries our own proxies appended:
with TRUSTED_PROXY_COUNT = n proxies in front of the portal, the client is the n-th address
from the right of that header (what the outermost proxy saw). With n = 0 (the default, no
proxy) the header is ignored and REMOTE_ADDR is the client. A header with fewer entries than
proxies, or an entry that is not an address, is not believed: REMOTE_ADDR stands.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING

from django.conf import settings

if TYPE_CHECKING:
    from django.http import HttpRequest
    from rest_framework.request import Request


def _address(value: str) -> str | None:
    """`value` as a normalised IP address ("[v6]:port" and "v4:port" too), or None."""
    value = value.strip()
    if value.startswith("["):  # [2001:db8::1]:443
        value = value[1:].partition("]")[0]
    elif value.count(":") == 1:  # 203.0.113.9:51234
        value = value.partition(":")[0]
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    return str(address).partition("%")[0]  # no zone id: the audit log's column takes none


def client_ip(request: HttpRequest | Request | None) -> str | None:
    """The client's address of a Django (or DRF) request; None without one."""
    if request is None:
        return None
    meta = request.META
    remote = _address(meta.get("REMOTE_ADDR") or "")
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies <= 0:
        return remote
    hops = [hop for hop in meta.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    if len(hops) < proxies:
        return remote
    return _address(hops[-proxies]) or remote
