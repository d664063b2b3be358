"""What every scanner format turns into: `ScanRecord`s (one finding on one host) or
`Rejected` (a record that could not be read, with why), and the safe XML reading the XML
formats share.

XML from an upload is parsed with defusedxml: entity declarations (the "billion laughs"
expansion bomb) and external entities or DTDs (XXE: reading local files, reaching internal
URLs) are refused outright, and the file's size was checked before any parsing
(findings.services.check_upload)."""

from __future__ import annotations

import io
import ipaddress
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from xml.etree.ElementTree import Element, ParseError  # noqa: S405 (types only; parsing is defused)

from defusedxml import DefusedXmlException, DTDForbidden, EntitiesForbidden
from defusedxml import ElementTree as SafeET
from defusedxml.common import ExternalReferenceForbidden

MAX_TEXT = 20_000  # characters kept of a description, solution or evidence
MAX_TITLE = 500
SEVERITIES = ("info", "low", "medium", "high", "critical")
CVE = re.compile(r"CVE-\d{4}-\d{4,}", re.IGNORECASE)
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class FileRefused(Exception):
    """The whole file is unusable (malformed, hostile, not this format): a 400 with this
    message, before anything is imported."""


class RecordError(Exception):
    """One record is unusable; the others go on."""


@dataclass
class Host:
    ip: str | None = None
    hostname: str = ""
    fqdn: str = ""
    os: str = ""

    @property
    def identifier(self) -> str:
        """The asset's key: its IP address when known, else its fully qualified name."""
        return self.ip or self.fqdn or self.hostname


@dataclass
class ScanRecord:
    index: int
    host: Host
    plugin_id: str
    title: str
    severity: str
    port: str = ""
    cvss_score: Decimal | None = None
    cvss_vector: str = ""
    cves: list[str] = field(default_factory=list)
    description: str = ""
    solution: str = ""
    evidence: str = ""
    references: list[str] = field(default_factory=list)
    seen_at: datetime | None = None


@dataclass
class Rejected:
    index: int
    error: str


Parsed = Iterator[ScanRecord | Rejected]


# --- normalising ------------------------------------------------------------------------------
def text(value: Any, limit: int = MAX_TEXT) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        value = str(value)
    # NUL and unpaired surrogates: no database stores them
    value = _UNSTORABLE.sub("", value).strip()
    return value[:limit]


def normalise_ip(value: Any) -> str | None:
    value = text(value, 100).strip("[]")
    if not value:
        return None
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


_HOSTNAME = re.compile(r"^[a-z0-9_]([a-z0-9_-]{0,62})(\.[a-z0-9_]([a-z0-9_-]{0,62}))*$")


def normalise_hostname(value: Any) -> str:
    """Lower case, no trailing dot: the form alert observables carry (alerts.intake.base)."""
    name = text(value, 255).lower().rstrip(".")
    return name if name and _HOSTNAME.match(name) else ""


def make_host(*, ip: Any = None, hostname: Any = None, fqdn: Any = None, os: Any = None) -> Host:
    """A host from whatever names a scanner gives; a name that is an address counts as one."""
    ip_value = normalise_ip(ip)
    names = [normalise_hostname(hostname), normalise_hostname(fqdn)]
    for raw in (hostname, fqdn):
        if ip_value is None and normalise_ip(raw):
            ip_value = normalise_ip(raw)
    names = [n for n in names if n and not normalise_ip(n)]
    fqdn_value = next((n for n in names if "." in n), "")
    short = next((n for n in names if "." not in n), "") or (
        fqdn_value.split(".", 1)[0] if fqdn_value else ""
    )
    host = Host(ip=ip_value, hostname=short, fqdn=fqdn_value, os=text(os, 255))
    if not host.identifier:
        raise RecordError("the record names no host (an IP address or a host name)")
    return host


def severity_of(value: Any) -> str | None:
    value = text(value, 20).lower()
    aliases = {"informational": "info", "none": "info", "log": "info", "moderate": "medium"}
    value = aliases.get(value, value)
    return value if value in SEVERITIES else None


