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
    FileRefused,
    Host,
    Parsed,
    RecordError,
    Rejected,
    ScanRecord,
    all_text,
    check_xml,
    child_text,
    cves_in,
    cvss_score,
    local_name,
    make_host,
    parse_time,
    port_of,
    root_tag,
    safe_iterparse,
    text,
)

KIND = "nessus"
ROOT = "NessusClientData_v2"
SEVERITY = {"0": "info", "1": "low", "2": "medium", "3": "high", "4": "critical"}


def detect(data: bytes) -> bool:
    return b"NessusClientData_v2" in data[:4096]


def check(data: bytes) -> None:
    if root_tag(data) != ROOT:
        raise FileRefused(
            "This is not a .nessus v2 file (its root element is not NessusClientData_v2)."
        )
    check_xml(data)


def parse(data: bytes) -> Parsed:
    index = 0
    host: Host | None = None
    host_error = ""
    host_name = ""
    host_end = None
    for event, element in safe_iterparse(data):
        tag = local_name(element.tag)
        if event == "start":
            if tag == "ReportHost":
                host_name, host, host_error, host_end = element.get("name", ""), None, "", None
            continue
        if tag == "HostProperties":
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
            host_end = parse_time(tags.get("HOST_END"))
            element.clear()
        elif tag == "ReportItem":
            yield _item(index, element, host, host_name, host_error, host_end)
            index += 1
            element.clear()
        elif tag == "ReportHost":
            element.clear()


def _item(index, element, host, host_name, host_error, seen_at) -> ScanRecord | Rejected:
    try:
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
