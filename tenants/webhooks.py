"""Outgoing webhooks of customers: where they may point."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings


def check_destination(url: str) -> None:
    """A customer's webhook may not reach into the MSSP's own network (SSRF): http(s) only,
    and no private, loopback or link-local address unless WEBHOOK_ALLOW_PRIVATE is set.
    Checked when the webhook is saved and again at every delivery (DNS can change)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("webhooks are http(s) URLs")
    if settings.WEBHOOK_ALLOW_PRIVATE:
        return
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or 443, proto=socket.IPPROTO_TCP)
    except OSError:
        raise ValueError(f"{parts.hostname} does not resolve") from None
    for info in infos:
        if not ipaddress.ip_address(info[4][0]).is_global:
            raise ValueError(f"{parts.hostname} is not a public address")
