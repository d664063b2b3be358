"""Canonical indicator values, so that one indicator is stored once and matches however the
alert or the feed spelled it:

- ip: `ipaddress` canonical form (IPv6 compressed, lower-case); IPv4-mapped IPv6 stays IPv6
- cidr: the network address with its prefix (`10.1.2.3/8` -> `10.0.0.0/8`); a /32 (/128) is
  an `ip`; at most /8 wide for IPv4 and /16 for IPv6 (MIN_PREFIX): a wider "indicator" would
  flag a sizeable part of the internet
- domain: lower case, no trailing dot, IDNA (punycode) for non-ASCII labels
- url: scheme and host lower case, default port dropped, fragment dropped; path and query kept
- md5 / sha1 / sha256: lower-case hex of the right length (the type is guessed from it)
- email: lower case

The same functions normalise an alert's observables at matching time.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit, urlunsplit

from .models import IndicatorType

MAX_VALUE = 2048
MIN_PREFIX = {4: 8, 6: 16}
HASH_TYPES = {32: IndicatorType.MD5, 40: IndicatorType.SHA1, 64: IndicatorType.SHA256}
_HEX = re.compile(r"[0-9a-f]+")
_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")
_EMAIL = re.compile(r"[^@\s]{1,64}@([^@\s]{1,255})")
_SCHEME = re.compile(r"[a-z][a-z0-9+.-]*://", re.IGNORECASE)
DEFAULT_PORTS = {"http": 80, "https": 443, "ftp": 21}


class InvalidIndicator(ValueError):
    """The value is not a valid indicator of that type; the message says why."""


def normalise(kind: str, value: object) -> tuple[str, str]:
    """(type, canonical value) or InvalidIndicator. A CIDR of one address becomes an ip; a
    hash's type follows its length when the given one is a hash type."""
    if not isinstance(value, str):
        raise InvalidIndicator("the value must be text")
    text = value.strip()
    if not text:
        raise InvalidIndicator("the value is empty")
    if "\x00" in text:
        raise InvalidIndicator("the value contains a NUL character")
    if len(text.encode("utf-8")) > MAX_VALUE:  # the index limits bytes, not characters
        raise InvalidIndicator(f"the value is longer than {MAX_VALUE} bytes (UTF-8)")
    if kind not in IndicatorType.values:
        kinds = ", ".join(IndicatorType.values)
        raise InvalidIndicator(f"'{kind}' is not an indicator type ({kinds})")
    match kind:
        case IndicatorType.IP | IndicatorType.CIDR:
            return _network(text, kind)
        case IndicatorType.DOMAIN:
            return IndicatorType.DOMAIN, domain(text)
        case IndicatorType.URL:
            return IndicatorType.URL, url(text)
        case IndicatorType.MD5 | IndicatorType.SHA1 | IndicatorType.SHA256:
            return _hash(text, kind)
        case IndicatorType.EMAIL:
            return IndicatorType.EMAIL, email(text)
    raise InvalidIndicator(f"'{kind}' is not an indicator type")  # pragma: no cover


