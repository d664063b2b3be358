"""alerts.intake.cef: ArcSight Common Event Format lines (pure unit tests, no database)."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from pathlib import Path

import pytest

from alerts.intake import cef
from alerts.intake.base import BodyError, RecordError, content_digest
from tests.intake import fuzz

SAMPLES = Path(__file__).parent / "samples"
TEXT = "text/plain"


def sample_lines(name: str = "cef_samples.txt") -> list[str]:
    return cef.records((SAMPLES / name).read_bytes(), TEXT)


def line_of(product: str) -> str:
    for line in sample_lines():
        if f"|{product}|" in line:
            return line
    raise LookupError(product)


def obs(alert) -> set[tuple[str, str]]:
    return {(o.type, o.value) for o in alert.observables}


def ext(text: str) -> dict[str, str]:
    return cef.parse_extension(text)


# --- records() --------------------------------------------------------------------------------
def test_content_type_is_text_plain():
    assert cef.CONTENT_TYPES == {"text/plain"}


def test_records_are_lines_and_blank_lines_are_skipped():
    lines = sample_lines()
    raw = (SAMPLES / "cef_samples.txt").read_text()
    assert len(lines) == 7  # 8 lines in the file, one blank
    assert lines == [line for line in raw.split("\n") if line.strip()]
    assert all(isinstance(line, str) and "\n" not in line for line in lines)


def test_crlf_line_ends_and_a_byte_order_mark():
    body = "\ufeffCEF:0|V|P|1|a|A|1|src=10.0.0.1\r\n\r\nCEF:0|V|P|1|b|B|2|src=10.0.0.2\r\n"
    lines = cef.records(body.encode(), TEXT)
    assert lines == ["CEF:0|V|P|1|a|A|1|src=10.0.0.1", "CEF:0|V|P|1|b|B|2|src=10.0.0.2"]


def test_unicode_line_separators_inside_a_value_do_not_split_the_record():
    line = "CEF:0|V|P|1|a|A|1|msg=first\u2028second\x85third\x0cfourth src=10.0.0.1"
    (record,) = cef.records(line.encode(), TEXT)
    assert record == line
    assert (
        cef.parse_extension(cef.split(record)[1])["msg"] == "first\u2028second\x85third\x0cfourth"
    )


def test_invalid_utf8_is_a_body_error():
    with pytest.raises(BodyError, match="not valid UTF-8"):
        cef.records(b"CEF:0|V|P|1|a|A|1|msg=\xff\xfe", TEXT)


def test_an_empty_body_has_no_records():
    assert cef.records(b"\n \n\t\n", TEXT) == []


# --- the sample lines, field by field ---------------------------------------------------------
def test_fortigate_ips_line_with_syslog_prefix():
    line = line_of("Fortigate")
    assert line.startswith("<189>Nov 27 10:15:32 FGT-HQ CEF:0|")
    alert = cef.parse(line)
    assert alert.raw == line  # the line as received, syslog prefix and all
    assert alert.title == "utm:ips signature dropped"
    assert alert.rule_id == "16384"
    assert alert.rule_name == "utm:ips signature dropped"
    assert alert.category == "utm:ips"
    assert alert.severity == "high"  # 7
    assert alert.observed_at == datetime(2026, 11, 27, 10, 15, 32, tzinfo=UTC)  # from start=
    assert alert.source_ref == "Fortinet|Fortigate|FG100FTK19000123|2871203"
    assert set(alert.tags) == {"cef", "vendor:Fortinet", "product:Fortigate", "action:dropped"}
    assert obs(alert) == {
        ("ip", "203.0.113.45"),
        ("ip", "10.20.1.30"),
        ("hostname", "fgt-hq"),
        ("url", "http://10.20.1.30:8080/api/login"),  # FortiOS "\/" escapes undone
    }
    assert alert.description.splitlines() == [
        "applications3: Apache.Log4j.Error.Log.Remote.Code.Execution",
        "Device: Fortinet Fortigate v7.2.5 (FGT-HQ)",
        "Action: dropped",
        "Attack Name: Apache.Log4j.Error.Log.Remote.Code.Execution",
    ]


def test_deep_security_line_multi_word_values_and_no_external_id():
    line = line_of("Deep Security Agent")
    alert = cef.parse(line)
    assert alert.title == "Apache Log4j Remote Code Execution Vulnerability (CVE-2021-44228)"
    assert alert.severity == "critical"  # 10
    assert alert.rule_id == "1011242"
    assert alert.observed_at == datetime(2026, 11, 27, 10, 20, 40, tzinfo=UTC)  # GMT+00:00
    assert alert.source_ref == content_digest(line)  # no externalId
    assert "TCP Flags: 0x00 ACK PSH" in alert.description.splitlines()
    assert "Host ID: 1342" in alert.description.splitlines()
    assert obs(alert) == {
        ("ip", "203.0.113.45"),
        ("ip", "10.20.1.31"),
        ("hostname", "web-01.corp.example.com"),
    }


def test_carbon_black_line_backslashes_and_prose():
    alert = cef.parse(line_of("App Control"))
    assert alert.severity == "medium"  # 5
    assert alert.observed_at == datetime(2026, 9, 19, 8, 26, 10, 417000, tzinfo=UTC)
    fields = cef.parse_extension(cef.split(line_of("App Control"))[1])
    assert fields["duser"] == "CORP\\jdoe"  # written unescaped: the backslash is kept
    assert fields["filePath"] == "C:\\Users\\jdoe\\Downloads\\itunessetup64.exe"
    assert fields["msg"] == (
        "File 'itunessetup64.exe' [8fb6d5f37e8055ce...] has been blocked because it was unapproved."
    )
    assert fields["cs1"] == "High Enforcement - Servers"
    assert alert.source_ref == "VMware Carbon Black|App Control|appctl-01.corp.example.com|557301"
    assert obs(alert) == {
        ("ip", "10.20.6.117"),
        ("hostname", "wks-0117"),
        ("hostname", "appctl-01.corp.example.com"),
        ("user", "CORP\\jdoe"),
        ("hash", "8fb6d5f37e8055ce720bd0b1d56587f88c0071f285966ba17e72b2b12672aa73"),
    }


def test_apex_central_line_ipv6_custom_address_and_escaped_equals_in_url():
    alert = cef.parse(line_of("Apex Central"))
    assert alert.severity == "low"  # 3
    assert alert.rule_id == "CnC:Block"
    assert alert.title == "CnC Callback"
    assert alert.category == "1756"
    assert alert.observed_at == datetime(2026, 11, 27, 6, 34, 9, tzinfo=UTC)
    assert obs(alert) == {
        ("ip", "10.20.8.187"),
        ("ip", "2001:db8:4003:7a0:fd4b:52ed:53bd:ae3d"),
        ("hostname", "apexoneclient01"),
        ("user", "CORP\\mwilson"),  # "\\" in the line: one backslash
        ("url", "http://cc13.badhost.example/gate.php?id=7f3a"),
    }
    assert (
        "SLF_PolicyName: C&C Server URL in Web Reputation Services database - HTTP (Request)"
        in alert.description
    )


def test_edr_line_pipe_in_name_escapes_mitre_and_epoch_time():
    line = line_of("Acme EDR")
    alert = cef.parse(line)
    assert alert.title == "Process injection into lsass.exe | credential access"
    assert alert.severity == "critical"  # Very-High
    assert alert.mitre == ["T1055.001"]  # cs1Label "MITRE ATT&CK Technique"; TA0004 is no id
    assert alert.observed_at == datetime(2026, 11, 27, 10, 15, 32, 123000, tzinfo=UTC)
    assert alert.category == "malware/process injection"
    assert alert.source_ref == "Acme Security|Acme EDR||EDR-7731"
    fields = cef.parse_extension(cef.split(line)[1])
    assert fields["filePath"] == "C:\\Windows\\Temp\\svc=host.exe"
    assert fields["msg"] == "Injection detected.\nParent: winword.exe\nAction: process killed"
    assert fields["cs3"] == "rundll32.exe C:\\Users\\alice\\AppData\\Local\\Temp\\x.dll,Start"
    assert alert.description.startswith("Injection detected.\nParent: winword.exe\n")
    assert obs(alert) == {
        ("ip", "10.20.5.42"),
        ("hostname", "wks-0042"),
        ("user", "alice@corp.example.com"),
        ("email", "alice@corp.example.com"),
        ("hash", "e6f2ad814692e3f553d63a5535bfef46c030a680e6c3e79ee850dfcf5ae7798a"),
    }


def test_pan_os_line_rfc5424_prefix_quotes_and_translated_addresses():
    line = line_of("PAN-OS")
    assert line.startswith("<134>1 2026-11-27T10:15:32.123Z pan-fw01 - - - CEF:0|")
    alert = cef.parse(line)
    assert alert.title == "THREAT" and alert.rule_id == "spyware"
    assert alert.severity == "high"  # 8
    assert alert.observed_at == datetime(2026, 11, 27, 10, 15, 32, tzinfo=UTC)
    assert alert.category == "cobalt strike.gen command and control traffic(86246)"
    assert alert.source_ref == "Palo Alto Networks|PAN-OS|016201001234|7301234567890"
    assert obs(alert) == {
        ("ip", "10.20.7.19"),
        ("ip", "198.51.100.23"),
        ("ip", "203.0.113.7"),
        ("user", "corp\\bob"),  # and no user for the empty duser=
        ("url", "update.badsite.example/gate.php?id=42"),  # quoted, scheme-less
    }
    assert "Flags: 0x8000000000000000" in alert.description


def test_cef_version_1_line_with_word_severity():
    alert = cef.parse(line_of("SecureSphere"))
    assert alert.severity == "high"  # "High"
    assert alert.observed_at == datetime(2026, 11, 27, 10, 16, 40, tzinfo=UTC)
    assert alert.category == "alert"
    assert ("url", "https://shop.example.com/search?q=1%27%20OR%201=1--") in obs(alert)
    assert ("user", "n/a") not in obs(alert)  # a placeholder is not a user


def test_every_sample_time_is_aware_utc():
    for line in sample_lines():
        moment = cef.parse(line).observed_at
        assert moment is not None and moment.tzinfo is UTC


# --- escaping ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("line", "field", "expected"),
    [
        (r"CEF:0|Ven\|dor|P|1|id|N|5|", "device_vendor", "Ven|dor"),
        (r"CEF:0|V|Pro\\duct|1|id|N|5|", "device_product", "Pro\\duct"),
        (r"CEF:0|V|P|1|id|a \| b \\ c|5|", "name", "a | b \\ c"),
        (r"CEF:0|V|P|1|id|trailing\\|5|", "name", "trailing\\"),
        (r"CEF:0|V|P|1|id|C:\Temp\x|5|", "name", "C:\\Temp\\x"),  # not an escape: kept
        (r"CEF:0|V|P|1|id|a=b \= c|5|", "name", "a=b \\= c"),  # "=" needs no escape here
        ("CEF:0|V|P|1|id|N|5|", "severity", "5"),
        ("CEF:0|V|P|1|id|N|5", "severity", "5"),  # no closing pipe, no extension
        ("CEF: 0|V|P|1|id|N|5|", "version", "0"),
    ],
)
def test_header_escapes(line, field, expected):
    header, _ = cef.split(line)
    assert header[field] == expected


def test_header_pipes_only_split_the_first_seven_fields():
    header, extension = cef.split("CEF:0|V|P|1|id|N|5|msg=a|b|c src=10.0.0.1")
    assert header["name"] == "N"
    assert extension == "msg=a|b|c src=10.0.0.1"
    assert ext(extension) == {"msg": "a|b|c", "src": "10.0.0.1"}


@pytest.mark.parametrize(
    ("extension", "expected"),
    [
        (r"a=b\=c", {"a": "b=c"}),
        (
            r"request=http://x.example/?a\=1&b\=2 src=1.1.1.1",
            {
                "request": "http://x.example/?a=1&b=2",
                "src": "1.1.1.1",
            },
        ),
        (r"filePath=C:\\Windows\\System32", {"filePath": "C:\\Windows\\System32"}),
        (r"msg=line one\nline two\rline three", {"msg": "line one\nline two\rline three"}),
        (
            "msg=hello big wide world src=10.0.0.1",
            {"msg": "hello big wide world", "src": "10.0.0.1"},
        ),
        ("msg=a  b   c", {"msg": "a  b   c"}),  # inner spaces are the value's
        ("msg=x  src=10.0.0.1", {"msg": "x", "src": "10.0.0.1"}),  # spaces before a key are not
        ("   src=10.0.0.1   dst=10.0.0.2  ", {"src": "10.0.0.1", "dst": "10.0.0.2"}),
        ("msg=a|b", {"msg": "a|b"}),
        (r"msg=a\|b", {"msg": "a|b"}),  # over-escaped pipe
        (r"duser=CORP\jdoe", {"duser": "CORP\\jdoe"}),  # unknown escape: kept
        (r"msg=ends with a backslash\\", {"msg": "ends with a backslash\\"}),
        ("msg=lone backslash at end\\", {"msg": "lone backslash at end\\"}),
        (r"msg=x \= y src=1.1.1.1", {"msg": "x = y", "src": "1.1.1.1"}),
        (r"msg=1 + 2 = 3 src=1.1.1.1", {"msg": "1 + 2 = 3", "src": "1.1.1.1"}),
        ("request=http://a.example/?x=1&y=2", {"request": "http://a.example/?x=1&y=2"}),
        (r"ref=http:\/\/a.example\/x", {"ref": "http://a.example/x"}),
        ("ad.vd=root ad.logid=0419016384", {"ad.vd": "root", "ad.logid": "0419016384"}),
        ("values[0]=first values[1]=second", {"values[0]": "first", "values[1]": "second"}),
        ("duser= cs3=vsys1", {"duser": "", "cs3": "vsys1"}),
        ("act=a act=b", {"act": "b"}),  # the last of a repeated key
        ("garbage before src=10.0.0.1", {"src": "10.0.0.1"}),
        ("no pairs at all", {}),
        ("", {}),
        (r"msg=\\n is not a newline", {"msg": "\\n is not a newline"}),
        ("msg=tab\tseparated\tdst=10.0.0.2", {"msg": "tab\tseparated", "dst": "10.0.0.2"}),
    ],
)
def test_extension_escapes_and_key_boundaries(extension, expected):
    assert ext(extension) == expected


def test_full_key_names_are_read_as_short_keys():
    line = (
        "CEF:0|V|P|1|id|N|5|sourceAddress=10.0.0.1 destinationAddress=10.0.0.2 "
        "sourceUserName=bob deviceCustomString1Label=MITRE Technique deviceCustomString1=T1110 "
        "deviceReceiptTime=Nov 27 2026 10:15:32 UTC requestUrl=https://x.example/login"
    )
    alert = cef.parse(line)
    assert obs(alert) == {
        ("ip", "10.0.0.1"),
        ("ip", "10.0.0.2"),
        ("user", "bob"),
        ("url", "https://x.example/login"),
    }
    assert alert.mitre == ["T1110"]
    assert alert.observed_at == datetime(2026, 11, 27, 10, 15, 32, tzinfo=UTC)


# --- severity ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0", "low"),
        ("3", "low"),
        ("4", "medium"),
        ("6", "medium"),
        ("7", "high"),
        ("8", "high"),
        ("9", "critical"),
        ("10", "critical"),
        ("11", "critical"),
        ("-1", "low"),
        ("3.5", "low"),
        ("6.9", "medium"),
        (" 7 ", "high"),
        ("Low", "low"),
        ("Medium", "medium"),
        ("High", "high"),
        ("Very-High", "critical"),
        ("very high", "critical"),
        ("VERY-HIGH", "critical"),
        ("Unknown", "medium"),
        ("", "medium"),
        ("severe", "medium"),
        ("nan", "medium"),
        ("inf", "medium"),
    ],
)
def test_severity_mapping(value, expected):
    assert cef.severity(value) == expected
    assert cef.parse(f"CEF:0|V|P|1|id|N|{value}|src=10.0.0.1").severity == expected


# --- times ------------------------------------------------------------------------------------
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1795774532123", datetime(2026, 11, 27, 10, 15, 32, 123000, tzinfo=UTC)),
        ("1795774532", datetime(2026, 11, 27, 10, 15, 32, tzinfo=UTC)),
        ("Nov 27 2026 10:15:32", datetime(2026, 11, 27, 10, 15, 32, tzinfo=UTC)),
        ("Nov 27 2026 10:15:32.123", datetime(2026, 11, 27, 10, 15, 32, 123000, tzinfo=UTC)),
        ("nov 7 2026 01:02:03", datetime(2026, 11, 7, 1, 2, 3, tzinfo=UTC)),
        ("Nov 27 2026 10:15:32 UTC", datetime(2026, 11, 27, 10, 15, 32, tzinfo=UTC)),
        ("Nov 27 2026 18:15:32 GMT+08:00", datetime(2026, 11, 27, 10, 15, 32, tzinfo=UTC)),
        ("Nov 27 2026 11:15:32.5 +0100", datetime(2026, 11, 27, 10, 15, 32, 500000, tzinfo=UTC)),
        ("Nov 27 2026 05:15:32 EST", datetime(2026, 11, 27, 10, 15, 32, tzinfo=UTC)),
        ("Nov 27 2026 11:15:32 CET", datetime(2026, 11, 27, 10, 15, 32, tzinfo=UTC)),
        ("Nov 27 2026 11:15:32 Europe/Berlin", datetime(2026, 11, 27, 10, 15, 32, tzinfo=UTC)),
        ("Jul 27 2026 12:15:32 Europe/Berlin", datetime(2026, 7, 27, 10, 15, 32, tzinfo=UTC)),
        ("Nov 27 10:15:32", datetime(2026, 11, 27, 10, 15, 32, tzinfo=UTC)),
        ("Nov 27 10:15:32.250 UTC", datetime(2026, 11, 27, 10, 15, 32, 250000, tzinfo=UTC)),
        ("Dec 25 10:00:00", datetime(2025, 12, 25, 10, tzinfo=UTC)),  # would be in the future
        ("Nov 30 10:00:00", datetime(2026, 11, 30, 10, tzinfo=UTC)),  # within 2 days: this year
        ("2026-11-27T10:15:32.123Z", datetime(2026, 11, 27, 10, 15, 32, 123000, tzinfo=UTC)),
        ("2026-11-27 11:15:32+01:00", datetime(2026, 11, 27, 10, 15, 32, tzinfo=UTC)),
        ("2018-06-28 03:22:31", datetime(2018, 6, 28, 3, 22, 31, tzinfo=UTC)),
    ],
)
def test_cef_time_formats(value, expected):
    assert cef.parse_cef_time(value, now=NOW).astimezone(UTC) == expected


def test_year_less_times_in_early_january_belong_to_last_december():
    now = datetime(2027, 1, 2, 8, 0, tzinfo=UTC)
    assert cef.parse_cef_time("Dec 31 23:59:59", now=now) == datetime(
        2026, 12, 31, 23, 59, 59, tzinfo=UTC
    )
    assert cef.parse_cef_time("Jan 01 00:00:01", now=now).year == 2027


def test_rt_wins_over_end_and_start():
    line = "CEF:0|V|P|1|id|N|5|start=Nov 27 2026 09:00:00 end=Nov 27 2026 09:30:00 rt={}"
    assert cef.parse(line.format("Nov 27 2026 10:00:00")).observed_at.hour == 10
    assert cef.parse(line.replace(" rt={}", "")).observed_at.minute == 30
    assert cef.parse("CEF:0|V|P|1|id|N|5|start=Nov 27 2026 09:00:00").observed_at.hour == 9
    assert cef.parse("CEF:0|V|P|1|id|N|5|src=10.0.0.1").observed_at is None


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("Foo 45 2026 10:00:00", "rt: time 'Foo 45 2026 10:00:00': unknown month 'Foo'"),
        ("Nov 27 2026 10:00:00 XYZT", "rt: time 'Nov 27 2026 10:00:00 XYZT': unknown time zone"),
        ("Nov 27 2026 10:00:00 Mars/Olympus", "unknown time zone 'Mars/Olympus'"),
        ("Nov 27 2026 10:00:00 ../../etc/passwd", "unknown time zone"),
        ("Nov 27 2026 10:00:00 GMT+99:00", "unknown time zone"),
        ("Feb 30 2026 10:00:00", "is not a valid date"),
        ("Nov 27 2026 25:61:00", "is not a valid date"),
        ("yesterday at noon", "rt: time 'yesterday at noon' is not ISO 8601"),
        ("99999999999999999999999", "rt: time"),
        ("9" * 5000, "rt: time '9999"),
    ],
)
def test_unreadable_times_reject_the_record_naming_the_field(value, message):
    with pytest.raises(RecordError, match=message.replace("+", r"\+")):
        cef.parse(f"CEF:0|V|P|1|id|N|5|rt={value} src=10.0.0.1")


# --- identity ---------------------------------------------------------------------------------
def test_line_without_external_id_is_identified_by_its_digest():
    line = "CEF:0|V|P|1|id|N|5|src=10.0.0.1 rt=Nov 27 2026 10:00:00"
    first = cef.parse(line)
    assert first.source_ref == content_digest(line)
    assert cef.parse(line).source_ref == first.source_ref  # redelivered: the same
    assert cef.parse(line.replace("10:00:00", "10:00:01")).source_ref != first.source_ref


def test_external_id_is_scoped_to_the_device():
    template = "CEF:0|Fortinet|Fortigate|7.2|16384|N|5|deviceExternalId={} externalId=100"
    one = cef.parse(template.format("FG100-A"))
    other = cef.parse(template.format("FG100-B"))
    assert one.source_ref == "Fortinet|Fortigate|FG100-A|100"
    assert other.source_ref != one.source_ref
    # the same event reported again, with another time, is still the same alert
    again = cef.parse(template.format("FG100-A") + " rt=Nov 27 2026 10:00:00")
    assert again.source_ref == one.source_ref


def test_a_very_long_external_id_is_digested():
    alert = cef.parse("CEF:0|V|P|1|id|N|5|externalId=" + "x" * 300)
    assert alert.source_ref.startswith("sha256:") and len(alert.source_ref) <= 255


def test_fingerprint_groups_the_same_rule_between_the_same_hosts():
    line = "CEF:0|V|P|1|sig-7|Port scan|5|src=10.0.0.1 dst=10.0.0.2 rt=Nov 27 2026 10:00:{:02d}"
    first, later = cef.parse(line.format(1)), cef.parse(line.format(59))
    assert first.fingerprint == later.fingerprint
    assert first.fingerprint.startswith("cef:")
    assert cef.parse(line.format(1).replace("10.0.0.1", "10.0.0.9")).fingerprint != (
        first.fingerprint
    )
    assert cef.parse(line.format(1).replace("|V|", "|W|")).fingerprint != first.fingerprint


# --- MITRE and custom-field observables -------------------------------------------------------
@pytest.mark.parametrize(
    ("extension", "expected"),
    [
        ("cs2Label=MITRE Technique cs2=T1059.001,T1105", ["T1059.001", "T1105"]),
        ("cs4Label=attack technique cs4=t1021.002 (SMB)", ["T1021.002"]),
        ("flexString1Label=ATT&CK flexString1=T1566", ["T1566"]),
        ("mitreTechniqueId=T1003.001", ["T1003.001"]),
        ("ad.mitre_technique=T1490", ["T1490"]),
        ("cs1Label=Rule cs1=T1059", []),  # not labelled as a technique
        ("cs1Label=MITRE Tactic cs1=TA0002", []),
        ("msg=T1059 mentioned in passing", []),
    ],
)
def test_mitre_ids_from_labelled_fields(extension, expected):
    assert cef.parse(f"CEF:0|V|P|1|id|N|5|{extension}").mitre == expected


def test_custom_strings_yield_only_unambiguous_observables():
    line = (
        "CEF:0|V|P|1|id|N|5|cs1Label=Infection Source cs1=http://10.0.0.1/payload "
        "cs2Label=File cs2=powershell.exe cs3Label=Sender cs3=eve@evil.example "
        "cs4Label=SHA1 cs4=D6712CAE5EC821F910E14945153AE7871AA536CA cs5Label=Peer cs5=198.51.100.4 "
        "cs6Label=Product Version cs6=11.0"
    )
    assert obs(cef.parse(line)) == {
        ("url", "http://10.0.0.1/payload"),
        ("email", "eve@evil.example"),
        ("hash", "d6712cae5ec821f910e14945153ae7871aa536ca"),
        ("ip", "198.51.100.4"),
    }


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("SHA256:E6F2AD814692E3F553D63A5535BFEF46C030A680E6C3E79EE850DFCF5AE7798A", True),
        ("md5=a181b4673216ad247a0f78066a9646e1", True),
        ("not-a-hash", False),
        ("-", False),
    ],
)
def test_file_hash_forms(value, expected):
    found = obs(cef.parse(f"CEF:0|V|P|1|id|N|5|fileHash={value}"))
    assert bool({kind for kind, _ in found} & {"hash"}) is expected


@pytest.mark.parametrize("placeholder", ["-", "N/A", "none", "unknown", '""', "null"])
def test_placeholders_are_not_observables(placeholder):
    alert = cef.parse(f"CEF:0|V|P|1|id|N|5|suser={placeholder} shost={placeholder} src=10.0.0.1")
    assert obs(alert) == {("ip", "10.0.0.1")}


def test_host_fields_that_are_addresses_are_ips():
    alert = cef.parse("CEF:0|V|P|1|id|N|5|shost=10.0.0.1 dhost=2001:db8::1 dvchost=FW-01")
    assert obs(alert) == {("ip", "10.0.0.1"), ("ip", "2001:db8::1"), ("hostname", "fw-01")}


def test_dns_domains_are_domains():
    alert = cef.parse(
        "CEF:0|V|P|1|id|N|5|destinationDnsDomain=corp.example.com sourceDnsDomain=CORP"
    )
    assert obs(alert) == {("domain", "corp.example.com")}


def test_title_falls_back_to_the_class_id_then_the_product():
    assert cef.parse("CEF:0|V|P|1|sig-9||5|").title == "sig-9"
    assert cef.parse("CEF:0|Vendor|Product|1|||5|").title == "Vendor Product event"
    assert cef.parse("CEF:0||||||5|").title == "(untitled alert)"


# --- rejected ---------------------------------------------------------------------------------
def test_bad_sample_lines_are_rejected_with_clear_messages():
    messages = []
    for line in sample_lines("cef_bad.txt"):
        with pytest.raises(RecordError) as caught:
            cef.parse(line)
        messages.append(str(caught.value))
    assert messages == [
        "truncated CEF header: 5 of the 8 parts "
        "(Version|Vendor|Product|Version|Event Class ID|Name|Severity|Extension)",
        "this is a LEEF record, not CEF",
        "not a CEF record: no 'CEF:' header found",
        "CEF version must be a number, not 'X'",
        "rt: time 'Foo 45 2026 10:00:00': unknown month 'Foo'",
        "rt: time 'Nov 27 2026 10:00:00 XYZT': unknown time zone 'XYZT'",
    ]


@pytest.mark.parametrize(
    "line",
    [
        "CEF:",
        "CEF:0",
        "CEF:0|",
        "CEF:0|V|P|1|id",
        "CEF:0|V|P|1|id|Name",
        r"CEF:0|V|P|1|id|Name\|5",  # the last pipe is escaped: still 6 parts
        "<134>Nov 27 10:15:32 host CEF:0|V|P",
    ],
)
def test_truncated_headers_are_rejected(line):
    with pytest.raises(RecordError, match="truncated CEF header"):
        cef.parse(line)


@pytest.mark.parametrize("version", ["X", "²", "٣", "1.0", "", "0 0"])
def test_version_must_be_ascii_digits(version):
    with pytest.raises(RecordError, match="CEF version must be a number"):
        cef.parse(f"CEF:{version}|V|P|1|id|N|5|src=10.0.0.1")


@pytest.mark.parametrize("record", [None, b"CEF:0|V|P|1|id|N|5|", 5, ["CEF:0|V|P|1|id|N|5|"], {}])
def test_records_that_are_not_text_are_rejected(record):
    with pytest.raises(RecordError, match="one line of text"):
        cef.parse(record)


def test_nul_characters_are_rejected():
    with pytest.raises(RecordError, match="NUL"):
        cef.parse("CEF:0|V|P|1|id|N|5|msg=a\x00b")


# --- fuzz: nothing but RecordError escapes ----------------------------------------------------
def _parse_or_reject(line):
    fuzz.parse_or_reject(cef.parse, line, _raw_is_the_line_and_time_is_utc)


def _raw_is_the_line_and_time_is_utc(line, alert):
    assert alert.raw == line
    assert alert.observed_at is None or alert.observed_at.tzinfo is UTC


def test_fuzz_every_truncation_of_every_sample():
    for line in sample_lines():
        for end in range(len(line) + 1):
            _parse_or_reject(line[:end])
            _parse_or_reject(line[end:])


def test_fuzz_random_edits_with_the_format_s_special_characters():
    rng = random.Random(20261127)
    alphabet = [*"|\\=: nrCEF0aZ\t<>\"'[].-/", "\u2028", "💥", "\x85", "CEF:", "rt=", " cs1="]
    alphabet += ["\\|", "\\=", "\\\\", " cs1Label=mitre technique", "T1059", "GMT+", "Nov 31 "]
    lines = sample_lines()
    for _ in range(4000):
        chars = list(rng.choice(lines))
        for _ in range(rng.randint(1, 8)):
            position = rng.randrange(len(chars) + 1)
            roll = rng.random()
            if roll < 0.45:
                chars.insert(position, rng.choice(alphabet))
            elif chars and roll < 0.75:
                del chars[min(position, len(chars) - 1)]
            elif chars:
                chars[min(position, len(chars) - 1)] = rng.choice(alphabet)
        _parse_or_reject("".join(chars))


@pytest.mark.parametrize(
    "value",
    [
        "0",
        "-1",
        "1e400",
        "Jan 01 0001 00:00:00 CET",
        "Dec 31 9999 23:59:59 PST",
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:59:59-01:00",
        "Nov 27 2026 10:00:00.1234567890",
        "9" * 5000,
        "1" * 25 + ".5",
        "Nov ٢٧ 2026 10:00:00",
        "Nov 27 2026 10:00:00 " + "x/" * 40,
        "💥",
    ],
)
def test_fuzz_odd_times(value):
    _parse_or_reject(f"CEF:0|V|P|1|id|N|5|rt={value}")
