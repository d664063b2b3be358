"""Nessus `.nessus` files (NessusClientData_v2), as Tenable Nessus and Tenable.sc export them.

    <NessusClientData_v2>
      <Policy>...</Policy>
      <Report name="...">
        <ReportHost name="192.0.2.10">
          <HostProperties>
            <tag name="host-ip">192.0.2.10</tag>  <tag name="host-fqdn">web01.example.com</tag>
            <tag name="netbios-name">WEB01</tag>  <tag name="operating-system">...</tag>
            <tag name="HOST_END">Tue Nov 24 10:15:02 2026</tag>
          </HostProperties>
          <ReportItem port="443" svc_name="www" protocol="tcp" severity="3" pluginID="42873"
                      pluginName="..." pluginFamily="...">
            <synopsis/> <description/> <solution/> <risk_factor/> <plugin_output/>
            <cvss3_base_score/> <cvss3_vector/> <cvss_base_score/> <cvss_vector/>
            <cve/>... <see_also/>
          </ReportItem>
        </ReportHost>
      </Report>
    </NessusClientData_v2>

One record per ReportItem. Severity is the item's `severity` attribute (0 info, 1 low,
2 medium, 3 high, 4 critical). The CVSS score and vector are v3 when present, else v2. The
finding's identity is (host, pluginID, port/protocol). Hosts are the ReportHost's `host-ip`
(or its name when that is an address), `host-fqdn` and `netbios-name`.
"""

from __future__ import annotations

from .base import (
    Host,
    Parsed,
    RecordError,
    Rejected,
    ScanRecord,
    XmlRecord,
    XmlStart,
    all_text,
    check_xml_head,
    child_text,
    cves_in,
    cvss_score,
    make_host,
    parse_time,
    port_of,
    stream_xml,
    text,
)

KIND = "nessus"
ROOT = "NessusClientData_v2"
SEVERITY = {"0": "info", "1": "low", "2": "medium", "3": "high", "4": "critical"}


def detect(data: bytes) -> bool:
    return b"NessusClientData_v2" in data[:4096]


WRONG_ROOT = "This is not a .nessus v2 file (its root element is not NessusClientData_v2)."


def check_head(data: bytes) -> None:
    check_xml_head(data, (ROOT,), WRONG_ROOT)


def _is_record(path: list[str]) -> bool:
    """A ReportHost's HostProperties and its ReportItems."""
    return len(path) >= 2 and path[-2] == "ReportHost" and path[-1] in RECORDS


RECORDS = ("HostProperties", "ReportItem")


def parse(data: bytes) -> Parsed:
    index = 0
    host: Host | None = None
    host_error = ""
    host_name = ""
    host_end = None
    for item in stream_xml(
        data, roots=(ROOT,), wrong_root=WRONG_ROOT, is_record=_is_record, starts=("ReportHost",)
    ):
        if isinstance(item, XmlStart):  # a ReportHost begins
            host_name, host, host_error, host_end = item.attrib.get("name", ""), None, "", None
            continue
        element = item.element
        if element.tag == "HostProperties":
            if item.overflow:
                host_error = f"its HostProperties could not be read: {item.overflow}"
                continue
            tags = {t.get("name", ""): text(t.text, 255) for t in element.findall("tag")}
            try:
                host = make_host(
                    ip=tags.get("host-ip") or host_name,
                    hostname=tags.get("netbios-name") or tags.get("hostname") or host_name,
                    fqdn=tags.get("host-fqdn") or host_name,
                    os=tags.get("operating-system") or tags.get("os"),
                )
            except RecordError as exc:
                host_error = str(exc)
            try:
                host_end = parse_time(tags.get("HOST_END"))
            except RecordError:  # an unreadable scan time: when the scanner saw it is unknown
                host_end = None
        else:
            yield _item(index, item, host, host_name, host_error, host_end)
            index += 1


def _item(index, item: XmlRecord, host, host_name, host_error, seen_at) -> ScanRecord | Rejected:
    element = item.element
    try:
        if item.overflow:
            raise RecordError(f"the item is too large: {item.overflow}")
        if host is None:
            if host_error:
                raise RecordError(host_error)
            host = make_host(ip=host_name, hostname=host_name)
        plugin_id = text(element.get("pluginID"), 255)
        if not plugin_id:
            raise RecordError("ReportItem has no pluginID")
        severity = SEVERITY.get(text(element.get("severity"), 2))
        if severity is None:
            raise RecordError(f"severity {element.get('severity')!r} is not 0-4")
        title = text(element.get("pluginName"), 500) or child_text(element, "synopsis", 500)
        score = cvss_score(child_text(element, "cvss3_base_score")) or cvss_score(
            child_text(element, "cvss_base_score")
        )
        vector = child_text(element, "cvss3_vector", 200) or child_text(element, "cvss_vector", 200)
        description = child_text(element, "description")
        synopsis = child_text(element, "synopsis")
        if synopsis and synopsis not in description:
            description = f"{synopsis}\n\n{description}".strip()
        references = []
        for see_also in all_text(element, "see_also"):
            references += [line.strip() for line in see_also.splitlines() if line.strip()]
        return ScanRecord(
            index=index,
            host=host,
            plugin_id=plugin_id,
            title=title or f"Nessus plugin {plugin_id}",
            severity=severity,
            port=port_of(element.get("port"), element.get("protocol")),
            cvss_score=score,
            cvss_vector=vector,
            cves=cves_in(*all_text(element, "cve")),
            description=description,
            solution=child_text(element, "solution"),
            evidence=child_text(element, "plugin_output"),
            references=references[:50],
            seen_at=seen_at,
        )
    except RecordError as exc:
        where = f"ReportItem {index + 1}"
        if host_name:
            where += f" of host {host_name[:100]}"
        return Rejected(index, f"{where}: {exc}")
