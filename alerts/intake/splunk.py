"""Splunk alerts, as Splunk's built-in Webhook alert action posts them:

    {"result": {<the first result row of the triggering search, field: value>},
     "sid": "scheduler__admin__search__RMD5..._at_1710233100_4821",
     "results_link": "https://splunk.example.com:8000/app/search/@go?sid=...",
     "search_name": "Excessive Failed Logins", "owner": "admin", "app": "search"}

Values in `result` are strings, multivalue fields lists of strings. `search_name` is null for a
search that is not saved. Body: one payload per request (what Splunk sends; an alert set to
trigger "for each result" sends one request per result), a JSON array or NDJSON.

Title: `search_name`. When the result row is a Splunk Enterprise Security notable event (a
search over the `notable` index forwarding notables), the notable's own `rule_title` (its
title with tokens filled in, e.g. "Brute force from 203.0.113.9"), else `rule_name`, is the
title and its correlation search (`search_name` in the row) the rule. Without any of these the
title is the result's `signature`, else "Splunk search <sid>". `rule_id` and `rule_name` are
the (correlation) search name.

Severity, from the result row:
    `urgency` (ES notables) or `severity` as a name:
        informational, info, debug -> info;  low -> low;  medium -> medium;
        high -> high;  critical -> critical;
        and Splunk's alert severity names: warning/warn -> low, error -> medium,
        severe -> high, fatal -> critical
    `severity` as a number on Splunk's alert severity scale (alert.severity, 1-6):
        1 debug, 2 info -> info;  3 warn -> low;  4 error -> medium;  5 severe -> high;
        6 fatal -> critical   (a number outside 1-6 has an unknown scale: default)
    anything else (missing, "unknown", another scale): medium
The webhook does not carry the saved search's own alert.severity, so a search that wants its
severity honoured sets `| eval severity=...` (or is an ES correlation search: urgency).

Identity: `source_ref` is `<sid>:<result _cd>` (the event's address in its index bucket), or
`<sid>:<digest of the result row>` for transforming searches (stats, tstats) whose rows have
no `_cd`: a redelivered request is the same alert, two results of one run are not. An ES
notable is identified by its own `event_id` ("notable:<event_id>"), so a notable picked up by
two overlapping runs of a forwarding search is still one alert. No natural grouping key:
`fingerprint` is left to the default (rule and host/address observables).

Observed time: the row's `_time` (epoch seconds, or ISO 8601), else `firstTime` when it is a
timestamp (ES searches often render it with `convert ctime`; such text is not guessed at).
Category: `security_domain` (ES), else `category`. MITRE: technique ids in
`annotations.mitre_attack` (and its `.mitre_technique_id`), `annotations`,
`mitre_technique_id`, `mitre_attack`, `technique_id`. Description: the notable's rule title
and description (`rule_description`, else `description`) and the results link.

Observables, from CIM field names: src, dest, dvc (address or host name), src_ip, dest_ip,
dvc_ip, src_host, dest_host, src_nt_host, dest_nt_host, src_dns, dest_dns, dvc_host,
orig_host, host (not for notables: there it is the search head); user, src_user, dest_user
(an address there is an email); url (absolute only); domain, url_domain, query (DNS);
file_hash, process_hash, parent_process_hash, md5, sha1, sha256, Sysmon `Hashes`; sender,
recipient, orig_recipient. CIM's "unknown" and "-" placeholders, loopback and unspecified
addresses are dropped.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from .base import (
    DEFAULT_CONTENT_TYPES,
    NormalizedAlert,
    Observable,
    RecordError,
    content_digest,
    is_address,
    json_records,
    normalise_observable,
    observables,
    optional_text,
    parse_time_field,
    party_addresses,
    severity_from_scale,
    strings,
)

KIND = "splunk"
CONTENT_TYPES = DEFAULT_CONTENT_TYPES
records = json_records

SEVERITY_NAMES = {
    "informational": "info",
    "info": "info",
    "information": "info",
    "debug": "info",
    "low": "low",
    "warning": "low",
    "warn": "low",
    "medium": "medium",
    "error": "medium",
    "high": "high",
    "severe": "high",
    "critical": "critical",
    "fatal": "critical",
}
# Splunk's alert.severity: 1 debug, 2 info, 3 warn, 4 error, 5 severe, 6 fatal.
SEVERITY_SCALE = [(6, "critical"), (5, "high"), (4, "medium"), (3, "low"), (1, "info")]
DEFAULT_SEVERITY = "medium"

_TECHNIQUE = re.compile(r"(?<![A-Z0-9])T\d{4}(?:\.\d{3})?(?![0-9])")
_SYSMON_HASH = re.compile(r"(?<![A-Z])(MD5|SHA1|SHA256|SHA512)=([0-9A-Fa-f]+)")
_URL = re.compile(r"[a-z][a-z0-9+.-]*://\S+", re.IGNORECASE)
_PLACEHOLDERS = {"", "-", "unknown", "n/a", "null", "none"}
_MITRE_FIELDS = (
    "annotations.mitre_attack",
    "annotations.mitre_attack.mitre_technique_id",
    "annotations",
    "mitre_technique_id",
    "mitre_attack",
    "technique_id",
)


def parse(record: Any) -> NormalizedAlert:
    if isinstance(record, RecordError):  # an NDJSON line that was not JSON
        raise record
    if not isinstance(record, dict):
        raise RecordError("each Splunk alert is a JSON object (the webhook alert action's payload)")
    result = record.get("result")
    if not isinstance(result, dict):
        raise RecordError(
            'a Splunk webhook payload carries the triggering result row as a "result" object'
        )
    sid = _optional_text(record, "sid")
    search_name = _optional_text(record, "search_name")
    results_link = _optional_text(record, "results_link")

    notable = _is_notable(result)
    rule_title = _text(result.get("rule_title")) if notable else ""
    rule = (_text(result.get("search_name")) or _text(result.get("rule_name"))) if notable else ""
    rule = rule or search_name
    title = (
        rule_title
        or (_text(result.get("rule_name")) if notable else "")
        or search_name
        or _text(result.get("signature"))
        or (f"Splunk search {sid}" if sid else "")
    )
    if not title:
        raise RecordError("search_name (or at least the search's sid) is required")

    return NormalizedAlert(
        title=title,
        severity=_severity(result),
        raw=record,
        description=_description(result, notable, title, results_link),
        category=_text(result.get("security_domain")) or _text(result.get("category")),
        observed_at=_observed_at(result),
        source_ref=_source_ref(sid, result, notable),
        rule_id=rule,
        rule_name=rule,
        mitre=_techniques(result),
        observables=_observables(result, notable),
    )


def _optional_text(record: dict, name: str) -> str:
    return optional_text(record.get(name), name)


_strings = strings  # base.strings: one string or a list of them


def _text(value: Any) -> str:
    found = _strings(value)
    return found[0] if found else ""


def _is_notable(result: dict) -> bool:
    return bool(_text(result.get("rule_name")) or _text(result.get("rule_title"))) or (
        "@@notable@@" in _text(result.get("event_id"))
    )


def _severity(result: dict) -> str:
    for name in ("urgency", "severity"):
        text = _text(result.get(name)).lower()
        if text in SEVERITY_NAMES:
            return SEVERITY_NAMES[text]
    value = result.get("severity")
    if isinstance(value, bool) or not isinstance(value, int | float):
        value = _text(value)
    try:
        number = float(value)
    except (ValueError, OverflowError):
        return DEFAULT_SEVERITY
    if not 1 <= number <= 6:  # NaN fails this too
        return DEFAULT_SEVERITY
    return severity_from_scale(number, SEVERITY_SCALE, DEFAULT_SEVERITY)


def _description(result: dict, notable: bool, title: str, results_link: str) -> str:
    parts = []
    if notable:
        rule_title = _text(result.get("rule_title"))
        if rule_title and rule_title != title:
            parts.append(rule_title)
    about = _text(result.get("rule_description")) or _text(result.get("description"))
    if about:
        parts.append(about)
    if results_link:
        parts.append(f"Splunk results: {results_link}")
    return "\n\n".join(parts)


def _observed_at(result: dict) -> datetime | None:
    value = result.get("_time")
    if value not in (None, ""):
        return _moment(_text(value) or value, "result._time")
    try:  # firstTime is often display text (convert ctime): use it only when it is a time
        return _moment(_text(result.get("firstTime")) or None, "result.firstTime")
    except RecordError:
        return None


_moment = parse_time_field  # base.parse_time (UTC), failures name the field


def _source_ref(sid: str, result: dict, notable: bool) -> str:
    event_id = _text(result.get("event_id"))
    if notable and "@@notable@@" in event_id:
        return f"notable:{event_id}"
    if not sid:
        return ""  # the ingest identifies the payload by its digest
    address = _text(result.get("_cd"))
    if not address:
        try:
            address = content_digest(result).removeprefix("sha256:")[:32]
        except ValueError:  # an integer too long for JSON: not storable either
            raise RecordError("result holds a number too large to store") from None
    return f"{sid}:{address}"


def _techniques(result: dict) -> list[str]:
    found: list[str] = []
    for name in _MITRE_FIELDS:
        for text in _strings(result.get(name)):
            found.extend(_TECHNIQUE.findall(text.upper()))
    return found


def _observables(result: dict, notable: bool) -> list[Observable]:
    def values(*names: str) -> list[str]:
        return [
            text
            for name in names
            for text in _strings(result.get(name))
            if text.lower() not in _PLACEHOLDERS
        ]

    hosts = ["src", "dest", "dvc", "orig_host"] + ([] if notable else ["host"])
    found = observables(
        ("ip", party_addresses(values(*hosts, "src_ip", "dest_ip", "dvc_ip"))),
        ("hostname", [text for text in values(*hosts) if not is_address(text)]),
        (
            "hostname",
            values(
                "src_host",
                "dest_host",
                "src_nt_host",
                "dest_nt_host",
                "src_dns",
                "dest_dns",
                "dvc_host",
            ),
        ),
        ("url", [url for url in values("url") if _URL.fullmatch(url)]),
        ("domain", values("domain", "url_domain", "query")),
        (
            "hash",
            values("file_hash", "process_hash", "parent_process_hash", "md5", "sha1", "sha256"),
        ),
        ("hash", [digest for text in values("Hashes", "hashes") for _, digest in _hashes(text)]),
        ("email", values("sender", "recipient", "orig_recipient")),
    )
    for text in values("user", "src_user", "dest_user"):
        # The Email data model puts the sender's address in src_user.
        email = normalise_observable("email", text) if "@" in text else None
        user = email or normalise_observable("user", text)
        if user is not None:
            found.append(user)
    return found


def _hashes(text: str) -> list[tuple[str, str]]:
    return _SYSMON_HASH.findall(text)
