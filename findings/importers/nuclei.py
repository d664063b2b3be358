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

import codecs
import io
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
MAX_RESULT = 1024 * 1024  # bytes of one result (a line, or an item of the JSON array)
HEAD = 64 * 1024
BLOCK = 64 * 1024
_WHITESPACE = " \t\r\n"
NOT_NUCLEI = (
    "This is not Nuclei output: JSONL (`-jsonl`, one JSON object a line) or a JSON export "
    "(`-json-export`, an array) starts with {{ or [. {}"
)


def detect(data: bytes) -> bool:
    head = data[:HEAD].removeprefix(b"\xef\xbb\xbf").lstrip()
    return head[:1] in (b"{", b"[")


def check_head(data: bytes) -> None:
    """The upload's check: the file starts as Nuclei output does (the rest is read, and a
    file that cannot be read fails its import with why, by the import)."""
    head = data[:HEAD].removeprefix(b"\xef\xbb\xbf").lstrip()
    if head[:1] not in (b"{", b"["):
        raise FileRefused(NOT_NUCLEI.format(""))


def _no_constant(name: str):
    raise RecordError(f"{name} is not JSON")


def _jsonl(data: bytes):
    """(line number, result or None, error) per non-empty line, a line at a time."""
    stream = io.BytesIO(data)
    number = 0
    while True:
        line = stream.readline(MAX_RESULT + 1)
        if not line:
            return
        number += 1
        if number == 1:
            line = line.removeprefix(b"\xef\xbb\xbf")
        if len(line) > MAX_RESULT:
            while line and not line.endswith(b"\n"):  # the rest of the line, unread
                line = stream.readline(BLOCK)
            yield number, None, f"longer than {MAX_RESULT:,} bytes"
            continue
        if not line.strip():
            continue
        try:
            content = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise FileRefused(
                f"The file is not UTF-8 text (line {number}, byte {exc.start + 1} of the line)."
            ) from None
        try:
            yield number, json.loads(content, parse_constant=_no_constant), None
        except (ValueError, RecordError, RecursionError) as exc:
            yield number, None, f"not JSON: {str(exc)[:200]}"


class _ArrayReader:
    """The items of a JSON array, decoded a window at a time: never the whole file as text,
    never more than one item (at most MAX_RESULT bytes) as objects."""

    def __init__(self, data: bytes) -> None:
        self.view = memoryview(data)
        self.offset = 0  # bytes decoded so far
        self.decoder = codecs.getincrementaldecoder("utf-8-sig")()
        self.json = json.JSONDecoder(parse_constant=_no_constant)
        self.buffer, self.pos = "", 0

    @property
    def exhausted(self) -> bool:
        return self.offset >= len(self.view)

    def _more(self, size: int = BLOCK) -> bool:
        if self.exhausted:
            return False
        chunk = self.view[self.offset : self.offset + size]
        self.offset += len(chunk)
        try:
            text_part = self.decoder.decode(chunk, final=self.exhausted)
        except UnicodeDecodeError:
            raise FileRefused(
                f"The file is not UTF-8 text (near byte {self.offset - len(chunk) + 1:,})."
            ) from None
        self.buffer, self.pos = self.buffer[self.pos :] + text_part, 0
        return True

    def _skip_whitespace(self) -> str:
        """The next character that is not whitespace ("" at the end of the file)."""
        while True:
            while self.pos < len(self.buffer) and self.buffer[self.pos] in _WHITESPACE:
                self.pos += 1
            if self.pos < len(self.buffer):
                return self.buffer[self.pos]
            if not self._more():
                return ""

    def _item(self, number: int):
        self._skip_whitespace()
        while True:
            unread = len(self.buffer) - self.pos
            try:
                item, end = self.json.raw_decode(self.buffer, self.pos)
            except (ValueError, RecordError, RecursionError) as exc:
                if unread <= MAX_RESULT and self._more(max(BLOCK, unread)):
                    continue  # the item goes on past what has been read
                if unread > MAX_RESULT:
                    raise FileRefused(
                        f"Result {number} of the JSON array is larger than {MAX_RESULT:,} "
                        "bytes, or not JSON."
                    ) from None
                raise FileRefused(
                    f"The JSON array could not be read at result {number}: {str(exc)[:200]}"
                ) from None
            # A number or literal cut short by the window reads as complete: only an item
            # followed by something (or the end of the file) is.
            if end < len(self.buffer) or self.exhausted:
                self.pos = end
                return item
            self._more(max(BLOCK, unread))

    def items(self):
        if self._skip_whitespace() != "[":
            raise FileRefused(NOT_NUCLEI.format("This one starts with neither."))
        self.pos += 1
        number = 0
        if self._skip_whitespace() == "]":
            self.pos += 1
        else:
            while True:
                number += 1
                yield self._item(number)
                following = self._skip_whitespace()
                self.pos += 1
                if following == "]":
                    break
                if following != ",":
                    raise FileRefused(
                        f"The JSON array could not be read after result {number}: "
                        f"expected , or ] but found {following[:1]!r}."
                    )
        if self._skip_whitespace():
            raise FileRefused("The JSON array is followed by more text.")


def _results(data: bytes):
    """(where, result or None, error) per result, streamed."""
    if data[:HEAD].removeprefix(b"\xef\xbb\xbf").lstrip()[:1] == b"[":
        for number, item in enumerate(_ArrayReader(data).items(), start=1):
            yield f"result {number}", item, None
        return
    for number, item, error in _jsonl(data):
        yield f"line {number}", item, error


def parse(data: bytes) -> Parsed:
    """The results; a file of lines none of which is JSON is not Nuclei output at all, and is
    refused whole (its import fails with why) rather than imported as rejected records."""
    read = 0
    first_error = ""
    for index, (where, item, error) in enumerate(_results(data)):
        if error:
            first_error = first_error or f"{where}: {error}"
            yield Rejected(index, f"{where}: {error}")
            continue
        read += 1
        try:
            yield _result(index, item)
        except RecordError as exc:
            yield Rejected(index, f"{where}: {exc}")
    if first_error and not read:
        raise FileRefused(NOT_NUCLEI.format(f"No line of this one is JSON ({first_error})."))


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
