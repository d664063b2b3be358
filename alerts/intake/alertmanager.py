"""Prometheus Alertmanager webhook notifications (webhook_config, payload version "4"):

    {"version": "4", "groupKey": "{}:{alertname=\\"X\\"}", "truncatedAlerts": 0,
     "status": "firing|resolved", "receiver": "...", "groupLabels": {...},
     "commonLabels": {...}, "commonAnnotations": {...}, "externalURL": "http://am:9093",
     "alerts": [{"status": "firing|resolved",
                 "labels": {"alertname", "severity", "instance", "job", ...},
                 "annotations": {"summary", "description", "runbook_url", ...},
                 "startsAt": RFC 3339, "endsAt": RFC 3339, "generatorURL": "...",
                 "fingerprint": "<16 hex>"}]}

`records()` expands a webhook into one record per alert:
`{"alert": <the alert exactly as received>, "webhook": <the notification without its alerts
array>}`; that record is the alert's `raw`. A body may also be a JSON array or NDJSON of
webhooks (a replayed log); every one must be a version "4" webhook, else the body is refused
(BodyError): a wrong version means a misconfigured sender, not one bad alert.

Mapping, per alert:
- title: `<alertname>: <summary>` (annotations.summary, else the older `message`), or the
  alertname alone.
- description: annotations.description (or `message`), then the runbook link.
- category: always "availability": Alertmanager carries infrastructure/availability signals,
  which the NOC handles.
- observed_at: startsAt. status: the alert's own status ("firing" or "resolved"); a resolved
  alert carries ends_at = endsAt. A firing alert's endsAt is only Alertmanager's expiry guess
  (or 0001-01-01), so it is ignored.
- source_ref: `<fingerprint>:<startsAt>`, so a redelivered notification is a duplicate and
  the `resolved` notification of the same firing refers to the same source_ref (and updates
  it), while the same alert firing again later (new startsAt) is a new alert. Without a
  fingerprint (very old Alertmanager, hand-written senders) a digest of the label set stands
  in for it.
- fingerprint (incident grouping): `alertmanager:<fingerprint>`: Alertmanager's fingerprint is
  the hash of the label set, i.e. "the same alert on the same target".
- rule_id / rule_name: labels.alertname.
- observables: the target named by the labels `instance`, `exported_instance`, `target`,
  `host`, `hostname`, `node`, `nodename`, `ip`, `address`, `url`: a URL stays a url (and
  yields its host), `host:port` loses the port and becomes an ip or a hostname. Links that point
  back at the monitoring system itself (generatorURL, externalURL, runbook_url, silenceURL) are
  not observables: they are not what the alert is about.

Severity, from labels.severity (case-insensitive; the Prometheus convention is
critical/warning/info/none, and Grafana/PagerDuty-style rule sets add the others):

    critical, crit, page, emergency, emerg, alert, fatal, disaster  -> critical
    error, err, high, major                                          -> high
    warning, warn, medium, average                                   -> medium
    minor, low                                                       -> low
    info, informational, notice, none, debug, ok                     -> info
    missing or anything else                                         -> medium

`none` is the convention for always-firing meta-alerts (Watchdog, InfoInhibitor), hence info.
An unknown word maps to medium: it is neither dropped nor allowed to page anyone.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from .base import (
    DEFAULT_CONTENT_TYPES,
    BodyError,
    NormalizedAlert,
    Observable,
    RecordError,
    clip,
    content_digest,
    json_records,
    observables,
    parse_time,
)

KIND = "alertmanager"
CONTENT_TYPES = DEFAULT_CONTENT_TYPES
VERSION = "4"
CATEGORY = "availability"
DEFAULT_SEVERITY = "medium"

SEVERITY_MAP = {
    **dict.fromkeys(
        ("critical", "crit", "page", "emergency", "emerg", "alert", "fatal", "disaster"),
        "critical",
    ),
    **dict.fromkeys(("error", "err", "high", "major"), "high"),
    **dict.fromkeys(("warning", "warn", "medium", "average"), "medium"),
    **dict.fromkeys(("minor", "low"), "low"),
    **dict.fromkeys(("info", "informational", "notice", "none", "debug", "ok"), "info"),
}

_TARGET_LABELS = (
    "instance",
    "exported_instance",
    "target",
    "host",
    "hostname",
    "node",
    "nodename",
    "ip",
    "address",
    "url",
)
_CONTEXT_KEYS = (
    "version",
    "groupKey",
    "truncatedAlerts",
    "status",
    "receiver",
    "groupLabels",
    "commonLabels",
    "commonAnnotations",
    "externalURL",
)
_SCHEME = re.compile(r"[a-z][a-z0-9+.-]*://", re.IGNORECASE)
_ZERO_TIME_YEAR = 1  # Go's zero time.Time, "0001-01-01T00:00:00Z": "no end"


def records(body: bytes, content_type: str) -> list[Any]:
    documents = json_records(body, content_type)
    expanded: list[Any] = []
    several = len(documents) > 1
    for number, webhook in enumerate(documents, start=1):
        where = f"webhook {number}: " if several else ""
        if isinstance(webhook, RecordError):  # an NDJSON line that was not JSON
            expanded.append(webhook)
            continue
        if not isinstance(webhook, dict):
            raise BodyError(f"{where}an Alertmanager webhook notification is a JSON object")
        version = webhook.get("version")
        if version != VERSION:
            shown = "missing" if version is None else repr(clip(version, 20))
            raise BodyError(
                f'{where}webhook payload version is {shown}; only Alertmanager webhook version "4"'
                " is supported"
            )
        alerts = webhook.get("alerts")
        if not isinstance(alerts, list):
            raise BodyError(f'{where}"alerts" must be a list of alerts')
        context = {key: webhook[key] for key in _CONTEXT_KEYS if key in webhook}
        for alert in alerts:
            expanded.append({"alert": alert, "webhook": context})
    return expanded


def parse(record: Any) -> NormalizedAlert:
    if isinstance(record, RecordError):
        raise record
    if not isinstance(record, dict) or "alert" not in record:
        raise RecordError("not an Alertmanager alert record (expected one alert of a webhook)")
    alert = record["alert"]
    if not isinstance(alert, dict):
        raise RecordError("each entry of alerts is a JSON object")
    webhook = record.get("webhook") if isinstance(record.get("webhook"), dict) else {}

    labels = _string_map(alert.get("labels"), "labels")
    common = _lenient_string_map(webhook.get("commonLabels"))
    labels = {**common, **labels}
    annotations = {
        **_lenient_string_map(webhook.get("commonAnnotations")),
        **_string_map(alert.get("annotations"), "annotations"),
    }
    alertname = labels.get("alertname", "").strip()
    if not alertname:
        raise RecordError("alert has no labels.alertname")

    status = alert.get("status", webhook.get("status"))
    if status not in ("firing", "resolved"):
        raise RecordError(
            f'alert status must be "firing" or "resolved", not {clip(repr(status), 40)}'
        )
    starts_raw = alert.get("startsAt")
    starts_at = _time(starts_raw, "startsAt")
    ends_at = _time(alert.get("endsAt"), "endsAt") if status == "resolved" else None

    fingerprint = alert.get("fingerprint")
    if not isinstance(fingerprint, str) or not fingerprint.strip():
        fingerprint = content_digest(sorted(labels.items()))
    fingerprint = fingerprint.strip()

    summary = annotations.get("summary", "").strip() or annotations.get("message", "").strip()
    title = f"{alertname}: {summary}" if summary else alertname
    return NormalizedAlert(
        title=title,
        severity=SEVERITY_MAP.get(labels.get("severity", "").strip().lower(), DEFAULT_SEVERITY),
        raw=record,
        description=_description(annotations),
        category=CATEGORY,
        observed_at=starts_at,
        source_ref=f"{fingerprint}:{clip(starts_raw, 64)}",
        fingerprint=f"alertmanager:{fingerprint}",
        rule_id=alertname,
        rule_name=alertname,
        tags=_tags(labels, webhook),
        observables=_observables(labels),
        status=status,
        ends_at=ends_at,
    )


# --- helpers --------------------------------------------------------------------------------
def _string_map(value: Any, name: str) -> dict[str, str]:
    """Labels and annotations are string->string maps in Alertmanager; tolerate numbers."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise RecordError(f"{name} must be an object of strings")
    result = {}
    for key, item in value.items():
        if isinstance(item, str):
            result[key] = item
        elif isinstance(item, int | float) and not isinstance(item, bool):
            result[key] = str(item)
        elif item is not None:
            raise RecordError(f"{name}.{clip(key, 60)} must be a string")
    return result


