"""Wazuh alerts, as the manager writes them to alerts.json and as integrations forward them.

One alert (Wazuh 3.x/4.x):

    {"timestamp": "2024-03-12T08:41:27.301+0000", "id": "1710232887.2338815",
     "rule": {"id": "5710", "level": 5, "description": "sshd: ...", "groups": [...],
              "mitre": {"id": ["T1110.001"], "tactic": [...], "technique": [...]}, ...},
     "agent": {"id": "003", "name": "web-prod-01", "ip": "10.20.1.15"},
     "manager": {"name": "wazuh-manager-01"}, "decoder": {"name": "sshd"},
     "full_log": "...", "location": "/var/log/auth.log", "predecoder": {"hostname": ...},
     "data": {"srcip", "dstip", "srcuser", "dstuser", "url", "win": {"system": {...},
              "eventdata": {...}}, ...},
     "syscheck": {"path", "md5_after", "sha1_after", "sha256_after", "audit": {...}}}

Body: one alert per request (what a custom integration script posts), a JSON array, or NDJSON
(alerts.json shipped as written). Wrappers read as the alert they carry (the raw payload stays
the record as received):
    {"all_fields": {<alert>}, ...}        the Shuffle integration's message (integrations/shuffle)
    {"parameters": {"alert": {<alert>}}}  an active-response message forwarded as is
    {"_source": {<alert>}, ...}           a document read back from the Wazuh indexer

Severity from `rule.level` (0-16, Wazuh's rules classification):
     0-3  -> info      ignored, system notifications, successful/authorised events
     4-6  -> low       low-priority system errors, user errors, low-relevance attacks
     7-9  -> medium    "bad word" matches, first-time-seen events, errors from invalid sources
    10-12 -> high      multiple user errors (brute force), integrity warnings, high importance
    13-16 -> critical  unusual high-importance errors, high-importance security events,
                       severe attacks
The bands follow the classification's own wording: below 4 Wazuh says "no security
relevance"; 10 is where correlated (frequency) rules such as brute force start; 13+ are the
levels Wazuh reserves for attacks and events of high importance. A level above 16 is critical;
a missing or non-numeric level is rejected (it is no Wazuh alert).

Identity: `source_ref` is the alert's `id` ("<epoch>.<offset in alerts.json>"). `fingerprint`
(incident grouping) is the rule on one agent of one manager: repeated firings of a rule on a
host are one problem, whichever source address they come from. Without an agent it is left to
the default.

Description: `full_log`, else the Windows event's message (event channel rules set
no_full_log).

Category: the most telling of `rule.groups` (attack kinds before authentication outcomes
before monitoring modules, see _CATEGORY_GROUPS), else the last group (Wazuh lists the rule's
own groups after those of its file). All groups are kept as tags, with `manager:<name>`.

MITRE: `rule.mitre.id` (a list, or one string in hand-written rules), plus technique ids in a
Sysmon `ruleName` ("technique_id=T1003,...", sysmon-modular).

Observables: agent name/ip and the syslog host (hostname, ip); data srcip/dstip (also the
src_ip/dest_ip of JSON-decoded logs), srcuser/dstuser; Windows eventdata (ipAddress,
sourceIp, destinationIp, workstationName, targetUserName, subjectUserName, user, queryName,
destinationHostname, hashes); syscheck hashes and who-data user; the file hashes of a
VirusTotal integration alert (data.virustotal.source); data.url when it is an
absolute URL, data.hostname. Loopback and unspecified addresses and "-" placeholders are
dropped. Wazuh 2.x alerts (fields at the top level, "2017 Jan 05 14:11:21" timestamps, read as
UTC) are accepted too.

Optional parts of the wrong shape (an `agent` that is a string, a `data` list ...) are ignored;
a record without a usable rule (an object with a description and a level) is rejected, and so
is one whose `id` or `rule.id` is neither a string nor a number, or whose timestamp is not a
time. Times are stored in UTC.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime
from typing import Any

from .base import (
    DEFAULT_CONTENT_TYPES,
    NormalizedAlert,
    Observable,
    RecordError,
    dig,
    json_records,
    observables,
    parse_time_field,
    party_addresses,
    severity_from_scale,
    strings,
)

KIND = "wazuh"
CONTENT_TYPES = DEFAULT_CONTENT_TYPES
records = json_records

LEVEL_SCALE = [(13, "critical"), (10, "high"), (7, "medium"), (4, "low"), (float("-inf"), "info")]

# Groups that say what happened, most telling first; the first one present is the category.
_CATEGORY_GROUPS = (
    "malware",
    "virustotal",
    "rootcheck",
    "sql_injection",
    "web_scan",
    "exploit_attempt",
    "attack",
    "recon",
    "authentication_failures",
    "authentication_failed",
    "invalid_login",
    "authentication_success",
    "syscheck",
    "vulnerability-detector",
    "sca",
    "ids",
    "firewall_drop",
)

_TECHNIQUE = re.compile(r"(?<![A-Z0-9])T\d{4}(?:\.\d{3})?(?![0-9])")
_SYSMON_HASH = re.compile(r"(?<![A-Z])(MD5|SHA1|SHA256|SHA512)=([0-9A-Fa-f]+)")
_URL = re.compile(r"[a-z][a-z0-9+.-]*://\S+", re.IGNORECASE)
_LEGACY_TIME = "%Y %b %d %H:%M:%S"  # Wazuh 2.x / OSSEC: "2017 Jan 05 14:11:21"
_LEVEL_TEXT = re.compile(r"-?[0-9]{1,3}")


def parse(record: Any) -> NormalizedAlert:
    if isinstance(record, RecordError):  # an NDJSON line that was not JSON
        raise record
    if not isinstance(record, dict):
        raise RecordError("each Wazuh alert is a JSON object")
    alert = _unwrap(record)
    rule = alert.get("rule")
    if not isinstance(rule, dict):
        raise RecordError('a Wazuh alert needs a "rule" object (rule.description, rule.level)')
    description = rule.get("description")
    if not isinstance(description, str) or not description.strip():
        raise RecordError("rule.description is required (a non-empty string)")
    level = _level(rule.get("level"))
    rule_id = _identifier(rule.get("id"), "rule.id")
    alert_id = _identifier(alert.get("id"), "id")

    agent = _object(alert.get("agent"))
    manager = _object(alert.get("manager"))
    data = _object(alert.get("data"))
    groups = _strings(rule.get("groups"))
    manager_name = _text(manager.get("name"))
    # Windows event channel rules use no_full_log: the event's own message stands in.
    full_log = _text(alert.get("full_log")) or _text(dig(data, "win.system.message")).strip('"')

    return NormalizedAlert(
        title=description,
        severity=severity_from_scale(max(0, min(level, 16)), LEVEL_SCALE, "medium"),
        raw=record,
        description=full_log,
        category=_category(groups),
        observed_at=_observed_at(alert),
        source_ref=alert_id,
        fingerprint=_fingerprint(rule_id or description, agent, manager_name),
        rule_id=rule_id,
        rule_name=description,
        mitre=_techniques(dig(rule, "mitre.id"), dig(data, "win.eventdata.ruleName")),
        tags=groups + ([f"manager:{manager_name}"] if manager_name else []),
        observables=_observables(alert, agent, data),
    )


def _unwrap(record: dict) -> dict:
    """The alert inside an integration's wrapper, or the record itself."""
    if "rule" in record:
        return record
    for path in ("all_fields", "parameters.alert", "_source"):
        inner = dig(record, path)
        if isinstance(inner, dict):
            return inner
    return record


