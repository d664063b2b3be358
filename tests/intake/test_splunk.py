"""Splunk webhook alert action payloads (alerts/intake/splunk.py), from samples shaped as
Splunk's documented webhook payload, including Splunk Enterprise Security notables.

Pure unit tests: no database."""

from __future__ import annotations

import copy
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from alerts.intake import splunk
from alerts.intake.base import DEFAULT_CONTENT_TYPES, BodyError, NormalizedAlert, RecordError
from tests.intake import fuzz

SAMPLES = Path(__file__).parent / "samples"
ALL_SAMPLES = sorted(path.name for path in SAMPLES.glob("splunk_*.json"))
LOGINS = "splunk_failed_logins.json"


def sample(name: str) -> dict:
    return json.loads((SAMPLES / name).read_text())


def observed(alert: NormalizedAlert) -> set[tuple[str, str]]:
    return {(item.type, item.value) for item in alert.observables}


def payload(result: dict | None = None, **fields) -> dict:
    record = sample(LOGINS)
    if result is not None:
        record["result"] = result
    record.update(fields)
    return record


def with_result(**fields) -> dict:
    record = sample(LOGINS)
    for name, value in fields.items():
        if value is None:
            record["result"].pop(name, None)
        else:
            record["result"][name] = value
    return record


# --- field mapping --------------------------------------------------------------------------


def test_scheduled_alert_maps_every_field():
    record = sample(LOGINS)
    alert = splunk.parse(record)

    assert alert.title == "Excessive Failed Logins"
    assert alert.rule_id == alert.rule_name == "Excessive Failed Logins"
    assert alert.severity == "high"  # severity "5": Splunk's "severe"
    assert alert.observed_at == datetime(2024, 3, 12, 8, 44, tzinfo=UTC)
    assert alert.observed_at.tzinfo is UTC
    assert alert.description == f"Splunk results: {record['results_link']}"
    assert observed(alert) == {
        ("ip", "203.0.113.77"),
        ("hostname", "vpn-gw-01.corp.example.com"),
        ("hostname", "vpn-gw-01"),  # the Splunk host the event came from
        ("user", "jsmith"),
    }
    assert alert.source_ref.startswith(record["sid"] + ":")
    assert alert.raw is record


def test_source_ref_is_the_sid_and_the_result():
    record = sample(LOGINS)
    first = splunk.parse(record)
    redelivered = splunk.parse(copy.deepcopy(record))
    other_row = splunk.parse(with_result(src="198.51.100.4"))
    with_address = splunk.parse(with_result(_cd="117:2291045"))

    assert first.source_ref == redelivered.source_ref
    assert first.source_ref != other_row.source_ref
    digest = first.source_ref.removeprefix(record["sid"] + ":")
    assert re.fullmatch(r"[0-9a-f]{32}", digest), digest
    assert with_address.source_ref == f"{record['sid']}:117:2291045"
    assert splunk.parse(payload(sid=None)).source_ref == ""  # the ingest digests the payload


def test_es_notable_forwarded_by_a_search_is_titled_by_the_notable():
    alert = splunk.parse(sample("splunk_es_notable.json"))

    assert alert.title == "LSASS memory read by mk.exe on FIN-WS-042"
    assert alert.rule_id == "Endpoint - Credential Dumping via LSASS Access - Rule"
    assert alert.severity == "critical"  # urgency wins over severity "high"
    assert alert.category == "endpoint"
    assert alert.mitre == ["T1003.001"]
    assert alert.source_ref == (
        "notable:5E6DE97D-B137-47AB-8905-8C4F42998937@@notable@@9f3c1a8d2b7e4f60a5c1d2e3f4a5b6c7"
    )
    assert alert.description.startswith("A process opened LSASS with read access")
    assert observed(alert) == {
        ("ip", "10.30.4.42"),
        ("hostname", "fin-ws-042"),
        ("user", "CORP\\jdoe"),
        ("hash", "4a78285d464ac2daec3271b435e4bc055c5c0c8fab281159ea814db21a4faa71"),
    }  # not es-sh-01: a notable's host is the search head that wrote it


def test_a_notable_seen_by_two_runs_of_the_forwarding_search_is_one_alert():
    first = sample("splunk_es_notable.json")
    second = copy.deepcopy(first)
    second["sid"] = "scheduler__admin__SplunkEnterpriseSecuritySuite__RMD5c0ffee_at_1710235860_1211"
    assert splunk.parse(first).source_ref == splunk.parse(second).source_ref


