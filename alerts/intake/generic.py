"""The portal's own format (CONTRACT.md, "generic"):

    {"title": str, "severity": "info|low|medium|high|critical",     (required)
     "description", "category", "observed_at" (ISO 8601), "source_ref", "fingerprint",
     "observables": [{"type", "value"}], "mitre": ["T1059.001"], "tags": [...], "raw": any}

Severity is taken as given (it is already the portal's scale). Unknown fields are kept: the
whole record is the raw payload.
"""

from __future__ import annotations

from typing import Any

from .base import (
    DEFAULT_CONTENT_TYPES,
    OBSERVABLE_TYPES,
    SEVERITIES,
    NormalizedAlert,
    RecordError,
    json_records,
    normalise_observable,
    parse_time,
)

KIND = "generic"
CONTENT_TYPES = DEFAULT_CONTENT_TYPES
records = json_records


def _strings(record: dict, name: str) -> list[str]:
    value = record.get(name, [])
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise RecordError(f"{name} must be a list of strings")
    return value


def parse(record: Any) -> NormalizedAlert:
    if not isinstance(record, dict):
        raise RecordError("each alert is a JSON object")
    title = record.get("title")
    if not isinstance(title, str) or not title.strip():
        raise RecordError("title is required (a non-empty string)")
    severity = record.get("severity")
    if severity not in SEVERITIES:
        raise RecordError(f"severity is required, one of {', '.join(SEVERITIES)}")
    for name in ("description", "category", "source_ref", "fingerprint"):
        if record.get(name) is not None and not isinstance(record[name], str | int):
            raise RecordError(f"{name} must be a string")
    found = []
    raw_observables = record.get("observables") or []
    if not isinstance(raw_observables, list):
        raise RecordError('observables must be a list of {"type", "value"} objects')
    for index, item in enumerate(raw_observables):
        if not isinstance(item, dict) or item.get("type") not in OBSERVABLE_TYPES:
            raise RecordError(
                f"observables[{index}]: type must be one of {', '.join(OBSERVABLE_TYPES)}"
            )
        observable = normalise_observable(item["type"], item.get("value"))
        if observable is None:
            raise RecordError(
                f"observables[{index}]: {item.get('value')!r} is not a valid {item['type']}"
            )
        found.append(observable)
    return NormalizedAlert(
        title=title,
        severity=severity,
        raw=record,
        description=str(record.get("description") or ""),
        category=str(record.get("category") or ""),
        observed_at=parse_time(record.get("observed_at")),
        source_ref=str(record.get("source_ref") or ""),
        fingerprint=str(record.get("fingerprint") or ""),
        mitre=_strings(record, "mitre"),
        tags=_strings(record, "tags"),
        observables=found,
        rule_id=str(record.get("rule_id") or ""),
        rule_name=str(record.get("rule_name") or ""),
    )
