"""Elastic Security detection alerts, as a Kibana rule action (Webhook connector) sends them.

One alert is the alert document of the `.alerts-security.alerts-*` index: the `kibana.alert.*`
fields written by the detection engine plus the ECS fields of the source event, e.g.

    {"@timestamp": "...", "kibana.alert.uuid": "3390cb...", "kibana.alert.rule.name": "...",
     "kibana.alert.rule.uuid": "...", "kibana.alert.rule.rule_id": "...",
     "kibana.alert.severity": "high", "kibana.alert.risk_score": 73,
     "kibana.alert.reason": "...", "kibana.alert.original_time": "...",
     "kibana.alert.rule.threat": [{"tactic": {...}, "technique": [{"id": "T1059",
                                   "subtechnique": [{"id": "T1059.001"}]}]}],
     "host": {"name": ..., "ip": [...]}, "source": {"ip": ...}, "user": {"name": ...}, ...}

Fields may arrive dotted-flat ("kibana.alert.rule.name": ...), nested ({"kibana": {"alert":
...}}: what Kibana hands to action templates) or mixed; `fields` values may be one-element
lists. Elastic 7.x `signal.*` documents (signal.rule.name, signal.rule.severity ...) are read
the same way.

Body: one JSON object, a JSON array or NDJSON, each item either an alert document or one of
these wrappers, which `records` opens into the alerts they carry:
    {"alerts": [<alert>, ...]}                      body template {"alerts": {{{context.alerts}}}}
    {"context": {"alerts": [<alert>, ...]}, ...}    the rule's whole action context
    {"alerts": {"all": {"data": [...]}, ...}}       a summary action (alerts.all.data, else
                                                    alerts.new.data + alerts.ongoing.data)
A search hit ({"_id", "_index", "_source": <alert>}) is read as its `_source` (or its `fields`
when it has no `_source`); the raw payload stays the record as received.

Severity: `kibana.alert.severity` (the rule's severity, or what its severity mapping chose for
this alert) is already on the portal's scale: low, medium, high, critical. Without it, the
risk score (0-100) is banded as Elastic's UI bands it: 0-21 low, 22-47 medium, 48-73 high,
74-100 critical. Elastic has no informational severity; building-block alerts
(`kibana.alert.building_block_type`), which Elastic itself hides from the alerts table because
they only feed other rules, are `info` and tagged `building_block`. No severity and no risk
score: medium.

Identity: `source_ref` is `kibana.alert.uuid` (for a 7.x signal, the hit's `_id`). `rule_id`
is the rule's static `rule_id` (the same for a prebuilt rule in every customer's Kibana), else
the rule's saved-object uuid. `fingerprint` is that rule on one `host.name`; without a host
name the default applies.

Observed time: `kibana.alert.original_time` (when the source event happened), else
`@timestamp` (when the alert was written). Category: the first MITRE tactic's name, else the
source event's `event.category`. MITRE: threat technique and subtechnique ids, plus Sigma-style
rule tags ("attack.t1558"). Observables: host.name/hostname/ip, source/destination/client/server
ip and domain, user.name and user.target.name, url.full/original (absolute only) and url.domain,
dns.question.name, file/process/parent process/dll and email attachment hashes, email
from/to/cc/sender/reply-to addresses, related.ip/user/hash. Loopback and unspecified addresses
(Elastic Defend lists 127.0.0.1 and ::1 in host.ip) are dropped.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime
from typing import Any

from .base import (
    DEFAULT_CONTENT_TYPES,
    NormalizedAlert,
    Observable,
    RecordError,
    dig,
    json_records,
    observables,
    optional_text,
    parse_time_field,
    party_addresses,
    severity_from_scale,
    strings,
)

KIND = "elastic"
CONTENT_TYPES = DEFAULT_CONTENT_TYPES

SEVERITIES = ("low", "medium", "high", "critical")
RISK_SCALE = [(74, "critical"), (48, "high"), (22, "medium"), (float("-inf"), "low")]

_TECHNIQUE = re.compile(r"T\d{4}(?:\.\d{3})?")
_SIGMA_TAG = re.compile(r"(?<![a-z0-9])attack\.(t\d{4}(?:\.\d{3})?)(?![0-9])", re.IGNORECASE)
_URL = re.compile(r"[a-z][a-z0-9+.-]*://\S+", re.IGNORECASE)
_HASHES = ("md5", "sha1", "sha256", "sha512")


def records(body: bytes, content_type: str) -> list[Any]:
    opened: list[Any] = []
    for item in json_records(body, content_type):
        opened.extend(_documents(item))
    return opened


def _documents(item: Any) -> list[Any]:
    """The alert documents a webhook body item carries: itself, or its wrapper's alerts."""
    if not isinstance(item, dict):
        return [item]
    for path in ("alerts", "context.alerts"):
        carried = dig(item, path)
        if isinstance(carried, list):
            return carried
    summary = item.get("alerts")
    if isinstance(summary, dict):
        everything = dig(summary, "all.data")
        if isinstance(everything, list):
            return everything
        parts = [dig(summary, f"{kind}.data") for kind in ("new", "ongoing")]
        if any(isinstance(part, list) for part in parts):
            return [alert for part in parts if isinstance(part, list) for alert in part]
    return [item]


