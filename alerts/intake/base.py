"""The one alert shape every source is normalised to, the contract every source module
keeps (SourceFormat), the errors of the intake, and the helpers source modules share.

A source module (alerts/intake/<kind>.py) is a SourceFormat (checked in
tests/intake/test_protocol.py; alerts.intake.FORMATS is the registry):

    KIND: str                            the intake source kind it reads (SourceKind's value)
    CONTENT_TYPES: frozenset[str]        media types it accepts (see DEFAULT_CONTENT_TYPES)
    def records(body: bytes, content_type: str) -> list[Any]
        split one request body into the records it carries (a Wazuh alert, an Alertmanager
        webhook's alerts, CEF lines ...). Raises BodyError when the body as a whole is unusable.
        Most JSON sources use `json_records` below.
        The list may hold RecordError instances in place of records that could not even be
        read (a bad NDJSON line): parse() is not called for those, they are reported as is.
    def parse(record: Any) -> NormalizedAlert
        one record -> one normalised alert. Raises RecordError (a message a human can act on)
        for a record that cannot be an alert; the rest of the batch is still stored.

What a source module does not do: authenticate, verify signatures or count quota. Those are
the same for every format (alerts.intake.guard, per source: its key, its signing secret, its
tenant's quota) and alerts.intake.receive runs them before a module sees the body.

Severity scales differ per product; each module documents its mapping to SEVERITIES in its
docstring. The raw record is kept exactly as received (`raw`).
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable

from tenants.api.parsers import check_structure
from tenants.api.parsers import loads as safe_json_loads
from tenants.text import single_line

SEVERITIES = ("info", "low", "medium", "high", "critical")
OBSERVABLE_TYPES = ("ip", "domain", "url", "hostname", "user", "hash", "email")
DEFAULT_CONTENT_TYPES = frozenset({"application/json", "application/x-ndjson"})

MAX_TITLE = 500
MAX_FIELD = 2000
MAX_OBSERVABLES = 200


class IntakeRefused(Exception):
    """A request the intake refuses as a whole: the HTTP status, the contract's error code, a
    message a human can act on, and what else the answer carries (`headers` such as
    Retry-After, `extra` fields of the error body such as the rejected records)."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ):
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail
        self.headers = headers or {}
        self.extra = extra or {}


class BodyError(ValueError):
    """The request body as a whole cannot be read (HTTP 400 with this message)."""

    status = 400
    code = "invalid"

    def refusal(self) -> IntakeRefused:
        return IntakeRefused(self.status, self.code, str(self))


class RecordError(ValueError):
    """One record cannot become an alert; named in the response's `rejected` list."""


@runtime_checkable
class SourceFormat(Protocol):
    """What every source module provides (see the module docstring). The modules themselves
    are the implementations: a module satisfies a protocol when its attributes match (PEP
    544), so a format stays a plain module of functions."""

    KIND: str
    CONTENT_TYPES: frozenset[str]

    def records(self, body: bytes, content_type: str) -> list[Any]: ...

    def parse(self, record: Any) -> NormalizedAlert: ...


@dataclass(frozen=True)
class Observable:
    type: str
    value: str

    def as_dict(self) -> dict[str, str]:
        return {"type": self.type, "value": self.value}


@dataclass
class NormalizedAlert:
    title: str
    severity: str
    raw: Any
    description: str = ""
    category: str = ""
    observed_at: datetime | None = None
    source_ref: str = ""  # the sender's own id: redelivery of the same id is a duplicate
    fingerprint: str = ""  # what makes two alerts "the same problem" (incident grouping)
    rule_id: str = ""
    rule_name: str = ""
    mitre: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    observables: list[Observable] = field(default_factory=list)
    # "firing", or "resolved" for sources that announce the end of a condition (Alertmanager):
    # a resolved record updates the alert with the same source_ref instead of adding one.
    status: str = "firing"
    ends_at: datetime | None = None

    def __post_init__(self) -> None:
        # One-line fields are one line whatever the sender put in them: a title ends up in
        # e-mail subjects, where a line break makes the message unsendable.
        self.title = single_line(self.title, MAX_TITLE) or "(untitled alert)"
        if self.severity not in SEVERITIES:
            raise RecordError(f"severity must be one of {', '.join(SEVERITIES)}")
        self.description = clip(self.description, 20_000)
        self.category = single_line(self.category, 100).lower()
        self.source_ref = clip(self.source_ref, 255)
        self.rule_id = single_line(self.rule_id, 255)
        self.rule_name = single_line(self.rule_name, MAX_FIELD)
        self.mitre = sorted(
            {
                t.strip().upper()
                for t in self.mitre
                if isinstance(t, str) and MITRE_TECHNIQUE.fullmatch(t.strip().upper())
            }
        )
        self.tags = sorted(
            {single_line(t, 100) for t in self.tags if isinstance(t, str) and single_line(t)}
        )[:50]
        self.observables = dedupe_observables(self.observables)
        if self.observed_at is not None and self.observed_at.tzinfo is None:
            self.observed_at = self.observed_at.replace(tzinfo=UTC)
        if not self.fingerprint:
            self.fingerprint = default_fingerprint(self)
        self.fingerprint = clip(self.fingerprint, 128)