def severity_from_score(score: Decimal | None) -> str:
    """CVSS v3 qualitative rating."""
    if score is None or score <= 0:
        return "info"
    if score >= 9:
        return "critical"
    if score >= 7:
        return "high"
    if score >= 4:
        return "medium"
    return "low"


def cvss_score(value: Any) -> Decimal | None:
    value = text(value, 10)
    if not value:
        return None
    try:
        score = Decimal(value).quantize(Decimal("0.1"))
    except (InvalidOperation, ValueError):
        raise RecordError(f"CVSS score {value!r} is not a number") from None
    if not score.is_finite() or not Decimal(0) <= score <= Decimal(10):
        raise RecordError(f"CVSS score {value} is outside 0-10")
    return score


def cves_in(*values: Any) -> list[str]:
    found: list[str] = []
    for value in values:
        for match in CVE.findall(text(value, 100_000)):
            cve = match.upper()
            if cve not in found:
                found.append(cve)
    return found[:100]


def port_of(port: Any, protocol: Any = "") -> str:
    port = text(port, 16)
    protocol = text(protocol, 8).lower()
    if not port or port in ("0", "general"):
        return ""
    return f"{port}/{protocol}" if protocol and "/" not in port else port


def parse_time(value: Any) -> datetime | None:
    value = text(value, 60)
    if not value:
        return None
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    # Nuclei writes nanoseconds; Python reads up to microseconds.
    value = re.sub(r"(\.\d{6})\d+", r"\1", value)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        try:  # Nessus: "Tue Nov 24 10:15:02 2026"
            parsed = datetime.strptime(value, "%a %b %d %H:%M:%S %Y")  # noqa: DTZ007
        except ValueError:
            return None
    try:
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00:00+01:00 is before the first representable time
        raise RecordError(f"time {value!r} is out of range") from None


# --- XML -------------------------------------------------------------------------------------
def _refusal(exc: Exception) -> FileRefused:
    if isinstance(exc, EntitiesForbidden):
        return FileRefused(
            "The XML declares entities (<!ENTITY>). They are refused: entity expansion "
            "(“billion laughs”) and external entities (XXE) are attacks, and scanner reports "
            "need none."
        )
    if isinstance(exc, ExternalReferenceForbidden):
        return FileRefused("The XML refers to an external resource; that is refused.")
    if isinstance(exc, DTDForbidden):
        return FileRefused("The XML declares a DTD; that is refused.")
    if isinstance(exc, DefusedXmlException):
        return FileRefused(f"The XML was refused: {exc.__class__.__name__}.")
    message = str(exc)[:200]
    return FileRefused(f"The file is not well-formed XML ({message}).")


def safe_iterparse(data: bytes, events: tuple[str, ...] = ("start", "end")):
    """(event, element) pairs of the document, parsed safely and streamed; any refusal or
    malformation becomes FileRefused. Callers clear the elements they are done with, so memory
    stays small for large reports."""
    try:
        yield from SafeET.iterparse(
            io.BytesIO(data),
            events=events,
            forbid_dtd=False,
            forbid_entities=True,
            forbid_external=True,
        )
    except (ParseError, DefusedXmlException, ValueError) as exc:
        raise _refusal(exc) from None


def root_tag(data: bytes) -> str:
    """The root element's name (namespace stripped), reading no further than it."""
    for _, element in safe_iterparse(data, ("start",)):
        return local_name(element.tag)
    raise FileRefused("The XML has no root element.")


def check_xml(data: bytes) -> None:
    """Read the whole document safely once (well-formed, no entities, no DTD tricks): the
    upload's answer is a 400 now rather than a failed import later."""
    for _, element in safe_iterparse(data, ("end",)):
        element.clear()


def local_name(tag: Any) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def child_text(element: Element, name: str, limit: int = MAX_TEXT) -> str:
    found = element.find(name)
    return text(found.text if found is not None else "", limit)


def all_text(element: Element, name: str) -> list[str]:
    return [text(e.text, 2000) for e in element.findall(name) if text(e.text, 2000)]