def _level(value: Any) -> int:
    if isinstance(value, str) and _LEVEL_TEXT.fullmatch(value.strip()):
        return int(value.strip())
    if isinstance(value, float) and value.is_integer():
        return max(-1, min(int(value), 99))
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise RecordError("rule.level is required: a number from 0 to 16")


def _identifier(value: Any, name: str) -> str:
    if value is None:
        return ""
    text = _identifier_or_empty(value)
    if not text:
        if isinstance(value, str):
            return ""
        raise RecordError(f"{name} must be a string or a number")
    return text


def _object(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


_strings = strings  # base.strings: one string or a list of them


def _observed_at(alert: dict) -> datetime | None:
    value, name = alert.get("timestamp"), "timestamp"
    if value in (None, ""):
        value, name = alert.get("@timestamp"), "@timestamp"
    try:
        return _moment(value, name)
    except RecordError:
        legacy = _legacy_time(value)
        if legacy is None:
            raise
        return legacy


_moment = parse_time_field  # base.parse_time (UTC), failures name the field


def _legacy_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.strptime(value.strip(), _LEGACY_TIME).replace(tzinfo=UTC)
    except ValueError:
        return None


def _category(groups: list[str]) -> str:
    lowered = [group.lower() for group in groups]
    for group in _CATEGORY_GROUPS:
        if group in lowered:
            return group
    return lowered[-1] if lowered else ""


def _fingerprint(rule: str, agent: dict, manager_name: str) -> str:
    agent_key = _text(agent.get("name")) or _identifier_or_empty(agent.get("id"))
    if not agent_key:
        return ""
    key = json.dumps(["wazuh", manager_name, rule, agent_key], separators=(",", ":"))
    return hashlib.sha256(key.encode()).hexdigest()[:40]


def _identifier_or_empty(value: Any) -> str:
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) < 10**18:
        return str(value)
    return ""


