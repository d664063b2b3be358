"""What every scanner format turns into: `ScanRecord`s (one finding on one host) or
`Rejected` (a record that could not be read, with why), and the safe, streaming XML reading the
XML formats share.

XML from an upload is parsed with defusedxml: entity declarations (the "billion laughs"
expansion bomb) and external entities or DTDs (XXE: reading local files, reaching internal
URLs) are refused outright. It is read in blocks by a parser whose target keeps only the
records (a ReportItem, a result) being read: every other element is counted and dropped as it
is read, a record's text is capped, and the file's element count, nesting depth and a record's
size are capped too, so memory stays flat however the file is built (a file of nothing but
`<a/>` elements used to grow the worker by 20 times its size)."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from xml.etree.ElementTree import (  # noqa: S405 (tree building only; parsing is defused)
    Element,
    ParseError,
    SubElement,
)

from defusedxml import DefusedXmlException, DTDForbidden, EntitiesForbidden
from defusedxml.common import ExternalReferenceForbidden
from defusedxml.ElementTree import DefusedXMLParser

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
# Limits of one XML file. A 50 MB scanner report has a few hundred thousand elements, nested
# less than 15 deep; a record (a ReportItem, a result) a few dozen elements and some kB of text.
MAX_ELEMENTS = 2_000_000
MAX_DEPTH = 64
MAX_RECORD_ELEMENTS = 10_000
MAX_RECORD_TEXT = 2_000_000  # characters of text and attribute values kept of one record
MAX_ELEMENT_TEXT = 100_000  # characters kept of one element's text (fields keep at most 20,000)
MAX_ATTRIBUTE = 10_000  # characters kept of one attribute's value
HEAD_BYTES = 1024 * 1024  # how far the upload's check reads for the root element
BLOCK = 64 * 1024  # bytes fed to the parser at a time


@dataclass
class XmlStart:
    """A start tag of interest outside the records (a ReportHost: its name attribute)."""

    name: str
    attrib: dict


@dataclass
class XmlRecord:
    """A record's element, its tags without namespaces; `overflow` says why parts of it were
    dropped (the record is then rejected, not read in part)."""

    element: Element
    overflow: str = ""


_DROPPED = Element("dropped")


class _Reader:
    """The parser's target. Outside the records it keeps nothing but the names of the open
    elements; inside one it builds the record's tree, text capped."""

    def __init__(
        self,
        roots: Sequence[str],
        wrong_root: str,
        is_record: Callable[[list[str]], bool],
        starts: Sequence[str],
    ) -> None:
        self.roots, self.wrong_root = roots, wrong_root
        self.is_record, self.starts = is_record, starts
        self.path: list[str] = []  # local names of the open elements
        self.elements = 0
        self.root = ""
        # The record being read: its open elements, and for each the text read so far and
        # its length (None once the element has a child: later text is a tail, not kept).
        self.record: list[Element] = []
        self.texts: list[list[str] | None] = []
        self.lengths: list[int] = []
        self.kept = self.record_elements = 0
        self.overflow = ""
        self.ready: list[XmlStart | XmlRecord] = []

    def start(self, tag, attrib) -> None:
        self.elements += 1
        if self.elements > MAX_ELEMENTS:
            raise FileRefused(
                f"The file has more than {MAX_ELEMENTS:,} XML elements; no scanner report "
                "needs that many. Split it into smaller files."
            )
        name = local_name(tag)
        self.path.append(name)
        if len(self.path) > MAX_DEPTH:
            raise FileRefused(
                f"The XML nests elements more than {MAX_DEPTH} deep; no scanner report does."
            )
        if not self.root:
            self.root = name
            if self.roots and name not in self.roots:
                raise FileRefused(self.wrong_root)
        if self.record:
            self._child(name, attrib)
        elif self.is_record(self.path):
            self.overflow, self.kept, self.record_elements = "", 0, 1
            self.record = [Element(name, self._attrib(attrib))]
            self.texts, self.lengths = [[]], [0]
        elif name in self.starts:
            self.ready.append(XmlStart(name, self._attrib(attrib)))

    def _child(self, name: str, attrib) -> None:
        self.record_elements += 1
        if self.record_elements > MAX_RECORD_ELEMENTS:
            self.overflow = f"it has more than {MAX_RECORD_ELEMENTS:,} elements"
        parent = self.record[-1]
        text = self.texts[-1]
        if text is not None:  # the parent's text ends at its first child
            parent.text = "".join(text)
            self.texts[-1] = None
        # Once the record is rejected its elements are read but not kept: one shared, empty
        # element stands in for each.
        child = _DROPPED if self.overflow else SubElement(parent, name, self._attrib(attrib))
        self.record.append(child)
        self.texts.append(None if self.overflow else [])
        self.lengths.append(0)

    def _attrib(self, attrib) -> dict:
        kept = {}
        for key, value in attrib.items():
            value = value[:MAX_ATTRIBUTE]
            self.kept += len(value)
            kept[key] = value
        if self.kept > MAX_RECORD_TEXT:
            self.overflow = f"its text is longer than {MAX_RECORD_TEXT:,} characters"
        return kept

    def data(self, piece: str) -> None:
        if not self.record or self.texts[-1] is None:
            return
        room = min(MAX_ELEMENT_TEXT - self.lengths[-1], MAX_RECORD_TEXT - self.kept)
        if self.kept + len(piece) > MAX_RECORD_TEXT:
            self.overflow = f"its text is longer than {MAX_RECORD_TEXT:,} characters"
        if room <= 0:
            return
        piece = piece[:room]
        self.kept += len(piece)
        self.lengths[-1] += len(piece)
        self.texts[-1].append(piece)

    def end(self, tag) -> None:
        self.path.pop()
        if not self.record:
            return
        element, text = self.record.pop(), self.texts.pop()
        self.lengths.pop()
        if text is not None:
            element.text = "".join(text)
        if not self.record:
            self.ready.append(XmlRecord(element, self.overflow))

    def close(self) -> None:
        return None

    def take(self) -> list[XmlStart | XmlRecord]:
        ready, self.ready = self.ready, []
        return ready


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


