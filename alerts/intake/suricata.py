"""Suricata EVE JSON `alert` records, as Suricata writes them to eve.json (one JSON object a
line) and as shippers forward them:

    {"timestamp": "2026-11-27T10:15:32.123456+0000", "flow_id": 1234, "in_iface": "eth0",
     "event_type": "alert", "src_ip", "src_port", "dest_ip", "dest_port", "proto", "app_proto",
     "alert": {"action": "allowed|blocked", "gid", "signature_id", "rev", "signature",
               "category", "severity": 1..4, "metadata": {"mitre_technique_id": [...], ...}},
     "http": {...}, "dns": {...}, "tls": {...}, "fileinfo": {...}, "email": {...},
     "host": "<sensor-name>"}

Body: NDJSON (`application/x-ndjson`, eve.json as written), a JSON array or one object. A body
sent as `application/json` that is really NDJSON (several lines, one object each) is read as
NDJSON too: shippers often label eve.json lines that way.

Only `event_type: "alert"` records are alerts; flow, dns, http, stats, anomaly ... records are
rejected one by one (the rest of the batch is kept), so an eve.json shipped unfiltered is
usable but the sender is told what to filter.

Severity: `alert.severity` is the rule's priority (classification.config), 1 = most urgent.

    1 -> high      (trojan-activity, attempted-admin, web-application-attack ...)
    2 -> medium    (attempted-recon, bad-unknown, policy violations ...)
    3 -> low       (misc-activity, not-suspicious, protocol-command-decode ...)
    4 and above -> info   (tcp-connection and custom low priorities)
    missing or not a number -> medium (unknown, so neither ignored nor paged)

A priority 1 signature is a network-level match, not a confirmed compromise, and ET Open/Pro
put whole families of noisy rules at priority 1, so it maps to `high`; it is raised to
`critical` only when the rule's own metadata says so (ET `signature_severity: Critical`).

Identity: EVE has no alert id. `source_ref` is `<flow_id>:<signature_id>:<timestamp>`: the same
EVE line shipped twice is the same alert, two alerts of one flow (different signatures or
times) are not. An alert without flow_id (packet/decoder alerts) uses base.content_digest.
`fingerprint` (incident grouping) is the signature with its source and destination address:
`suricata:<gid>:<sid>:<src_ip>-><dest_ip>`.

MITRE: `alert.metadata.mitre_technique_id` (ET rules carry it; values are lists of strings).
Observables: src_ip/dest_ip, alert.source/target ip, http hostname + full URL, tls sni, dns
query and answer names/addresses, fileinfo (and Suricata 7 `files`) hashes, email from/to.
The sensor (`host`) is kept as a tag (`sensor:<name>`), not as an observable: it reports the
traffic, it is not part of it.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import UTC, datetime
from typing import Any

from .base import (
    DEFAULT_CONTENT_TYPES,
    MITRE_TECHNIQUE,
    BodyError,
    NormalizedAlert,
    Observable,
    RecordError,
    clip,
    content_digest,
    json_records,
    observables,
    parse_time,
    severity_from_scale,
)

KIND = "suricata"
CONTENT_TYPES = DEFAULT_CONTENT_TYPES

# alert.severity is a priority (lower is more urgent): compare its negation against the scale.
_PRIORITY_SCALE = [(-1, "high"), (-2, "medium"), (-3, "low"), (float("-inf"), "info")]
_DEFAULT_SEVERITY = "medium"
_DIGITS = re.compile(r"[0-9]{1,18}")  # not str.isdigit(): "²" is a digit to it, not to int()


def records(body: bytes, content_type: str) -> list[Any]:
    try:
        return json_records(body, content_type)
    except BodyError:
        # eve.json lines posted as application/json: read them as NDJSON when every line is
        # an object of its own; otherwise the original error stands.
        lines = [line for line in body.splitlines() if line.strip()]
        if content_type == "application/json" and len(lines) > 1:
            batch = json_records(body, "application/x-ndjson")
            if any(not isinstance(item, RecordError) for item in batch):
                return batch
        raise


def parse(record: Any) -> NormalizedAlert:
    if isinstance(record, RecordError):  # an NDJSON line that was not JSON
        raise record
    if not isinstance(record, dict):
        raise RecordError("each Suricata record is an EVE JSON object")
    event_type = record.get("event_type")
    if event_type != "alert":
        if event_type is None:
            raise RecordError('event_type is missing: only EVE "alert" records are alerts')
        raise RecordError(
            f"event_type {clip(event_type, 50)!r} is not an alert: send only EVE records with "
            'event_type "alert" (filter flow, dns, stats ... records out)'
        )
    alert = record.get("alert")
    if not isinstance(alert, dict):
        raise RecordError('an EVE alert record needs an "alert" object')

    sid = _integer(alert.get("signature_id"), "alert.signature_id")
    gid = _lenient_integer(alert.get("gid"))
    signature = alert.get("signature")
    if signature is not None and not isinstance(signature, str):
        raise RecordError("alert.signature must be a string")
    if not (signature and signature.strip()) and sid is None:
        raise RecordError("alert.signature or alert.signature_id is required")
    title = signature.strip() if signature and signature.strip() else f"Suricata signature {sid}"

    timestamp = record.get("timestamp")
    try:
        observed_at = _utc(parse_time(timestamp))
    except RecordError as exc:
        raise RecordError(f"timestamp: {exc}") from None
    except (OverflowError, ValueError):  # base.parse_time on a huge integer
        raise RecordError(f"timestamp: {clip(repr(timestamp), 40)} is out of range") from None
    metadata = alert.get("metadata") if isinstance(alert.get("metadata"), dict) else {}

    src_ip = _ip(record.get("src_ip"))
    dest_ip = _ip(record.get("dest_ip"))
    flow_id = record.get("flow_id")
    if isinstance(flow_id, int | str) and not isinstance(flow_id, bool) and str(flow_id):
        source_ref = f"{flow_id}:{sid if sid is not None else ''}:{clip(timestamp, 64)}"
    else:
        source_ref = content_digest(record)

    return NormalizedAlert(
        title=title,
        severity=_severity(alert.get("severity"), metadata),
        raw=record,
        description=_description(record, alert, title, sid),
        category=_text(alert.get("category")),
        observed_at=observed_at,
        source_ref=source_ref,
        fingerprint=_fingerprint(gid, sid, title, src_ip, dest_ip),
        rule_id=str(sid) if sid is not None else "",
        rule_name=title,
        mitre=_mitre(metadata),
        tags=_tags(record, alert, metadata),
        observables=_observables(record, alert),
    )


# --- helpers --------------------------------------------------------------------------------
def _utc(value: datetime | None) -> datetime | None:
    """parse_time keeps the sender's offset; the portal stores UTC."""
    if value is None:
        return None
    try:
        return value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise RecordError(f"time {value.isoformat()} is out of range") from None


