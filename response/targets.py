"""What an action may be aimed at: each action's target is a host, a user, an address or a
domain (models.TARGET_TYPE), checked here before anything is stored or sent, so that a target
can go into a vendor's URL path or filter without escaping surprises."""

from __future__ import annotations

import ipaddress
import re

from tenants.actions import Invalid

from .models import TARGET_TYPE, ActionKind

MAX_TARGET = 255
_HOST = re.compile(r"\A[A-Za-z0-9](?:[A-Za-z0-9_-]{0,62})(?:\.[A-Za-z0-9_-]{1,63})*\Z")
# A user principal name, an e-mail address, an object id, a sAMAccountName (DOMAIN\name).
_USER = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9._@+'\\-]{0,254}\Z")
_DOMAIN = re.compile(r"\A(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]\Z")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# A block wider than this would cut the customer off from much of the internet.
MIN_PREFIX = {4: 16, 6: 48}

WHAT = {
    "hostname": "a host name (or the tool's device id)",
    "user": "a user (principal name, e-mail address or object id)",
    "ip": "an IP address (or a network of /16 or narrower)",
    "domain": "a domain name",
    "": "a short description of what to act on",
}


def _refuse(kind: str) -> Invalid:
    return Invalid({"target": [f"The target is {WHAT[kind]}."]})


def clean(action: str, target: object) -> str:
    """The canonical target of `action`, or Invalid (400) naming what is expected."""
    kind = TARGET_TYPE[ActionKind(action)]
    if not isinstance(target, str):
        raise _refuse(kind)
    text = target.strip()
    if not text or len(text) > MAX_TARGET or _CONTROL.search(text):
        raise _refuse(kind)
    if kind == "hostname":
        if not _HOST.fullmatch(text):
            raise _refuse(kind)
        return text.lower().rstrip(".")
    if kind == "user":
        if not _USER.fullmatch(text):
            raise _refuse(kind)
        return text
    if kind == "ip":
        try:
            if "/" in text:
                network = ipaddress.ip_network(text, strict=False)
                if network.prefixlen < MIN_PREFIX[network.version]:
                    raise ValueError
                if network.num_addresses == 1:
                    return str(network.network_address)
                return str(network)
            return str(ipaddress.ip_address(text.strip("[]")))
        except ValueError:
            raise _refuse(kind) from None
    if kind == "domain":
        text = text.lower().rstrip(".")
        if not _DOMAIN.fullmatch(text):
            raise _refuse(kind)
        return text
    return text