def _lenient_string_map(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {k: v for k, v in value.items() if isinstance(v, str)}


def _time(value: Any, name: str) -> datetime | None:
    """An RFC 3339 time in UTC; Go's zero time ("no end") is None."""
    try:
        parsed = parse_time(value)
    except RecordError as exc:
        raise RecordError(f"{name}: {exc}") from None
    except (OverflowError, ValueError):  # base.parse_time on a huge integer
        raise RecordError(f"{name}: {clip(repr(value), 40)} is out of range") from None
    if parsed is None or parsed.year == _ZERO_TIME_YEAR:
        return None
    try:
        return parsed.astimezone(UTC)  # parse_time keeps the sender's offset
    except (OverflowError, ValueError):
        raise RecordError(f"{name}: time {clip(value, 60)!r} is out of range") from None


def _description(annotations: dict[str, str]) -> str:
    parts = []
    text = annotations.get("description", "").strip() or annotations.get("message", "").strip()
    if text:
        parts.append(text)
    runbook = annotations.get("runbook_url", "").strip() or annotations.get("runbook", "").strip()
    if runbook:
        parts.append(f"Runbook: {runbook}")
    return "\n\n".join(parts)


def _tags(labels: dict[str, str], webhook: dict) -> list[str]:
    tags = ["alertmanager"]
    for key in ("job", "namespace", "cluster", "service", "team"):
        value = labels.get(key, "").strip()
        if value:
            tags.append(f"{key}:{value}")
    receiver = webhook.get("receiver")
    if isinstance(receiver, str) and receiver.strip():
        tags.append(f"receiver:{receiver.strip()}")
    return tags


def _observables(labels: dict[str, str]) -> list[Observable]:
    found: list[Observable] = []
    for key in _TARGET_LABELS:
        value = labels.get(key, "").strip()
        if value:
            found += _target(value)
    return found


def _target(value: str) -> list[Observable]:
    """`https://shop.example.com/health`, `10.0.0.5:9100`, `[2001:db8::5]:9100`,
    `node-1.example.com:9100`, `2001:db8::5` or a bare name."""
    if _SCHEME.match(value):
        return observables(("url", value)) + _host(_url_host(value))
    return _host(_strip_port(value))


def _url_host(url: str) -> str:
    try:
        return urlsplit(url).hostname or ""
    except ValueError:
        return ""


def _strip_port(value: str) -> str:
    try:
        ipaddress.ip_address(value.strip("[]"))
        return value.strip("[]")  # a bare IPv6 address: its colons are not a port
    except ValueError:
        pass
    if value.startswith("["):  # [v6]:port
        return value[1:].split("]", 1)[0]
    host, _, port = value.rpartition(":")
    return host if host and port.isdigit() else value


def _host(value: str) -> list[Observable]:
    if not value or any(c.isspace() for c in value):
        return []
    found = observables(("ip", value))
    if found:
        return found
    return observables(("hostname", value))