def guess(value: object) -> tuple[str, str]:
    """Type an untyped value (plain lists): ip, cidr, url, email, hash, domain."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidIndicator("the value is empty")
    text = value.strip()
    if _SCHEME.match(text):
        return normalise(IndicatorType.URL, text)
    if "@" in text:
        return normalise(IndicatorType.EMAIL, text)
    if "/" in text or ":" in text or text.replace(".", "").isdigit():
        return normalise(IndicatorType.CIDR if "/" in text else IndicatorType.IP, text)
    if _HEX.fullmatch(text.lower()) and len(text) in HASH_TYPES:
        return normalise(HASH_TYPES[len(text)], text)
    try:
        return normalise(IndicatorType.DOMAIN, text)
    except InvalidIndicator:
        raise InvalidIndicator(
            f"cannot tell what '{text[:80]}' is (not an IP, network, URL, email, hash or domain)"
        ) from None


def _network(text: str, kind: str) -> tuple[str, str]:
    try:
        if "/" not in text:
            return IndicatorType.IP, str(ipaddress.ip_address(text.strip("[]")))
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        what = "a network such as 10.0.0.0/8" if kind == IndicatorType.CIDR else "an IP address"
        raise InvalidIndicator(f"'{text[:80]}' is not {what}") from None
    if network.prefixlen == network.max_prefixlen:
        return IndicatorType.IP, str(network.network_address)
    widest = MIN_PREFIX[network.version]
    if network.prefixlen < widest:
        raise InvalidIndicator(
            f"'{text[:80]}' is wider than /{widest}: too broad to be an indicator"
        )
    return IndicatorType.CIDR, str(network)


def domain(text: str) -> str:
    name = text.strip().rstrip(".").lower()
    if not name.isascii():
        try:
            name = name.encode("idna").decode("ascii")
        except UnicodeError:
            raise InvalidIndicator(f"'{text[:80]}' is not a domain name") from None
    labels = name.split(".")
    if (
        len(name) > 253
        or len(labels) < 2
        or not all(_LABEL.fullmatch(label) for label in labels)
        or labels[-1].isdigit()
    ):
        raise InvalidIndicator(f"'{text[:80]}' is not a domain name")
    return name


def url(text: str) -> str:
    if not _SCHEME.match(text) or any(c.isspace() for c in text):
        raise InvalidIndicator(f"'{text[:80]}' is not a URL (scheme://host/...)")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise InvalidIndicator(f"'{text[:80]}' is not a URL") from None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise InvalidIndicator(f"'{text[:80]}' has no host")
    if ":" in host:
        host = f"[{host}]"
    netloc = host if port is None or DEFAULT_PORTS.get(scheme) == port else f"{host}:{port}"
    if parts.username or parts.password:
        netloc = "@" + netloc
        netloc = (parts.username or "") + (f":{parts.password}" if parts.password else "") + netloc
    return urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))


def _hash(text: str, kind: str) -> tuple[str, str]:
    value = text.lower()
    if not _HEX.fullmatch(value) or len(value) not in HASH_TYPES:
        raise InvalidIndicator(f"'{text[:80]}' is not an MD5, SHA-1 or SHA-256 hex digest")
    return HASH_TYPES[len(value)], value


def email(text: str) -> str:
    value = text.lower()
    found = _EMAIL.fullmatch(value)
    if not found:
        raise InvalidIndicator(f"'{text[:80]}' is not an email address")
    domain(found.group(1))
    return value


def observable_lookups(kind: str, value: str) -> list[tuple[str, str]]:
    """The (indicator type, value) pairs an alert's observable would match exactly. A domain
    or hostname also matches indicators on its parent domains (`a.evil.example` is in
    `evil.example`); an email matches its domain too."""
    try:
        if kind == "ip":
            address = ipaddress.ip_address(value)
            if getattr(address, "scope_id", None):  # fe80::1%eth0: no network holds it
                return []
            return [(IndicatorType.IP, str(address))]
        if kind in ("domain", "hostname"):
            return [(IndicatorType.DOMAIN, d) for d in parent_domains(domain(value))]
        if kind == "url":
            return [(IndicatorType.URL, url(value))]
        if kind == "hash":
            return [_hash(value, IndicatorType.SHA256)]
        if kind == "email":
            address = email(value)
            return [(IndicatorType.EMAIL, address)] + [
                (IndicatorType.DOMAIN, d) for d in parent_domains(address.rsplit("@", 1)[1])
            ]
    except (InvalidIndicator, ValueError):
        return []
    return []


def parent_domains(name: str) -> list[str]:
    """`a.b.example.com` -> itself, `b.example.com`, `example.com` (never a bare TLD)."""
    labels = name.split(".")
    return [".".join(labels[i:]) for i in range(0, max(1, len(labels) - 1))]
