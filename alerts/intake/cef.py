"""ArcSight Common Event Format (CEF), `text/plain`, one record a line:

    CEF:Version|Device Vendor|Device Product|Device Version|Device Event Class ID|Name|Severity|
        Extension

A line may carry a syslog header before `CEF:` ("<134>Nov 27 10:15:32 fw01 CEF:0|..." or an
RFC 5424 header): it is skipped. Blank lines are skipped; a line is `raw` exactly as received
(without its line break).

Escaping (Implementing ArcSight CEF):
- header: `\\|` is a pipe inside a field and `\\\\` a backslash; the header is the first seven
  unescaped pipes. Any other backslash is kept literally. A last header field without its
  closing pipe (no extension at all) is accepted.
- extension: `key=value` pairs separated by spaces. Values may contain unescaped spaces: a new
  key starts only at ` key=` (a word, optionally `.sub` parts and an `[n]` index, followed by
  an unescaped `=`). In values `\\=` is `=`, `\\\\` is a backslash, `\\n` and `\\r` are a newline
  and a carriage return; `\\|` and `\\/` (over-escaped by some producers: FortiOS escapes
  slashes) are a pipe and a slash; any other backslash is kept as it is (`duser=CORP\\jdoe`
  written unescaped stays `CORP\\jdoe`). Spaces around a value are not part of it. A key given
  twice keeps its last value. Full key names (`sourceAddress`, `deviceCustomString1` ...) are
  read as their short forms.

Mapping:
- title: Name; rule_id: Device Event Class ID; rule_name: Name; category: `cat`.
- description: `msg`, the device, the action and the labelled custom fields (csN/cnN/flexString).
- observed_at: `rt`, else `end`, else `start`: epoch milliseconds, `MMM dd yyyy HH:mm:ss[.SSS]
  [zone]`, `MMM dd HH:mm:ss[.SSS] [zone]` (the year is the current one, or the previous when
  that would put the time more than two days ahead) or ISO 8601. Zones: UTC/GMT/Z, offsets
  (`+0100`, `GMT+08:00`), common abbreviations (CET, EST, PDT ...) and IANA names; no zone
  means UTC. An unreadable time rejects the record, with the field named.
- source_ref: `<vendor>|<product>|<device>|<externalId>` when `externalId` is present (the id
  is the device's own event counter: scoped to the device, two devices' ids never collide);
  else base.content_digest(line), so the same line delivered twice is the same alert.
- fingerprint: `cef:` + a digest of vendor, product, class id and the source/destination
  addresses and hosts.
- MITRE technique ids: from any extension field whose key, or whose custom-field label,
  mentions mitre / technique / att&ck.
- observables: src, dst, sourceTranslatedAddress, destinationTranslatedAddress, dvc,
  deviceTranslatedAddress, c6a1-c6a4 (ip); shost, dhost, dvchost (ip when an address, else
  hostname); sourceDnsDomain, destinationDnsDomain (domain); suser, duser (user, and email when
  they are addresses); request (url, with a scheme or as `host.tld/path`); fileHash,
  oldFileHash (hash, an `SHA256:` style prefix dropped); and from custom strings, values that
  are clearly an ip, a url, a hash or an email. Surrounding quotes are dropped and placeholders
  (`-`, `n/a`, `none`, `unknown` ...) are not observables.

Severity (the CEF standard's own bands, and its words):

    0-3 or Low -> low;  4-6 or Medium -> medium;  7-8 or High -> high;
    9-10 or Very-High -> critical;  Unknown, empty or unreadable -> medium.
    Below 0 counts as 0 and above 10 as 10; a fraction falls in the band of its value.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from .base import (
    MITRE_TECHNIQUE,
    BodyError,
    NormalizedAlert,
    Observable,
    RecordError,
    clip,
    content_digest,
    guess_observable,
    observables,
    parse_time,
    severity_from_scale,
)

KIND = "cef"
CONTENT_TYPES = frozenset({"text/plain"})

HEADER_FIELDS = (
    "version",
    "device_vendor",
    "device_product",
    "device_version",
    "device_event_class_id",
    "name",
    "severity",
)
SEVERITY_SCALE = [(9, "critical"), (7, "high"), (4, "medium"), (float("-inf"), "low")]
SEVERITY_WORDS = {
    "low": "low",
    "medium": "medium",
    "high": "high",
    "very-high": "critical",
    "very high": "critical",
    "veryhigh": "critical",
    "very_high": "critical",
    "unknown": "medium",
}
DEFAULT_SEVERITY = "medium"

# Full key names (the CEF dictionary's "full name") read as their short keys.
FULL_NAMES = {
    "deviceAction": "act",
    "applicationProtocol": "app",
    "deviceEventCategory": "cat",
    "destinationHostName": "dhost",
    "destinationAddress": "dst",
    "destinationUserName": "duser",
    "destinationPort": "dpt",
    "deviceAddress": "dvc",
    "deviceHostName": "dvchost",
    "endTime": "end",
    "fileName": "fname",
    "message": "msg",
    "deviceReceiptTime": "rt",
    "requestUrl": "request",
    "sourceHostName": "shost",
    "sourceAddress": "src",
    "sourcePort": "spt",
    "sourceUserName": "suser",
    "startTime": "start",
    "transportProtocol": "proto",
    **{f"deviceCustomString{n}": f"cs{n}" for n in range(1, 7)},
    **{f"deviceCustomString{n}Label": f"cs{n}Label" for n in range(1, 7)},
    **{f"deviceCustomNumber{n}": f"cn{n}" for n in range(1, 4)},
    **{f"deviceCustomNumber{n}Label": f"cn{n}Label" for n in range(1, 4)},
    **{f"deviceCustomIPv6Address{n}": f"c6a{n}" for n in range(1, 5)},
    **{f"deviceCustomIPv6Address{n}Label": f"c6a{n}Label" for n in range(1, 5)},
}
CUSTOM_FIELDS = (
    *(f"cs{n}" for n in range(1, 7)),
    *(f"cn{n}" for n in range(1, 4)),
    *(f"cfp{n}" for n in range(1, 5)),
    "flexString1",
    "flexString2",
    "flexNumber1",
    "flexNumber2",
    "deviceCustomDate1",
    "deviceCustomDate2",
)
IP_FIELDS = (
    "src",
    "dst",
    "sourceTranslatedAddress",
    "destinationTranslatedAddress",
    "dvc",
    "deviceTranslatedAddress",
    "c6a1",
    "c6a2",
    "c6a3",
    "c6a4",
)
HOST_FIELDS = ("shost", "dhost", "dvchost")
TIME_FIELDS = ("rt", "end", "start")

# A key: a word, optional ".sub" parts and an optional "[n]" index, then "=" (the Logstash
# codec's rule, which accepts the non-conforming keys real connectors emit). It starts the
# extension or follows whitespace.
_KEY = re.compile(r"(?:^|(?<=\s))(\w+(?:\.[^.=\s|\\\[\]]+)*(?:\[[0-9]+\])?)=")
_EXTENSION_ESCAPES = {"\\": "\\", "=": "=", "n": "\n", "r": "\r", "|": "|", "/": "/"}
_HEADER_ESCAPES = {"\\": "\\", "|": "|"}
_MITRE_HINT = re.compile(r"mitre|technique|att&ck|attack[ _-]?id", re.IGNORECASE)
_SCHEMELESS_URL = re.compile(r"(?:[a-z0-9-]+\.)+[a-z]{2,63}(?::\d+)?/\S*", re.IGNORECASE)
_SCHEME = re.compile(r"[a-z][a-z0-9+.-]*://", re.IGNORECASE)
_PLACEHOLDERS = frozenset({"", "-", "n/a", "na", "none", "null", "unknown", "(null)", "undefined"})


def records(body: bytes, content_type: str) -> list[Any]:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BodyError(f"The body is not valid UTF-8 (byte {exc.start}).") from None
    text = text.removeprefix("\ufeff")
    # Only LF (and CRLF) end a line: str.splitlines() would also split on U+2028, NEL, FF ...
    # which may legitimately appear inside a CEF value.
    lines = (line.removesuffix("\r") for line in text.split("\n"))
    return [line for line in lines if line.strip()]


def parse(record: Any) -> NormalizedAlert:
    if not isinstance(record, str):
        raise RecordError("each CEF record is one line of text")
    if "\x00" in record:
        raise RecordError("the line contains a NUL character")
    header, extension = split(record)
    fields = parse_extension(extension)
    vendor = header["device_vendor"].strip()
    product = header["device_product"].strip()
    class_id = header["device_event_class_id"].strip()
    name = header["name"].strip()

    title = name or class_id or (f"{vendor} {product} event".strip() if vendor or product else "")
    return NormalizedAlert(
        title=title,
        severity=severity(header["severity"]),
        raw=record,
        description=_description(header, fields),
        category=fields.get("cat", ""),
        observed_at=_observed_at(fields),
        source_ref=_source_ref(record, vendor, product, fields),
        fingerprint=_fingerprint(vendor, product, class_id or name, fields),
        rule_id=class_id,
        rule_name=name,
        mitre=_mitre(fields),
        tags=_tags(vendor, product, fields),
        observables=_observables(fields),
    )


# --- the format -----------------------------------------------------------------------------
def split(line: str) -> tuple[dict[str, str], str]:
    """The seven header fields (unescaped) and the extension (still escaped)."""
    start = line.find("CEF:")
    if start < 0:
        if "LEEF:" in line:
            raise RecordError("this is a LEEF record, not CEF")
        raise RecordError("not a CEF record: no 'CEF:' header found")
    prefix, text = line[:start], line[start + 4 :]
    if prefix.endswith('"') and text.endswith('"'):  # some connectors quote the whole record
        text = text[:-1]
    parts: list[str] = []
    current: list[str] = []
    index = 0
    while index < len(text) and len(parts) < 7:
        char = text[index]
        if char == "\\" and index + 1 < len(text) and text[index + 1] in _HEADER_ESCAPES:
            current.append(text[index + 1])
            index += 2
            continue
        if char == "|":
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
        index += 1
    if len(parts) == 7:
        extension = text[index:]
    elif len(parts) == 6:  # "...|Name|Severity" with no closing pipe and no extension
        parts.append("".join(current))
        extension = ""
    else:
        raise RecordError(
            f"truncated CEF header: {len(parts) + 1} of the 8 parts "
            "(Version|Vendor|Product|Version|Event Class ID|Name|Severity|Extension)"
        )
    version = parts[0].strip()
    if not re.fullmatch(r"[0-9]{1,3}", version):
        raise RecordError(f"CEF version must be a number, not {clip(repr(version), 20)}")
    parts[0] = version
    return dict(zip(HEADER_FIELDS, parts, strict=True)), extension


def parse_extension(extension: str) -> dict[str, str]:
    """key=value pairs; full key names are also stored under their short key."""
    fields: dict[str, str] = {}
    matches = list(_KEY.finditer(extension))
    for position, match in enumerate(matches):
        end = matches[position + 1].start() if position + 1 < len(matches) else len(extension)
        fields[match.group(1)] = unescape_value(extension[match.end() : end].strip())
    for full, short in FULL_NAMES.items():
        if full in fields and short not in fields:
            fields[short] = fields[full]
    return fields


def unescape_value(text: str) -> str:
    out: list[str] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char == "\\" and index + 1 < len(text):
            following = text[index + 1]
            if following in _EXTENSION_ESCAPES:
                out.append(_EXTENSION_ESCAPES[following])
                index += 2
                continue
        out.append(char)
        index += 1
    return "".join(out)


def severity(value: str) -> str:
    text = value.strip()
    if not text:
        return DEFAULT_SEVERITY
    word = SEVERITY_WORDS.get(text.lower())
    if word:
        return word
    try:
        number = float(text)
    except ValueError:
        return DEFAULT_SEVERITY
    if not math.isfinite(number):
        return DEFAULT_SEVERITY
    return severity_from_scale(number, SEVERITY_SCALE, DEFAULT_SEVERITY)


# --- times ----------------------------------------------------------------------------------
_MONTHS = {
    m: i
    for i, m in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"),
        start=1,
    )
}
_CEF_TIME = re.compile(
    r"(?P<month>[A-Za-z]{3})\s+(?P<day>\d{1,2})(?:\s+(?P<year>\d{4}))?\s+"
    r"(?P<hour>\d{1,2}):(?P<minute>\d{2}):(?P<second>\d{2})(?:\.(?P<fraction>\d{1,9}))?"
    r"(?:\s*(?P<zone>\S.*))?",
    re.ASCII,
)
_EPOCH = re.compile(r"[0-9]{1,20}(?:\.[0-9]{1,9})?")
_OFFSET = re.compile(r"(?:GMT|UTC|UT|Z)?\s*([+-])(\d{1,2})(?::?(\d{2}))?", re.IGNORECASE | re.ASCII)
_ZONE_HOURS = {
    "UTC": 0,
    "GMT": 0,
    "UT": 0,
    "Z": 0,
    "WET": 0,
    "WEST": 1,
    "BST": 1,
    "CET": 1,
    "CEST": 2,
    "MET": 1,
    "MEST": 2,
    "EET": 2,
    "EEST": 3,
    "MSK": 3,
    "JST": 9,
    "KST": 9,
    "HKT": 8,
    "SGT": 8,
    "AEST": 10,
    "AEDT": 11,
    "NZST": 12,
    "NZDT": 13,
    "EST": -5,
    "EDT": -4,
    "CST": -6,
    "CDT": -5,
    "MST": -7,
    "MDT": -6,
    "PST": -8,
    "PDT": -7,
    "AKST": -9,
    "AKDT": -8,
    "HST": -10,
}


def parse_cef_time(value: str, now: datetime | None = None) -> datetime:
    """One CEF timestamp (see the module docstring); RecordError when unreadable."""
    text = value.strip()
    try:
        if _EPOCH.fullmatch(text):
            return parse_time(float(text) if "." in text else int(text))
        match = _CEF_TIME.fullmatch(text)
        if match is None:
            return parse_time(text)  # ISO 8601 and its near forms, or RecordError
    except RecordError:
        raise
    except (OverflowError, ValueError):  # base.parse_time on a number beyond float
        raise RecordError(f"time {clip(text, 60)!r} is out of range") from None
    month = _MONTHS.get(match["month"].lower())
    if month is None:
        raise RecordError(f"time {clip(text, 60)!r}: unknown month {match['month']!r}")
    zone = _zone(match["zone"], text)
    fraction = (match["fraction"] or "0")[:6].ljust(6, "0")
    now = now or datetime.now(UTC)

    def build(year: int) -> datetime:
        return datetime(
            year,
            month,
            int(match["day"]),
            int(match["hour"]),
            int(match["minute"]),
            int(match["second"]),
            int(fraction),
            tzinfo=zone,
        )

    try:
        if match["year"]:
            return build(int(match["year"])).astimezone(UTC)
        # No year: this year, unless that is more than two days ahead (last year's event).
        stamp = build(now.year)
        if stamp > now + timedelta(days=2):
            stamp = build(now.year - 1)
        return stamp.astimezone(UTC)
    except (ValueError, OverflowError):
        raise RecordError(f"time {clip(text, 60)!r} is not a valid date") from None


def _zone(name: str | None, text: str):
    if not name:
        return UTC
    name = name.strip()
    hours = _ZONE_HOURS.get(name.upper())
    if hours is not None:
        return timezone(timedelta(hours=hours))
    offset = _OFFSET.fullmatch(name)
    if offset:
        sign = -1 if offset[1] == "-" else 1
        delta = timedelta(hours=int(offset[2]), minutes=int(offset[3] or 0))
        if delta < timedelta(hours=24):
            return timezone(sign * delta)
    elif "/" in name and len(name) <= 64:
        try:
            return ZoneInfo(name)
        except Exception:  # noqa: S110 - ZoneInfoNotFoundError, ValueError, OSError ...
            pass
    raise RecordError(f"time {clip(text, 60)!r}: unknown time zone {clip(name, 40)!r}")


def _observed_at(fields: dict[str, str]) -> datetime | None:
    for key in TIME_FIELDS:
        value = fields.get(key, "").strip()
        if value:
            try:
                return parse_cef_time(value).astimezone(UTC)
            except RecordError as exc:
                raise RecordError(f"{key}: {exc}") from None
            except (OverflowError, ValueError):  # astimezone at the edges of the calendar
                raise RecordError(f"{key}: time {clip(value, 60)!r} is out of range") from None
    return None


# --- mapping --------------------------------------------------------------------------------
def _labelled(fields: dict[str, str]) -> list[tuple[str, str, str]]:
    """(key, label, value) of the custom fields that are present."""
    found = []
    for key in CUSTOM_FIELDS:
        value = fields.get(key, "")
        if value.strip():
            found.append((key, fields.get(f"{key}Label", "").strip(), value))
    return found


def _description(header: dict[str, str], fields: dict[str, str]) -> str:
    lines = []
    message = fields.get("msg", "").strip()
    if message:
        lines.append(message)
    device = " ".join(
        part
        for part in (header["device_vendor"], header["device_product"], header["device_version"])
        if part.strip()
    )
    where = fields.get("dvchost") or fields.get("dvc")
    if device or where:
        lines.append(f"Device: {device}{f' ({where})' if where else ''}".strip())
    for key, title in (("act", "Action"), ("outcome", "Outcome"), ("reason", "Reason")):
        if fields.get(key, "").strip():
            lines.append(f"{title}: {fields[key].strip()}")
    for key, label, value in _labelled(fields):
        lines.append(f"{label or key}: {clip(value, 1000)}")
    return "\n".join(lines)


def _source_ref(line: str, vendor: str, product: str, fields: dict[str, str]) -> str:
    external = fields.get("externalId", "").strip()
    if not external:
        return content_digest(line)
    device = (
        fields.get("deviceExternalId") or fields.get("dvchost") or fields.get("dvc") or ""
    ).strip()
    ref = f"{vendor}|{product}|{device}|{external}"
    return ref if len(ref) <= 255 else content_digest(ref)


def _fingerprint(vendor: str, product: str, rule: str, fields: dict[str, str]) -> str:
    anchors = [fields.get(k, "").strip().lower() for k in ("src", "dst", "shost", "dhost")]
    key = json.dumps([vendor, product, rule, anchors], separators=(",", ":"))
    return "cef:" + hashlib.sha256(key.encode()).hexdigest()[:40]


def _mitre(fields: dict[str, str]) -> list[str]:
    found: list[str] = []
    for key, value in fields.items():
        label = fields.get(f"{key}Label", "") if key in CUSTOM_FIELDS else ""
        if _MITRE_HINT.search(key) or _MITRE_HINT.search(label):
            found.extend(MITRE_TECHNIQUE.findall(value.upper()))
    return found


def _tags(vendor: str, product: str, fields: dict[str, str]) -> list[str]:
    tags = ["cef"]
    if vendor:
        tags.append(f"vendor:{vendor}")
    if product:
        tags.append(f"product:{product}")
    if fields.get("act", "").strip():
        tags.append(f"action:{fields['act'].strip().lower()}")
    return tags


def _host(value: str) -> list[Observable]:
    return observables(("ip", value)) or observables(("hostname", value))


def _request(value: str) -> list[Observable]:
    if _SCHEME.match(value) or _SCHEMELESS_URL.fullmatch(value):
        return observables(("url", value))
    return []


def _hash(value: str) -> list[Observable]:
    # "SHA256:ab12..." / "md5=..." style prefixes seen in the wild
    return observables(("hash", re.split(r"[:=]", value.strip())[-1].strip()))


def _value(fields: dict[str, str], key: str) -> str:
    """A field's value for use as an observable: unquoted, and empty for placeholders."""
    value = fields.get(key, "").strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        value = value[1:-1].strip()
    return "" if value.lower() in _PLACEHOLDERS else value


def _observables(fields: dict[str, str]) -> list[Observable]:
    found = observables(*(("ip", _value(fields, key)) for key in IP_FIELDS))
    for key in HOST_FIELDS:
        value = _value(fields, key)
        if value and not any(c.isspace() for c in value):
            found += _host(value)
    for key in ("sourceDnsDomain", "destinationDnsDomain"):
        found += observables(("domain", _value(fields, key)))
    for key in ("suser", "duser"):
        value = _value(fields, key)
        found += observables(("user", value), ("email", value))
    found += _request(_value(fields, "request"))
    for key in ("fileHash", "oldFileHash"):
        value = _value(fields, key)
        if value:
            found += _hash(value)
    for key, _label, _raw in _labelled(fields):
        guessed = guess_observable(_value(fields, key))
        if guessed is not None and guessed.type in ("ip", "url", "hash", "email"):
            found.append(guessed)
    return found