def test_email_alert_yields_senders_recipients_urls_and_hashes():
    alert = splunk.parse(sample("splunk_phishing_email.json"))

    assert alert.severity == "high"
    assert alert.mitre == ["T1566.001"]
    assert alert.observed_at == datetime(2024, 3, 12, 11, 31, 9, tzinfo=UTC)
    assert observed(alert) == {
        ("ip", "192.0.2.141"),
        ("url", "https://invoices-examplepay.com/view?id=44812"),
        ("domain", "invoices-examplepay.com"),
        ("hash", "d2060b0abc834dd872068db3ce8ee88059acd70c344a648f55b0592b7bc793f7"),
        ("email", "billing@invoices-examplepay.com"),  # sender, and src_user in the Email model
        ("email", "a.martin@corp.example.com"),  # recipient is multivalue
        ("email", "r.chen@corp.example.com"),
    }  # dest "unknown" is CIM's placeholder


def test_the_documented_example_with_no_search_name():
    record = sample("splunk_docs_example.json")
    alert = splunk.parse(record)

    assert alert.title == "Splunk search scheduler_admin_search_W2_at_14232356_132"
    assert alert.rule_id == ""
    assert alert.severity == "medium"
    assert alert.observed_at is None
    assert alert.observables == []


def test_cim_field_names_become_typed_observables():
    alert = splunk.parse(
        payload(
            {
                "src": "WS-042",
                "dest": "10.0.0.9",
                "src_ip": "127.0.0.1",
                "dest_ip": "::ffff:192.0.2.7",
                "dest_nt_host": "FILESRV01",
                "src_user": "CORP\\svc_backup",
                "dest_user": "-",
                "url": "/relative/path",
                "query": "xk2j3.dyn-dns.example",
                "domain": "CORP",
                "Hashes": "MD5=7DCE83A6B9FBF71BB775846281BC5860,"
                "IMPHASH=1B0369A1E06271833F78FFA70FFB4EAF",
                "md5": "not-a-hash",
            }
        )
    )
    assert observed(alert) == {
        ("hostname", "ws-042"),
        ("ip", "10.0.0.9"),
        ("ip", "192.0.2.7"),
        ("hostname", "filesrv01"),
        ("user", "CORP\\svc_backup"),
        ("domain", "xk2j3.dyn-dns.example"),
        ("hash", "7dce83a6b9fbf71bb775846281bc5860"),
    }


@pytest.mark.parametrize(
    "field, value, expected",
    [
        (
            "annotations.mitre_attack.mitre_technique_id",
            ["T1059.001", "T1204"],
            ["T1059.001", "T1204"],
        ),
        ("annotations", '{"mitre_attack": ["T1021.002"], "cis20": ["CIS 10"]}', ["T1021.002"]),
        ("technique_id", "t1110", ["T1110"]),
        ("mitre_attack", "TA0006", []),
    ],
)
def test_mitre_technique_ids_from_result_fields(field, value, expected):
    assert splunk.parse(with_result(**{field: value})).mitre == expected


# --- severity -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fields, severity",
    [
        ({"urgency": "informational"}, "info"),
        ({"urgency": "low"}, "low"),
        ({"urgency": "medium"}, "medium"),
        ({"urgency": "high"}, "high"),
        ({"urgency": "Critical"}, "critical"),
        ({"urgency": "unknown", "severity": "low"}, "low"),
        ({"urgency": "critical", "severity": "low"}, "critical"),
        ({"severity": "informational"}, "info"),
        ({"severity": "warning"}, "low"),
        ({"severity": "error"}, "medium"),
        ({"severity": "severe"}, "high"),
        ({"severity": "fatal"}, "critical"),
        ({"severity": "1"}, "info"),
        ({"severity": "2"}, "info"),
        ({"severity": "3"}, "low"),
        ({"severity": "4"}, "medium"),
        ({"severity": "5"}, "high"),
        ({"severity": "6"}, "critical"),
        ({"severity": 6}, "critical"),
        ({"severity": "0"}, "medium"),
        ({"severity": "7"}, "medium"),
        ({"severity": "85"}, "medium"),
        ({"severity": "unknown"}, "medium"),
        ({"severity": ["high", "low"]}, "high"),
        ({"severity": None}, "medium"),
    ],
)
def test_severity_mapping(fields, severity):
    assert splunk.parse(with_result(**fields)).severity == severity