def parse(record: Any) -> NormalizedAlert:
    if isinstance(record, RecordError):  # an NDJSON line that was not JSON
        raise record
    if not isinstance(record, dict):
        raise RecordError("each Elastic Security alert is a JSON object")
    doc = _document(record)
    name = _required_text(doc, ("kibana.alert.rule.name", "signal.rule.name"))
    uuid = _optional_text(doc, "kibana.alert.uuid")
    if not uuid and doc is not record:  # a 7.x signal read back from the index: its _id
        uuid = _optional_text(record, "_id")
    rule_id = _text(_field(doc, "kibana.alert.rule.rule_id", "signal.rule.rule_id")) or _text(
        _field(doc, "kibana.alert.rule.uuid", "signal.rule.id")
    )
    building_block = bool(_text(_field(doc, "kibana.alert.building_block_type")))
    threat = _field(doc, "kibana.alert.rule.threat", "signal.rule.threat")
    rule_tags = _strings(_field(doc, "kibana.alert.rule.tags", "signal.rule.tags"))
    host_name = _text(dig(doc, "host.name"))

    return NormalizedAlert(
        title=name,
        severity="info" if building_block else _severity(doc),
        raw=record,
        description=_description(doc),
        category=_category(doc, threat),
        observed_at=_observed_at(doc),
        source_ref=uuid,
        fingerprint=_fingerprint(rule_id or name, host_name),
        rule_id=rule_id,
        rule_name=name,
        mitre=_techniques(threat, rule_tags),
        tags=rule_tags + (["building_block"] if building_block else []),
        observables=_observables(doc),
    )


def _document(record: dict) -> dict:
    """The alert document: a search hit's `_source` (or `fields`), else the record."""
    if isinstance(record.get("_source"), dict):
        return record["_source"]
    if isinstance(record.get("fields"), dict) and ("_id" in record or "_index" in record):
        return record["fields"]
    return record


def _field(doc: dict, *paths: str) -> Any:
    for path in paths:
        value = dig(doc, path)
        if value is not None:
            return value
    return None


def _first(value: Any) -> Any:
    """A `fields`-style one-element list stands for its element."""
    return value[0] if isinstance(value, list) and value else value


def _text(value: Any) -> str:
    value = _first(value)
    return value.strip() if isinstance(value, str) else ""


def _required_text(doc: dict, paths: tuple[str, ...]) -> str:
    value = _first(_field(doc, *paths))
    if not isinstance(value, str) or not value.strip():
        raise RecordError(f"{paths[0]} is required (the detection rule's name, a string)")
    return value.strip()


def _optional_text(doc: dict, path: str) -> str:
    return optional_text(_first(dig(doc, path)), path)


_strings = strings  # base.strings: one string or a list of them