def _parser(reader: _Reader) -> DefusedXMLParser:
    return DefusedXMLParser(
        target=reader, forbid_dtd=False, forbid_entities=True, forbid_external=True
    )


def stream_xml(
    data: bytes,
    *,
    roots: Sequence[str],
    wrong_root: str,
    is_record: Callable[[list[str]], bool],
    starts: Sequence[str] = (),
) -> Iterator[XmlStart | XmlRecord]:
    """The document's records (and the start tags named in `starts`), in order, read safely
    in blocks; a root element not in `roots` is refused with `wrong_root`; any refusal or
    malformation becomes FileRefused. `is_record(path)` says whether the element at `path`
    (the local names from the root down to it) is a record."""
    reader = _Reader(roots, wrong_root, is_record, starts)
    parser = _parser(reader)
    view = memoryview(data)
    try:
        for offset in range(0, len(view), BLOCK):
            parser.feed(view[offset : offset + BLOCK])
            if reader.ready:
                yield from reader.take()
        parser.close()
    except (ParseError, DefusedXmlException, ValueError) as exc:
        raise _refusal(exc) from None
    yield from reader.take()


def check_xml_head(data: bytes, roots: Sequence[str], wrong_root: str) -> None:
    """The upload's check: read no further than the root element (and at most HEAD_BYTES):
    entity declarations, external references and a wrong root element are refused now, the
    rest of the file is read by the import (findings.imports.import_run)."""
    reader = _Reader(roots, wrong_root, lambda path: False, ())
    parser = _parser(reader)
    view = memoryview(data)
    try:
        for offset in range(0, min(len(view), HEAD_BYTES), BLOCK):
            parser.feed(view[offset : offset + BLOCK])
            if reader.root:
                return
        if len(view) <= HEAD_BYTES:
            parser.close()
    except (ParseError, DefusedXmlException, ValueError) as exc:
        raise _refusal(exc) from None
    if not reader.root:
        raise FileRefused(f"The XML has no root element in its first {HEAD_BYTES:,} bytes.")


def local_name(tag: Any) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def child_text(element: Element, name: str, limit: int = MAX_TEXT) -> str:
    found = element.find(name)
    return text(found.text if found is not None else "", limit)


def all_text(element: Element, name: str) -> list[str]:
    return [text(e.text, 2000) for e in element.findall(name) if text(e.text, 2000)]
