"""Each scanner format from a realistic sample of it, and the XML attacks every XML format
must refuse. No database: the importers only read bytes."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from findings import importers
from findings.importers import FileRefused, Rejected, ScanRecord

SAMPLES = Path(__file__).parent / "samples"


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def parsed(kind: str, name: str) -> tuple[list[ScanRecord], list[Rejected]]:
    data = sample(name)
    importers.check(kind, data)
    items = list(importers.parse(kind, data))
    return (
        [i for i in items if isinstance(i, ScanRecord)],
        [i for i in items if isinstance(i, Rejected)],
    )


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("scan.nessus", "nessus"),
        ("openvas_report.xml", "openvas"),
        ("nuclei.jsonl", "nuclei"),
        ("findings.csv", "csv"),
    ],
)
def test_the_format_of_each_sample_is_detected(name, kind):
    assert importers.detect(sample(name), name) == kind
    assert importers.detect(sample(name), "upload") == kind  # by content, without the name


def test_nessus_items_become_findings_with_host_names_cvss_and_cves():
    records, rejected = parsed("nessus", "scan.nessus")
    assert len(records) == 6
    log4j = next(r for r in records if r.plugin_id == "156032")
    assert log4j.severity == "critical"
    assert log4j.host.ip == "192.0.2.10"
    assert log4j.host.fqdn == "web01.example.com" and log4j.host.hostname == "web01"
    assert log4j.port == "443/tcp"
    assert log4j.cvss_score == Decimal("10.0")
    assert log4j.cvss_vector.startswith("CVSS:3.0/")  # v3 preferred over v2
    assert log4j.cves == ["CVE-2021-44228", "CVE-2021-45046"]
    assert "jndi:ldap" in log4j.evidence
    assert "https://logging.apache.org/log4j/2.x/security.html" in log4j.references
    assert log4j.seen_at.isoformat() == "2026-11-24T10:15:02+00:00"
    info = next(r for r in records if r.plugin_id == "19506")
    assert info.severity == "info" and info.port == ""
    smb = next(r for r in records if r.plugin_id == "57608")
    assert smb.host.ip == "192.0.2.11" and smb.host.hostname == "dc01"
    assert [r.error for r in rejected] == [
        "ReportItem 7 of host 192.0.2.11: severity '5' is not 0-4"
    ]


def test_openvas_results_use_the_score_and_skip_false_positives_and_nested_results():
    records, rejected = parsed("openvas", "openvas_report.xml")
    assert [r.title for r in records] == [
        "OpenSSH < 9.3p2 Remote Code Execution Vulnerability",
        "SSL/TLS: Report Weak Cipher Suites",
        "OS Detection Consolidation and Reporting",
    ]
    ssh, tls, log = records
    assert ssh.severity == "critical" and ssh.cvss_score == Decimal("9.8")
    assert ssh.host.ip == "192.0.2.20" and ssh.host.fqdn == "db01.example.com"
    assert ssh.plugin_id == "1.3.6.1.4.1.25623.1.0.104854" and ssh.port == "22/tcp"
    assert ssh.cves == ["CVE-2023-38408"]
    assert ssh.solution == "Update to version 9.3p2 or later."
    assert "Installed version: 8.2p1" in ssh.evidence
    assert "ssh-agent" in ssh.description
    assert tls.severity == "medium" and tls.cves == ["CVE-2013-2566", "CVE-2015-2808"]
    assert log.severity == "info" and log.port == ""
    assert len(rejected) == 1 and "no <host>" in rejected[0].error


def test_nuclei_lines_become_findings_and_bad_lines_are_named():
    records, rejected = parsed("nuclei", "nuclei.jsonl")
    log4j, tech, git = records
    assert log4j.plugin_id == "CVE-2021-44228" and log4j.severity == "critical"
    assert log4j.host.fqdn == "app.example.com" and log4j.host.ip == "203.0.113.10"
    assert log4j.port == "443/tcp" and log4j.cvss_score == Decimal("10.0")
    assert log4j.cves == ["CVE-2021-44228"]
    assert "Matched at: https://app.example.com/" in log4j.evidence
    assert tech.plugin_id == "tech-detect:nginx" and tech.severity == "info"
    assert git.host.ip == "10.1.2.3" and git.port == "8080/tcp" and git.severity == "medium"
    assert [r.index for r in rejected] == [3, 4]
    assert "catastrophic" in rejected[0].error and "line 5: not JSON" in rejected[1].error


def test_the_documented_csv_reads_quoted_multiline_fields_and_names_bad_rows():
    records, rejected = parsed("csv", "findings.csv")
    apache, xss, creds = records
    assert apache.plugin_id == "PT-2026-001" and apache.host.ip == "192.0.2.10"
    assert apache.cves == ["CVE-2021-41773", "CVE-2021-42013"]
    assert "path traversal\nand file disclosure" in apache.description
    assert apache.seen_at.isoformat() == "2026-11-20T14:00:00+00:00"
    assert xss.host.fqdn == "hr-portal.example.com" and xss.host.ip is None
    assert creds.severity == "critical" and creds.host.identifier == "fileserver01"
    assert [r.error for r in rejected] == [
        "row 5: severity '' is not critical/high/medium/low/info",
        "row 6: the record names no host (an IP address or a host name)",
    ]


def test_a_csv_without_the_required_columns_is_refused_whole():
    with pytest.raises(FileRefused, match="lacks the column"):
        importers.check("csv", b"hostname,name\nweb01,thing\n")


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("billion_laughs.nessus", "nessus"),
        ("xxe_openvas.xml", "openvas"),
        ("xxe_parameter_entity.xml", "openvas"),
    ],
)
def test_xml_entity_attacks_are_refused_before_any_expansion(name, kind):
    with pytest.raises(FileRefused, match="entit|external|DTD"):
        importers.check(kind, sample(name))
    with pytest.raises(FileRefused):
        list(importers.parse(kind, sample(name)))


def test_malformed_xml_and_the_wrong_root_are_refused():
    with pytest.raises(FileRefused, match="not well-formed"):
        importers.check("nessus", b"<NessusClientData_v2><Report>")
    with pytest.raises(FileRefused, match="not a .nessus v2 file"):
        importers.check("nessus", sample("openvas_report.xml"))
    with pytest.raises(FileRefused, match="not an OpenVAS"):
        importers.check("openvas", sample("scan.nessus"))


def test_hostile_text_is_stored_safely():
    data = (
        b'{"template-id":"x","info":{"name":"a\\u0000b\\ud800c","severity":"low"},'
        b'"host":"https://h.example.com"}\n'
    )
    (record,) = importers.parse("nuclei", data)
    assert record.title == "abc"


def test_a_hosts_unreadable_end_time_leaves_its_items_without_a_time():
    """Before, the error escaped the parser and the whole import failed on "an unexpected
    error"."""
    data = (
        b'<NessusClientData_v2><Report><ReportHost name="10.0.0.1"><HostProperties>'
        b'<tag name="HOST_END">0001-01-01T00:00:00+01:00</tag></HostProperties>'
        b'<ReportItem port="0" severity="1" pluginID="1" pluginName="x"/></ReportHost>'
        b'<ReportHost name="10.0.0.2"><HostProperties/>'
        b'<ReportItem port="0" severity="1" pluginID="2" pluginName="y"/></ReportHost>'
        b"</Report></NessusClientData_v2>"
    )
    first, second = importers.parse("nessus", data)
    assert (first.plugin_id, first.seen_at) == ("1", None)
    assert second.plugin_id == "2"