# --- time -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fields, expected",
    [
        ({"_time": "1710233040.250"}, datetime(2024, 3, 12, 8, 44, 0, 250000, tzinfo=UTC)),
        ({"_time": 1710233040}, datetime(2024, 3, 12, 8, 44, tzinfo=UTC)),
        ({"_time": "2024-03-12T09:44:00.000+01:00"}, datetime(2024, 3, 12, 8, 44, tzinfo=UTC)),
        ({"_time": None, "firstTime": "1710233040"}, datetime(2024, 3, 12, 8, 44, tzinfo=UTC)),
        ({"_time": None, "firstTime": "03/12/2024 08:44:00"}, None),  # convert ctime text
        ({"_time": None}, None),
    ],
)
def test_observed_time_is_utc(fields, expected):
    alert = splunk.parse(with_result(**fields))
    assert alert.observed_at == expected
    if expected is not None:
        assert alert.observed_at.tzinfo is UTC


# --- batches --------------------------------------------------------------------------------


def test_content_types_are_json_and_ndjson():
    assert splunk.CONTENT_TYPES == DEFAULT_CONTENT_TYPES


def test_one_payload_array_and_ndjson():
    payloads = [sample(name) for name in ALL_SAMPLES]
    assert splunk.records((SAMPLES / LOGINS).read_bytes(), "application/json") == [sample(LOGINS)]
    assert splunk.records(json.dumps(payloads).encode(), "application/json") == payloads

    body = "\n".join([json.dumps(payloads[0]), "", "nope", json.dumps(payloads[1])]).encode()
    batch = splunk.records(body, "application/x-ndjson")
    assert batch[0] == payloads[0] and batch[2] == payloads[1]
    assert isinstance(batch[1], RecordError)
    with pytest.raises(RecordError, match="line 3"):
        splunk.parse(batch[1])


def test_a_body_that_is_not_json_is_refused_whole():
    with pytest.raises(BodyError):
        splunk.records(b"sid=scheduler_admin&search_name=x", "application/json")


# --- bad records ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "record, message",
    [
        ("payload", "JSON object"),
        ([{"result": {}}], "JSON object"),
        ({}, '"result" object'),
        ({"search_name": "x"}, '"result" object'),
        ({"result": [{"src": "1.2.3.4"}], "search_name": "x"}, '"result" object'),
        ({"result": "src=1.2.3.4", "search_name": "x"}, '"result" object'),
        ({"result": {}, "search_name": "x", "sid": 17}, "sid must be a string"),
        ({"result": {}, "search_name": ["x"]}, "search_name must be a string"),
        ({"result": {}, "search_name": "x", "results_link": {}}, "results_link must be"),
        ({"result": {}}, "search_name"),
        ({"result": {}, "search_name": "  ", "sid": ""}, "search_name"),
        ({"result": {"_time": "yesterday"}, "search_name": "x"}, "result._time"),
        ({"result": {"_time": {"x": 1}}, "search_name": "x"}, "result._time"),
        ({"result": {"_time": 10**400}, "search_name": "x"}, "out of range"),
    ],
)
def test_bad_records_are_rejected_with_a_reason(record, message):
    with pytest.raises(RecordError, match=message):
        splunk.parse(record)


# --- fuzzing: nothing but RecordError escapes ------------------------------------------------

ODD_VALUES = [*fuzz.ODD_SCALARS, "T1003", "::1", "9" * 32, "a@b@c", *fuzz.ODD_CONTAINERS]

_VOCABULARY = [
    "result",
    "sid",
    "search_name",
    "results_link",
    "_time",
    "_cd",
    "firstTime",
    "urgency",
    "severity",
    "rule_title",
    "rule_name",
    "event_id",
    "src",
    "dest",
    "user",
    "src_user",
    "url",
    "query",
    "file_hash",
    "Hashes",
    "sender",
    "recipient",
    "annotations.mitre_attack",
    "security_domain",
]
WORDS = fuzz.vocabulary(
    _VOCABULARY, ODD_VALUES, ["5", "critical", "T1003.001", "10.0.0.1", "1710233040", "x@y.example"]
)


@pytest.mark.parametrize("name", ALL_SAMPLES)
def test_every_field_replaced_by_an_odd_value_is_parsed_or_rejected(name):
    fuzz.every_field_replaced(splunk.parse, sample(name), ODD_VALUES)


def _as_a_result(rng, record) -> list:
    """The random JSON as the search result of an alert payload."""
    return [{"result": record, "search_name": "x", "sid": "s"}]


def test_arbitrary_json_is_parsed_or_rejected():
    fuzz.arbitrary_json(
        splunk.parse,
        WORDS,
        [[sample(name)] for name in ALL_SAMPLES],
        seed=20240312,
        rounds=1500,
        wrapped=_as_a_result,
    )
