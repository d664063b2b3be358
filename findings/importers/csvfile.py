"""The portal's own CSV: for assessments and pentest reports that come from no scanner.

UTF-8 (a byte-order mark is fine), comma-separated, a header row naming the columns in any
order; names are case-insensitive and unknown columns are ignored.

| column | required | meaning |
| --- | --- | --- |
| `host` | yes, or `ip` | host name, FQDN or IP address of the asset |
| `ip` | no | the asset's IP address (when `host` is a name) |
| `title` | yes | what the finding is |
| `severity` | yes | `critical`, `high`, `medium`, `low` or `info` |
| `id` | no | the finding's id in your report: with `host` and `port`, its identity |
|      |    | across imports (default: the title) |
| `port` | no | `443/tcp`, or `443` |
| `cvss_score` | no | 0.0 to 10.0 |
| `cvss_vector` | no | e.g. `CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H` |
| `cve` | no | CVE ids, separated by spaces, commas or semicolons |
| `description`, `solution`, `evidence` | no | free text (quoted, may span lines) |
| `references` | no | URLs separated by spaces |
| `seen_at` | no | ISO 8601 time it was observed |

Example:

    host,ip,title,severity,id,port,cvss_score,cve,description,solution
    web01.example.com,192.0.2.10,Outdated Apache httpd,high,PT-2026-001,443/tcp,7.5,\
    CVE-2021-41773,...,...       (one line)
"""

from __future__ import annotations

import csv
import hashlib
import io

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
    port_of,
    severity_of,
    text,
)

KIND = "csv"
COLUMNS = (
    "host",
    "ip",
    "title",
    "severity",
    "id",
    "port",
    "cvss_score",
    "cvss_vector",
    "cve",
    "description",
    "solution",
    "evidence",
    "references",
    "seen_at",
)
MAX_FIELD = 1_000_000
MAX_LINE = 2 * 1024 * 1024  # bytes of one line of the file
HEAD = 64 * 1024  # the upload's check reads the header row from this much


def detect(data: bytes) -> bool:
    first = data[:HEAD].lstrip(b"\xef\xbb\xbf").split(b"\n", 1)[0].lower()
    return b"title" in first and b"severity" in first


def _fieldnames(header: list[str] | None) -> list[str]:
    names = [(name or "").strip().lower() for name in header or []]
    missing = [c for c in ("title", "severity") if c not in names]
    if "host" not in names and "ip" not in names:
        missing.insert(0, "host")
    if missing:
        raise FileRefused(
            f"The CSV header lacks the column(s) {', '.join(missing)}; "
            f"the columns are {', '.join(COLUMNS)}."
        )
    return names


def check_head(data: bytes) -> None:
    """The upload's check: the header row only (the rows are read by the import)."""
    head = data[:HEAD]
    if len(data) > HEAD:
        end = head.rfind(b"\n")
        if end < 0:
            raise FileRefused(f"The CSV's header row is longer than {HEAD:,} bytes.")
        head = head[: end + 1]
    if b"\x00" in head:
        raise FileRefused("The CSV contains NUL characters.")
    try:
        content = head.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FileRefused(f"The CSV is not UTF-8 (byte {exc.start}).") from None
    try:
        header = next(csv.reader(io.StringIO(content, newline="")), None)
    except csv.Error as exc:
        raise FileRefused(f"The CSV header could not be read: {exc}") from None
    _fieldnames(header)


def _lines(data: bytes):
    """The file's lines, each decoded as it is read (never the whole file as text at once;
    a line break is never inside a UTF-8 character), each at most MAX_LINE bytes."""
    stream = io.BytesIO(data)
    number = 0
    while True:
        line = stream.readline(MAX_LINE + 1)
        if not line:
            return
        number += 1
        if len(line) > MAX_LINE:
            raise FileRefused(f"Line {number} of the CSV is longer than {MAX_LINE:,} bytes.")
        if number == 1:
            line = line.removeprefix(b"\xef\xbb\xbf")
        if b"\x00" in line:
            raise FileRefused(f"The CSV contains NUL characters (line {number}).")
        try:
            yield line.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise FileRefused(
                f"The CSV is not UTF-8 (line {number}, byte {exc.start + 1} of the line)."
            ) from None


def _reader(data: bytes) -> csv.DictReader:
    csv.field_size_limit(MAX_FIELD)
    reader = csv.DictReader(_lines(data))
    try:
        header = reader.fieldnames
    except csv.Error as exc:
        raise FileRefused(f"The CSV header could not be read: {exc}") from None
    reader.fieldnames = _fieldnames(header)
    return reader


def parse(data: bytes) -> Parsed:
    reader = _reader(data)
    index = 0
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield Rejected(index, f"row {index + 2}: {exc}")
            index += 1
            continue
        try:
            yield _row(index, row)
        except RecordError as exc:
            yield Rejected(index, f"row {index + 2}: {exc}")
        index += 1


def _row(index: int, row: dict) -> ScanRecord:
    def get(name: str, limit: int = 20_000) -> str:
        value = row.get(name)
        return text(value if isinstance(value, str) else "", limit)

    title = get("title", 500)
    if not title:
        raise RecordError("title is empty")
    severity = severity_of(get("severity", 20))
    if severity is None:
        raise RecordError(f"severity {get('severity', 20)!r} is not critical/high/medium/low/info")
    host = make_host(
        ip=get("ip", 100) or get("host", 255), hostname=get("host", 255), fqdn=get("host", 255)
    )
    finding_id = get("id", 200) or "title:" + hashlib.sha256(title.encode()).hexdigest()[:32]
    seen_at = None
    if get("seen_at", 60):
        seen_at = parse_time(get("seen_at", 60))
        if seen_at is None:
            raise RecordError(f"seen_at {get('seen_at', 60)!r} is not an ISO 8601 time")
    return ScanRecord(
        index=index,
        host=host,
        plugin_id=finding_id,
        title=title,
        severity=severity,
        port=port_of(get("port", 16)),
        cvss_score=cvss_score(get("cvss_score", 10)),
        cvss_vector=get("cvss_vector", 200),
        cves=cves_in(get("cve", 5000)),
        description=get("description"),
        solution=get("solution"),
        evidence=get("evidence"),
        references=get("references", 20_000).split()[:50],
        seen_at=seen_at,
    )
