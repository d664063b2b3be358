"""A tenant proves that it owns an e-mail domain it claims for single sign-on by publishing a
TXT record: `_mssp-verify.<domain>` holding the claim's token (`mssp-verify=<token>`). The
portal looks it up with dnspython when the tenant's admin presses "Check DNS" (and a periodic
task re-checks pending claims); an MSSP admin's manual verification stays as an override.

`SSO_DNS_NAMESERVERS` (comma-separated `host` or `host:port`) names the resolvers to ask;
unset, the system's (/etc/resolv.conf)."""

from __future__ import annotations

import secrets

import dns.exception
import dns.resolver
from django.conf import settings

RECORD_PREFIX = "_mssp-verify"
VALUE_PREFIX = "mssp-verify="
TIMEOUT = 5.0  # seconds for one lookup, all resolvers together


def new_token() -> str:
    return secrets.token_urlsafe(24)


def record_name(domain: str) -> str:
    return f"{RECORD_PREFIX}.{domain}"


def record_value(token: str) -> str:
    return f"{VALUE_PREFIX}{token}"


class DnsUnavailable(Exception):
    """The resolvers did not answer (not the same as "no such record")."""


def resolver() -> dns.resolver.Resolver:
    names = str(getattr(settings, "SSO_DNS_NAMESERVERS", ""))
    configured = [s.strip() for s in names.split(",") if s.strip()]
    if not configured:
        return dns.resolver.Resolver()
    result = dns.resolver.Resolver(configure=False)
    nameservers: list[str] = []
    for entry in configured:
        host, _, port = entry.rpartition(":") if entry.count(":") == 1 else (entry, "", "")
        nameservers.append(host)
        if port:
            result.port = int(port)
    result.nameservers = nameservers
    return result


def txt_values(domain: str) -> list[str]:
    """The TXT strings at `_mssp-verify.<domain>` (none when there is no such record)."""
    try:
        answer = resolver().resolve(record_name(domain), "TXT", lifetime=TIMEOUT)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return []
    except (dns.resolver.NoNameservers, dns.exception.Timeout) as exc:
        raise DnsUnavailable(str(exc)) from None
    except dns.exception.DNSException as exc:
        raise DnsUnavailable(str(exc)) from None
    return [
        b"".join(rdata.strings).decode("utf-8", "replace")
        for rdata in answer
        if hasattr(rdata, "strings")
    ]


def published(domain: str, token: str) -> bool:
    expected = record_value(token)
    return any(secrets.compare_digest(value.strip(), expected) for value in txt_values(domain))