def _techniques(*values: Any) -> list[str]:
    found: list[str] = []
    for value in values:
        for text in _strings(value):
            found.extend(_TECHNIQUE.findall(text.upper()))
    return found


def _observables(alert: dict, agent: dict, data: dict) -> list[Observable]:
    eventdata = {
        key.lower(): value
        for key, value in _object(dig(data, "win.eventdata")).items()
        if isinstance(key, str)
    }
    syscheck = _object(alert.get("syscheck"))
    found = observables(
        ("hostname", _values(agent.get("name"))),
        ("ip", _addresses(agent.get("ip"))),
        ("hostname", _values(dig(alert, "predecoder.hostname"))),
        ("hostname", _values(dig(data, "win.system.computer"))),
        # Wazuh decoders (srcip ...), JSON-decoded logs (src_ip ...), 2.x top-level fields.
        ("ip", _addresses(data.get("srcip"), data.get("src_ip"), alert.get("srcip"))),
        ("ip", _addresses(data.get("dstip"), data.get("dest_ip"), alert.get("dstip"))),
        ("user", _values(data.get("srcuser"), data.get("dstuser"), data.get("user"))),
        ("user", _values(alert.get("srcuser"), alert.get("dstuser"))),
        ("hostname", _values(data.get("hostname"))),
        ("url", [url for url in _values(data.get("url")) if _URL.fullmatch(url)]),
        # Windows Security and Sysmon event data (keys compared case-insensitively).
        (
            "ip",
            _addresses(
                eventdata.get("ipaddress"),
                eventdata.get("sourceip"),
                eventdata.get("destinationip"),
            ),
        ),
        ("hostname", _values(eventdata.get("workstationname"))),
        (
            "user",
            _values(
                eventdata.get("targetusername"),
                eventdata.get("subjectusername"),
                eventdata.get("user"),
            ),
        ),
        ("domain", _values(eventdata.get("queryname"), eventdata.get("destinationhostname"))),
        ("hash", _sysmon_hashes(eventdata.get("hashes"))),
        # File integrity monitoring: the content after the change, and who changed it.
        (
            "hash",
            _values(
                syscheck.get("md5_after"), syscheck.get("sha1_after"), syscheck.get("sha256_after")
            ),
        ),
        ("user", _values(dig(syscheck, "audit.user.name"))),
        # The VirusTotal integration's verdict alert names the file it looked up.
        ("hash", _values(dig(data, "virustotal.source.md5"), dig(data, "virustotal.source.sha1"))),
    )
    return found


def _values(*values: Any) -> list[str]:
    """Strings worth an observable: no empties, no "-" placeholders."""
    return [text for value in values for text in _strings(value) if text not in ("-", "any")]


def _addresses(*values: Any) -> list[str]:
    """Addresses of a party to the event: loopback and unspecified ones say nothing."""
    return party_addresses(_values(*values))


def _sysmon_hashes(value: Any) -> list[str]:
    """Sysmon's "SHA1=...,MD5=...,SHA256=...,IMPHASH=..." (IMPHASH is no file hash)."""
    return [digest for text in _strings(value) for _, digest in _SYSMON_HASH.findall(text)]