def _severity(doc: dict) -> str:
    named = _text(
        _field(doc, "kibana.alert.severity", "kibana.alert.rule.severity", "signal.rule.severity")
    ).lower()
    if named in SEVERITIES:
        return named
    risk = _first(
        _field(
            doc, "kibana.alert.risk_score", "kibana.alert.rule.risk_score", "signal.rule.risk_score"
        )
    )
    if isinstance(risk, bool) or not isinstance(risk, int | float | str):
        return "medium"
    try:
        score = float(risk)
    except (ValueError, OverflowError):
        return "medium"
    if score != score:  # NaN
        return "medium"
    return severity_from_scale(score, RISK_SCALE, "medium")


def _description(doc: dict) -> str:
    reason = _text(_field(doc, "kibana.alert.reason", "signal.reason"))
    about = _text(_field(doc, "kibana.alert.rule.description", "signal.rule.description"))
    return "\n\n".join(part for part in (reason, about) if part)


def _observed_at(doc: dict) -> datetime | None:
    for path in ("kibana.alert.original_time", "signal.original_time", "@timestamp"):
        value = _first(dig(doc, path))
        if value not in (None, ""):
            return _moment(value, path)
    return None


_moment = parse_time_field  # base.parse_time (UTC), failures name the field


def _threats(threat: Any) -> list[dict]:
    items = threat if isinstance(threat, list) else [threat]
    return [item for item in items if isinstance(item, dict)]


def _category(doc: dict, threat: Any) -> str:
    for item in _threats(threat):
        tactic = _text(dig(item, "tactic.name"))
        if tactic:
            return tactic
    return _text(
        _field(doc, "kibana.alert.original_event.category", "signal.original_event.category")
    ) or _text(dig(doc, "event.category"))


def _techniques(threat: Any, tags: list[str]) -> list[str]:
    found: list[str] = []
    for item in _threats(threat):
        for technique in _threats(item.get("technique")):
            found.extend(_technique_id(technique))
            for subtechnique in _threats(technique.get("subtechnique")):
                found.extend(_technique_id(subtechnique))
    for tag in tags:
        found.extend(match.upper() for match in _SIGMA_TAG.findall(tag))
    return found


def _technique_id(entry: dict) -> list[str]:
    text = _text(entry.get("id")).upper()
    return [text] if _TECHNIQUE.fullmatch(text) else []


def _fingerprint(rule: str, host_name: str) -> str:
    if not host_name:
        return ""
    key = json.dumps(["elastic", rule, host_name.lower()], separators=(",", ":"))
    return hashlib.sha256(key.encode()).hexdigest()[:40]


def _observables(doc: dict) -> list[Observable]:
    def values(*paths: str) -> list[str]:
        return [
            text
            for path in paths
            for text in _strings(dig(doc, path))
            if text not in ("-", "unknown")
        ]

    hash_paths = [
        f"{entity}.hash.{kind}"
        for entity in ("file", "process", "process.parent", "dll")
        for kind in _HASHES
    ]
    attachments = [
        text
        for attachment in _threats(dig(doc, "email.attachments"))
        for kind in _HASHES
        for text in _strings(dig(attachment, f"file.hash.{kind}"))
    ]
    return observables(
        ("hostname", values("host.name", "host.hostname")),
        (
            "ip",
            party_addresses(
                values(
                    "host.ip",
                    "source.ip",
                    "destination.ip",
                    "client.ip",
                    "server.ip",
                    "related.ip",
                )
            ),
        ),
        ("domain", values("source.domain", "destination.domain", "url.domain")),
        ("domain", values("dns.question.name")),
        ("user", values("user.name", "user.target.name", "related.user")),
        ("url", [url for url in values("url.full", "url.original") if _URL.fullmatch(url)]),
        ("hash", values(*hash_paths, "related.hash") + attachments),
        (
            "email",
            values(
                "email.from.address",
                "email.sender.address",
                "email.to.address",
                "email.cc.address",
                "email.reply_to.address",
            ),
        ),
    )
