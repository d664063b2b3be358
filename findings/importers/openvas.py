"""OpenVAS / Greenbone (GVM) XML reports, as the "XML" report format exports them (also
wrapped in a <get_reports_response>).

    <report id="..." format_id="a994b278-1f62-11e1-96ac-406186ea4fc5" extension="xml">
      <report id="...">
        <results start="1" max="...">
          <result id="...">
            <name>...</name>
            <host>192.0.2.20<asset asset_id="..."/><hostname>db01.example.com</hostname></host>
            <port>22/tcp</port>
            <nvt oid="1.3.6.1.4.1.25623.1.0.NNNNNN">
              <name/> <family/> <cvss_base/>
              <severities score="7.5"><severity type="cvss_base_v3">
                <score>7.5</score><value>CVSS:3.1/AV:N/...</value></severity></severities>
              <tags>cvss_base_vector=...|summary=...|insight=...|solution=...|...</tags>
              <solution type="VendorFix">...</solution>
              <refs><ref type="cve" id="CVE-..."/><ref type="url" id="https://..."/></refs>
            </nvt>
            <threat>High</threat> <severity>7.5</severity> <description>...</description>
            <detection><result id="..."/></detection>  (a nested result: not a finding)
          </result>
        </results>
      </report>
    </report>

One record per <result> directly under <results>. Severity comes from the result's score
(CVSS v3 qualitative rating: 9.0+ critical, 7.0+ high, 4.0+ medium, above 0 low, 0 info:
GVM's "Log" level); a result without a score falls back to <threat>. Results whose threat is
"False Positive" or "Debug" are not findings and are skipped. The finding's identity is (host,
NVT oid, port). The description is the NVT's summary and insight; the evidence is the result's
own description (what the scanner saw).
"""

from __future__ import annotations

from .base import (
    Parsed,
    RecordError,
    Rejected,
    ScanRecord,
    XmlRecord,
    check_xml_head,
    child_text,
    cves_in,
    cvss_score,
    make_host,
    parse_time,
    severity_from_score,
    severity_of,
    stream_xml,
    text,
)

KIND = "openvas"
ROOTS = ("report", "get_reports_response")
SKIPPED_THREATS = ("false positive", "debug")


def detect(data: bytes) -> bool:
    head = data[:4096]
    return (b"<report" in head or b"<get_reports_response" in head) and b"<" in head[:200]


WRONG_ROOT = "This is not an OpenVAS/Greenbone XML report (its root element is not <report>)."


def check_head(data: bytes) -> None:
    check_xml_head(data, ROOTS, WRONG_ROOT)


def _is_record(path: list[str]) -> bool:
    """A <result> directly under <results> (not one nested in a result's <detection>)."""
    return len(path) >= 2 and path[-1] == "result" and path[-2] == "results"


def parse(data: bytes) -> Parsed:
    index = 0
    for item in stream_xml(data, roots=ROOTS, wrong_root=WRONG_ROOT, is_record=_is_record):
        if not isinstance(item, XmlRecord):
            continue
        if item.overflow:
            yield Rejected(index, f"result {index + 1}: the result is too large: {item.overflow}")
            index += 1
            continue
        threat = child_text(item.element, "threat", 40).lower()
        if threat not in SKIPPED_THREATS:
            yield _result(index, item.element)
            index += 1


def _tags(nvt) -> dict[str, str]:
    found = {}
    for part in child_text(nvt, "tags", 100_000).split("|"):
        key, sep, value = part.partition("=")
        if sep:
            found[key.strip()] = value.strip()
    return found


def _result(index: int, result) -> ScanRecord | Rejected:
    try:
        host_element = result.find("host")
        if host_element is None:
            raise RecordError("the result has no <host>")
        host = make_host(
            ip=text(host_element.text, 100),
            hostname=child_text(host_element, "hostname", 255),
            fqdn=child_text(host_element, "hostname", 255),
        )
        nvt = result.find("nvt")
        if nvt is None or not nvt.get("oid"):
            raise RecordError("the result names no NVT (oid)")
        oid = text(nvt.get("oid"), 255)
        tags = _tags(nvt)
        score = cvss_score(child_text(result, "severity", 10))
        if score is None:
            score = cvss_score(child_text(nvt, "cvss_base", 10))
        vector = ""
        severities = nvt.find("severities")
        if severities is not None:
            first = severities.find("severity")
            if first is not None:
                vector = child_text(first, "value", 200)
                if score is None:
                    score = cvss_score(child_text(first, "score", 10))
        vector = vector or tags.get("cvss_base_vector", "")[:200]
        if score is not None:
            severity = severity_from_score(score)
        else:
            severity = severity_of(child_text(result, "threat", 40))
            if severity is None:
                raise RecordError("the result has neither a severity score nor a threat level")
        refs = nvt.find("refs")
        cves, references = [], []
        if refs is not None:
            for ref in refs.findall("ref"):
                kind, ref_id = text(ref.get("type"), 20).lower(), text(ref.get("id"), 2000)
                if kind == "cve":
                    cves.append(ref_id)
                elif kind == "url" and ref_id:
                    references.append(ref_id)
        cves = cves_in(*cves, child_text(nvt, "cve", 10_000))
        description = "\n\n".join(
            tags[key] for key in ("summary", "insight", "impact", "affected") if tags.get(key)
        )
        solution = child_text(nvt, "solution") or tags.get("solution", "")
        title = child_text(result, "name", 500) or child_text(nvt, "name", 500)
        return ScanRecord(
            index=index,
            host=host,
            plugin_id=oid,
            title=title or f"NVT {oid}",
            severity=severity,
            port=_port(child_text(result, "port", 40)),
            cvss_score=score,
            cvss_vector=vector,
            cves=cves,
            description=description,
            solution=solution,
            evidence=child_text(result, "description"),
            references=references[:50],
            seen_at=parse_time(child_text(result, "modification_time", 60))
            or parse_time(child_text(result, "creation_time", 60)),
        )
    except RecordError as exc:
        return Rejected(index, f"result {index + 1}: {exc}")


def _port(value: str) -> str:
    """'22/tcp' as is; 'general/tcp', 'general/icmp' and 'package' mean no port."""
    value = value.strip()
    if not value or value.startswith("general") or value == "package":
        return ""
    return value[:32]
