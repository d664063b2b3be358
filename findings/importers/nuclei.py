"""Nuclei results as JSON Lines (`nuclei -jsonl -o results.jsonl`; also a JSON array, as
`-json-export` writes), one result a line:

    {"template-id": "CVE-2021-44228", "info": {"name": "...", "severity": "critical",
       "description": "...", "reference": [...], "remediation": "...",
       "classification": {"cve-id": ["cve-2021-44228"], "cvss-score": 10,
                          "cvss-metrics": "CVSS:3.1/..."}},
     "type": "http", "host": "https://app.example.com", "port": "443",
     "matched-at": "https://app.example.com/api/login", "matcher-name": "...",
     "extracted-results": [...], "ip": "203.0.113.10", "timestamp": "2026-11-24T10:05:00Z"}

Severity is info.severity (`unknown` reads as info). The host is the `host` field (a URL or
host:port; its host name) and `ip`. The finding's identity is (host, template-id plus
matcher-name, port): the same template matching the same host and port is one finding,
whatever path it matched at (the evidence names it). The evidence is the matched URL, the
extracted results and the request, as far as present.
"""

from __future__ import annotations

import json
import math
from urllib.parse import urlsplit

from .base import (
    FileRefused,
    Parsed,
    RecordError,
    Rejected,
    ScanRecord,
    cves_in,
    cvss_score,
    make_host,
    parse_time,
    severity_of,
    text,
)

KIND = "nuclei"
MAX_DEPTH = 32


def detect(data: bytes) -> bool:
    head = data.lstrip()[:1]
    return head in (b"{", b"[")


def check(data: bytes) -> None:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FileRefused(f"The file is not UTF-8 text (byte {exc.start}).") from None


def _lines(data: bytes):
    text_data = data.decode("utf-8", errors="replace")
    stripped = text_data.lstrip()
    if stripped.startswith("["):
        try:
            items = json.loads(stripped, parse_constant=_no_constant)
        except (ValueError, RecordError, RecursionError) as exc:
            raise FileRefused(f"The JSON array could not be read: {str(exc)[:200]}") from None
        if not isinstance(items, list):
            raise FileRefused("A JSON export is an array of results.")
        for item in items:
            yield item, None
        return
    for line in text_data.splitlines():
        if not line.strip():
            continue
        try:
            yield json.loads(line, parse_constant=_no_constant), None
        except (ValueError, RecordError, RecursionError) as exc:
            yield None, f"not JSON: {str(exc)[:200]}"


def _no_constant(name: str):
    raise RecordError(f"{name} is not JSON")


def parse(data: bytes) -> Parsed:
    for index, (item, error) in enumerate(_lines(data)):
        if error:
            yield Rejected(index, f"line {index + 1}: {error}")
            continue
        try:
            yield _result(index, item)
        except RecordError as exc:
            yield Rejected(index, f"result {index + 1}: {exc}")


def _host_and_port(value: str) -> tuple[str, str]:
    value = value.strip()
    if "://" not in value:
        value = "//" + value
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        raise RecordError(f"host {value[:100]!r} is not a URL or host:port") from None
    if port is None and parts.scheme in ("http", "https"):
        port = 443 if parts.scheme == "https" else 80
    return parts.hostname or "", str(port) if port else ""


def _result(index: int, item) -> ScanRecord:
    if not isinstance(item, dict):
        raise RecordError("a result is a JSON object")
    info = item.get("info")
    if not isinstance(info, dict):
        raise RecordError("the result has no info object")
    template = text(item.get("template-id") or item.get("templateID"), 200)
    if not template:
        raise RecordError("the result has no template-id")
    raw_severity = text(info.get("severity"), 20).lower()
    severity = "info" if raw_severity in ("unknown", "") else severity_of(raw_severity)
    if severity is None:
        raise RecordError(f"severity {raw_severity!r} is not one of info..critical")
    host_name, port = _host_and_port(text(item.get("host") or item.get("matched-at"), 2000))
    explicit_port = text(item.get("port"), 8)
    if explicit_port.isdigit():
        port = explicit_port
    host = make_host(ip=item.get("ip"), hostname=host_name, fqdn=host_name)
    classification = info.get("classification")
    classification = classification if isinstance(classification, dict) else {}
    score_value = classification.get("cvss-score")
    if isinstance(score_value, float) and not math.isfinite(score_value):
        raise RecordError("cvss-score is not a number")
    score = cvss_score(score_value) if not isinstance(score_value, bool) else None
    matcher = text(item.get("matcher-name"), 100)
    plugin_id = f"{template}:{matcher}" if matcher else template
    references = info.get("reference")
    references = (
        [text(r, 2000) for r in references if isinstance(r, str)]
        if isinstance(references, list)
        else ([text(references, 2000)] if isinstance(references, str) else [])
    )
    evidence_parts = []
    if item.get("matched-at"):
        evidence_parts.append(f"Matched at: {text(item.get('matched-at'), 2000)}")
    extracted = item.get("extracted-results")
    if isinstance(extracted, list) and extracted:
        evidence_parts.append("Extracted: " + ", ".join(text(e, 500) for e in extracted[:20]))
    if item.get("request"):
        evidence_parts.append(text(item.get("request"), 8000))
    cve_ids = classification.get("cve-id")
    cve_values = cve_ids if isinstance(cve_ids, list) else [cve_ids]
    return ScanRecord(
        index=index,
        host=host,
        plugin_id=plugin_id[:255],
        title=text(info.get("name"), 500) or template,
        severity=severity,
        port=f"{port}/tcp" if port else "",
        cvss_score=score,
        cvss_vector=text(classification.get("cvss-metrics"), 200),
        cves=cves_in(*[v for v in cve_values if isinstance(v, str)]),
        description=text(info.get("description")),
        solution=text(info.get("remediation")),
        evidence="\n\n".join(evidence_parts),
        references=[r for r in references if r][:50],
        seen_at=parse_time(item.get("timestamp")),
    )