def _fingerprint(gid: int | None, sid: int | None, title: str, src: str, dest: str) -> str:
    rule = f"{gid if gid is not None else 1}:{sid}" if sid is not None else title
    return f"suricata:{rule}:{src}->{dest}"


def _integer(value: Any, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise RecordError(f"{name} must be a number")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _DIGITS.fullmatch(value.strip()):
        return int(value.strip())
    raise RecordError(f"{name} must be a number, not {clip(repr(value), 40)}")


def _lenient_integer(value: Any) -> int | None:
    try:
        return _integer(value, "")
    except RecordError:
        return None


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _strings(value: Any) -> list[str]:
    """EVE metadata values are lists of strings; tolerate a bare string."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str)]
    return []


def _ip(value: Any) -> str:
    if not isinstance(value, str):
        return ""
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return clip(value, 64)


def _severity(value: Any, metadata: dict) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return _DEFAULT_SEVERITY
    if not _is_number(value):
        return _DEFAULT_SEVERITY
    severity = severity_from_scale(-float(value), _PRIORITY_SCALE, _DEFAULT_SEVERITY)
    rated = {s.strip().lower() for s in _strings(metadata.get("signature_severity"))}
    if severity == "high" and "critical" in rated:
        return "critical"
    return severity


def _is_number(value: Any) -> bool:
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: an integer beyond float
        return False
    return number == number and number not in (float("inf"), float("-inf"))


def _mitre(metadata: dict) -> list[str]:
    found = []
    for value in _strings(metadata.get("mitre_technique_id")):
        found.extend(MITRE_TECHNIQUE.findall(value.upper()))
    return found


def _tags(record: dict, alert: dict, metadata: dict) -> list[str]:
    tags = ["suricata"]
    action = _text(alert.get("action"))
    if action:
        tags.append(f"action:{action.lower()}")
    app_proto = _text(record.get("app_proto"))
    if app_proto and app_proto != "failed":
        tags.append(f"app_proto:{app_proto.lower()}")
    sensor = _text(record.get("host"))
    if sensor:
        tags.append(f"sensor:{sensor}")
    for family in _strings(metadata.get("malware_family"))[:5]:
        tags.append(f"malware_family:{family}")
    return tags


def _endpoint(ip: Any, port: Any) -> str:
    text = clip(ip, 64) if isinstance(ip, str) else "?"
    if isinstance(port, int) and not isinstance(port, bool):
        return f"[{text}]:{port}" if ":" in text else f"{text}:{port}"
    return text


def _description(record: dict, alert: dict, title: str, sid: int | None) -> str:
    lines = [title]
    rule = f"sid {sid}" if sid is not None else "sid ?"
    rev = _lenient_integer(alert.get("rev"))
    if rev is not None:
        rule += f" rev {rev}"
    category = _text(alert.get("category"))
    lines.append(f"{rule}; {category}" if category else rule)
    proto = _text(record.get("proto")) or "?"
    lines.append(
        f"{proto} {_endpoint(record.get('src_ip'), record.get('src_port'))} -> "
        f"{_endpoint(record.get('dest_ip'), record.get('dest_port'))}"
    )
    http = record.get("http") if isinstance(record.get("http"), dict) else {}
    url = _http_url(http)
    if url:
        method = _text(http.get("http_method"))
        lines.append(f"HTTP {method + ' ' if method else ''}{url}")
    agent = _text(http.get("http_user_agent"))
    if agent:
        lines.append(f"User-Agent: {clip(agent, 500)}")
    sni = _text(_dict(record.get("tls")).get("sni"))
    if sni:
        lines.append(f"TLS SNI: {clip(sni, 255)}")
    names = _dns_names(_dict(record.get("dns")))
    if names:
        lines.append(f"DNS: {', '.join(clip(n, 255) for n in names[:5])}")
    for fileinfo in _files(record)[:5]:
        filename = _text(fileinfo.get("filename"))
        if filename:
            lines.append(f"File: {clip(filename, 500)}")
    action = _text(alert.get("action"))
    if action:
        lines.append(f"Action: {action}")
    return "\n".join(lines)


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _files(record: dict) -> list[dict]:
    """`fileinfo` (one file) and Suricata 7's `files` (the transaction's files) in alerts."""
    files = [record["fileinfo"]] if isinstance(record.get("fileinfo"), dict) else []
    if isinstance(record.get("files"), list):
        files += [f for f in record["files"] if isinstance(f, dict)]
    return files[:50]


_SCHEME = re.compile(r"[a-z][a-z0-9+.-]*://", re.IGNORECASE)


def _http_url(http: dict) -> str:
    """http.url is the request target (usually a path); make it a full URL with the Host."""
    url = _text(http.get("url"))
    hostname = _text(http.get("hostname"))
    if url and _SCHEME.match(url):
        return url  # absolute-form (proxy) request
    if not hostname:
        return ""
    host = f"[{hostname}]" if ":" in hostname and not hostname.startswith("[") else hostname
    port = http.get("http_port")
    if isinstance(port, int) and not isinstance(port, bool) and port not in (80, 443):
        host = f"{host}:{port}"
    if url and not url.startswith("/"):
        url = "/" + url
    return f"http://{host}{url or '/'}"


def _host_observable(value: Any) -> list[Observable]:
    """A host name or address from the wire: ip, else domain, else hostname."""
    found = observables(("ip", value))
    if found:
        return found
    return observables(("domain", value)) or observables(("hostname", value))


def _dns_names(dns: dict) -> list[str]:
    names = []
    if isinstance(dns.get("rrname"), str):
        names.append(dns["rrname"])
    for key in ("query", "queries", "answers"):
        items = dns.get(key)
        if isinstance(items, list):
            names.extend(
                i["rrname"]
                for i in items
                if isinstance(i, dict) and isinstance(i.get("rrname"), str)
            )
    return names


def _dns_answers(dns: dict) -> list[str]:
    data = []
    if isinstance(dns.get("rdata"), str):
        data.append(dns["rdata"])
    answers = dns.get("answers")
    if isinstance(answers, list):
        data.extend(
            a["rdata"] for a in answers if isinstance(a, dict) and isinstance(a.get("rdata"), str)
        )
    grouped = dns.get("grouped")
    if isinstance(grouped, dict):
        for rrtype in ("A", "AAAA", "CNAME"):
            data.extend(_strings(grouped.get(rrtype)))
    return data


def _observables(record: dict, alert: dict) -> list[Observable]:
    found = observables(("ip", record.get("src_ip")), ("ip", record.get("dest_ip")))
    for side in ("source", "target"):
        found += observables(("ip", _dict(alert.get(side)).get("ip")))
    http = _dict(record.get("http"))
    found += _host_observable(http.get("hostname"))
    url = _http_url(http)
    if url:
        found += observables(("url", url))
    found += _host_observable(_dict(record.get("tls")).get("sni"))
    dns = _dict(record.get("dns"))
    for name in _dns_names(dns) + _dns_answers(dns):
        found += _host_observable(name)
    for fileinfo in _files(record):
        found += observables(*(("hash", fileinfo.get(k)) for k in ("md5", "sha1", "sha256")))
    email = _dict(record.get("email"))
    for key in ("from", "to", "cc"):
        for value in _strings(email.get(key)):
            address = value.rsplit("<", 1)[-1].rstrip(">").strip()
            found += observables(("email", address))
    return found