# --- helpers --------------------------------------------------------------------------------
MITRE_TECHNIQUE = re.compile(r"T\d{4}(?:\.\d{3})?")
_HASH_LENGTHS = {32: "md5", 40: "sha1", 64: "sha256", 128: "sha512"}
_HEX = re.compile(r"[0-9a-fA-F]+")
_DOMAIN = re.compile(r"(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")
_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]{1,255}")


def clip(value: Any, limit: int) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    return text.replace("\x00", "").strip()[:limit]


def json_records(body: bytes, content_type: str) -> list[Any]:
    """A JSON object (one record), a JSON array (a batch) or NDJSON (a batch)."""
    if content_type == "application/x-ndjson":
        records = []
        for number, line in enumerate(body.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                records.append(safe_json_loads(line))
            except Exception as exc:  # ParseError: report which line
                detail = getattr(exc, "detail", exc)
                records.append(RecordError(f"line {number}: {detail}"))
        return records
    try:
        document = safe_json_loads(body)
    except Exception as exc:  # ParseError
        raise BodyError(str(getattr(exc, "detail", exc))) from None
    return document if isinstance(document, list) else [document]


def parse_time(value: Any) -> datetime | None:
    """ISO 8601 (with Z or offset, or Wazuh's +0000), or epoch seconds / milliseconds."""
    if value in (None, ""):
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            seconds = value / 1000 if value > 10_000_000_000 else value
            return datetime.fromtimestamp(seconds, tz=UTC)
        except (OverflowError, OSError, ValueError):
            raise RecordError("time is out of range") from None  # (str() of a huge int fails)
    if not isinstance(value, str) or not value.isascii():
        raise RecordError(f"time {str(value)[:40]!r} is not a timestamp")
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    text = re.sub(r"([+-]\d{2})(\d{2})$", r"\1:\2", text)  # +0000 -> +00:00
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        try:
            return parse_time(float(text))
        except (ValueError, OverflowError, RecordError):
            raise RecordError(f"time {value[:40]!r} is not ISO 8601") from None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise RecordError(f"time {value[:40]!r} is out of range") from None


def strings(value: Any) -> list[str]:
    """A field's values as stripped, non-empty strings: one string or a list of them (the
    multivalue shape SIEMs use); anything else is dropped."""
    items = value if isinstance(value, list) else [value]
    return [item.strip() for item in items if isinstance(item, str) and item.strip()]


def optional_text(value: Any, name: str) -> str:
    """An optional string field, stripped: absent is "", anything but a string a RecordError."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise RecordError(f"{name} must be a string")
    return value.strip()


def parse_time_field(value: Any, name: str) -> datetime | None:
    """parse_time for a named field: every failure is a RecordError that names the field."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, str | int | float)):
        raise RecordError(f"{name} must be an ISO 8601 time or epoch seconds")
    try:
        return parse_time(value)
    except RecordError as exc:
        raise RecordError(f"{name}: {clip(exc, 200)}") from None


def is_address(text: str) -> bool:
    """Whether a text is an IP address (an IPv6 one may stand in brackets)."""
    try:
        ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return False
    return True


def party_addresses(texts: list[str]) -> list[str]:
    """Addresses of a party to the event: loopback and unspecified ones say nothing.

    An IPv4-mapped IPv6 address stands as its IPv4 address, so the two spellings of one
    host are one observable."""
    kept = []
    for text in texts:
        try:
            address = ipaddress.ip_address(text.strip("[]"))
        except ValueError:
            continue
        mapped = getattr(address, "ipv4_mapped", None) or address
        if not (mapped.is_loopback or mapped.is_unspecified):
            kept.append(str(mapped))
    return kept


def normalise_observable(kind: str, value: Any) -> Observable | None:
    """A typed observable with a canonical value, or None when the value is not one."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None  # a dict or list is never an observable's value
    text = clip(value, MAX_FIELD)
    if not text or kind not in OBSERVABLE_TYPES:
        return None
    if kind == "ip":
        try:
            return Observable("ip", str(ipaddress.ip_address(text.strip("[]"))))
        except ValueError:
            return None
    if kind == "hash":
        if _HEX.fullmatch(text) and len(text) in _HASH_LENGTHS:
            return Observable("hash", text.lower())
        return None
    if kind in ("domain", "hostname"):
        text = text.lower().rstrip(".")
        if kind == "domain" and not _DOMAIN.fullmatch(text):
            return None
        return Observable(kind, text)
    if kind == "email":
        return Observable("email", text.lower()) if _EMAIL.fullmatch(text) else None
    return Observable(kind, text)


def observables(*pairs: tuple[str, Any]) -> list[Observable]:
    """observables(("ip", src), ("user", user), ...) skipping empty or malformed values."""
    found = []
    for kind, value in pairs:
        values = value if isinstance(value, list | tuple) else [value]
        for item in values:
            observable = normalise_observable(kind, item)
            if observable is not None:
                found.append(observable)
    return found


def guess_observable(value: Any) -> Observable | None:
    """Type an untyped value: ip, url, email, hash, domain (in that order)."""
    text = clip(value, MAX_FIELD)
    if not text:
        return None
    for kind in ("ip", "email", "hash", "domain"):
        observable = normalise_observable(kind, text)
        if observable is not None:
            return observable
    if re.match(r"[a-z][a-z0-9+.-]*://", text, re.IGNORECASE):
        return Observable("url", text)
    return None


def dedupe_observables(items: list[Observable]) -> list[Observable]:
    seen: dict[tuple[str, str], Observable] = {}
    for item in items:
        if isinstance(item, dict):
            item = normalise_observable(str(item.get("type", "")), item.get("value"))
        if item is not None:
            seen.setdefault((item.type, item.value), item)
    return list(seen.values())[:MAX_OBSERVABLES]


def severity_from_scale(value: Any, thresholds: list[tuple[float, str]], default: str) -> str:
    """Map a number with [(minimum, severity), ...] sorted from highest minimum down."""
    if isinstance(value, str) and not value.isascii():
        return default
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return default
    if number != number:  # NaN
        return default
    for minimum, severity in thresholds:
        if number >= minimum:
            return severity
    return thresholds[-1][1] if thresholds else default


def default_fingerprint(alert: NormalizedAlert) -> str:
    """Same rule (or title) about the same hosts/addresses: the same problem."""
    anchors = sorted(
        f"{o.type}:{o.value}" for o in alert.observables if o.type in ("hostname", "ip")
    )[:5]
    key = json.dumps([alert.rule_id or alert.title, anchors], separators=(",", ":"))
    return hashlib.sha256(key.encode()).hexdigest()[:40]


def content_digest(record: Any) -> str:
    """Identity of a record that carries no id of its own: a redelivered copy has the same."""
    if isinstance(record, bytes | str):
        data = record.encode() if isinstance(record, str) else record
    else:
        data = json.dumps(record, sort_keys=True, separators=(",", ":"), default=str).encode()
    return "sha256:" + hashlib.sha256(data).hexdigest()


def dig(document: Any, path: str, default: Any = None) -> Any:
    """dig(doc, "rule.mitre.id") -> doc["rule"]["mitre"]["id"] or default; also accepts the
    flattened form Elastic uses ("kibana.alert.rule.name" as one key)."""
    if isinstance(document, dict) and path in document:
        return document[path]
    current = document
    parts = path.split(".")
    for index, part in enumerate(parts):
        if not isinstance(current, dict):
            return default
        if part in current:
            current = current[part]
            continue
        # a flattened prefix with a nested rest: {"kibana.alert.rule": {"name": ...}}
        for cut in range(len(parts), index, -1):
            prefix = ".".join(parts[index:cut])
            if prefix in current:
                return (
                    dig(current[prefix], ".".join(parts[cut:]), default)
                    if cut < len(parts)
                    else current[prefix]
                )
        return default
    return current


__all__ = [
    "SEVERITIES",
    "OBSERVABLE_TYPES",
    "DEFAULT_CONTENT_TYPES",
    "IntakeRefused",
    "BodyError",
    "RecordError",
    "SourceFormat",
    "Observable",
    "NormalizedAlert",
    "json_records",
    "parse_time",
    "observables",
    "normalise_observable",
    "guess_observable",
    "severity_from_scale",
    "content_digest",
    "dig",
    "clip",
    "check_structure",
]
