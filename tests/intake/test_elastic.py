"""Elastic Security detection alerts (alerts/intake/elastic.py), from samples shaped as the
`.alerts-security.alerts-*` documents Kibana hands to a Webhook connector action.

Pure unit tests: no database."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from alerts.intake import elastic
from alerts.intake.base import (
    DEFAULT_CONTENT_TYPES,
    BodyError,
    NormalizedAlert,
    RecordError,
    default_fingerprint,
)
from tests.intake import fuzz

SAMPLES = Path(__file__).parent / "samples"
ALL_SAMPLES = sorted(path.name for path in SAMPLES.glob("elastic_*.json"))
FLAT = "elastic_flat_powershell_download.json"


def sample(name: str) -> dict:
    return json.loads((SAMPLES / name).read_text())


def documents(name: str) -> list:
    return elastic.records((SAMPLES / name).read_bytes(), "application/json")


def observed(alert: NormalizedAlert) -> set[tuple[str, str]]:
    return {(item.type, item.value) for item in alert.observables}


def expand(document: dict) -> dict:
    """Dotted keys as nested objects, as Kibana's action context presents them."""
    nested: dict = {}
    for key, value in document.items():
        node = nested
        *parents, last = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = expand(value) if isinstance(value, dict) else value
    return nested


def flat_with(**changes) -> dict:
    document = sample(FLAT)
    for key, value in changes.items():
        if value is None:
            document.pop(key, None)
        else:
            document[key] = value
    return document


def comparable(alert: NormalizedAlert) -> dict:
    fields = dict(vars(alert))
    fields.pop("raw")
    return fields


# --- field mapping --------------------------------------------------------------------------


def test_flat_alert_document_maps_every_field():
    record = sample(FLAT)
    alert = elastic.parse(record)

    assert alert.title == "Remote File Download via PowerShell"
    assert alert.rule_name == alert.title
    assert alert.rule_id == "33f306e8-417c-411b-965c-c2812d6d3f4d"  # the prebuilt rule's id
    assert alert.source_ref == record["kibana.alert.uuid"]
    assert alert.severity == "medium"
    assert alert.category == "command and control"  # the first tactic
    assert alert.mitre == ["T1059", "T1059.001", "T1105"]
    # The source event's time, not the alert's.
    assert alert.observed_at == datetime(2024, 3, 12, 9, 12, 41, 377000, tzinfo=UTC)
    assert alert.description.startswith("process event with process powershell.exe")
    assert alert.description.endswith(
        "download an executable file from an untrusted remote destination."
    )
    assert "Tactic: Command and Control" in alert.tags
    assert observed(alert) == {
        ("hostname", "fin-ws-042"),
        ("ip", "10.30.4.42"),
        ("ip", "fe80::3c1d:2ab5:9e0f:1a2b"),  # 127.0.0.1 and ::1 dropped
        ("user", "jdoe"),
        ("hash", "fe61b9fcae56d9ad75ca854dad7421e4"),
        ("hash", "0fc4dde4930853252c4e1b2b4d42ad4695e21da6"),
        ("hash", "1b2b5c4ac8576e1e05cc1b61c73cc02d3dbe33a16a9ed14b0254276b0aeb8489"),
    }
    assert alert.raw is record


def test_nested_document_reads_like_the_flat_one():
    flat = elastic.parse(sample(FLAT))
    nested = elastic.parse(expand(sample(FLAT)))
    assert comparable(nested) == comparable(flat)


def test_esql_alert_without_a_host_name_keeps_the_default_fingerprint():
    alert = elastic.parse(sample("elastic_nested_esql_bruteforce.json"))

    assert alert.title == "Multiple Logon Failure from the same Source Address"
    assert alert.rule_id == "48b6edfc-079d-4907-b43c-baffa243270d"
    assert alert.category == "credential access"
    assert alert.mitre == ["T1110", "T1110.001", "T1110.003"]
    assert alert.observed_at == datetime(2024, 3, 12, 10, 4, tzinfo=UTC)
    assert observed(alert) == {("ip", "198.51.100.23")}
    assert alert.fingerprint == default_fingerprint(alert)


def test_fingerprint_is_the_rule_on_one_host():
    first = elastic.parse(sample(FLAT))
    again = elastic.parse(
        flat_with(**{"kibana.alert.uuid": "another", "source": {"ip": "1.2.3.4"}})
    )
    other_host = elastic.parse(flat_with(host={"name": "FIN-WS-043"}))

    assert first.fingerprint == again.fingerprint
    assert first.fingerprint != other_host.fingerprint
    assert first.source_ref != again.source_ref


def test_email_alert_yields_addresses_urls_and_attachment_hashes():
    first, second = (
        elastic.parse(document) for document in documents("elastic_webhook_alerts_wrapper.json")
    )

    assert first.severity == "high"
    assert first.category == "initial access"
    assert first.mitre == ["T1566", "T1566.001"]
    assert observed(first) >= {
        ("email", "billing@invoices-examplepay.com"),
        ("email", "a.martin@corp.example.com"),
        ("url", "https://invoices-examplepay.com/view?id=44812"),
        ("domain", "invoices-examplepay.com"),
        ("hash", "d2060b0abc834dd872068db3ce8ee88059acd70c344a648f55b0592b7bc793f7"),
        ("ip", "192.0.2.141"),
    }
    assert first.source_ref != second.source_ref
    assert ("email", "r.chen@corp.example.com") in observed(second)


def test_dns_question_and_relative_urls():
    alert = elastic.parse(
        flat_with(
            dns={"question": {"name": "cdn-update.example-files.net."}}, url={"original": "/a"}
        )
    )
    assert ("domain", "cdn-update.example-files.net") in observed(alert)
    assert not [value for kind, value in observed(alert) if kind == "url"]


def test_building_block_alert_is_informational():
    alert = elastic.parse(sample("elastic_building_block_file.json"))
    shell = elastic.parse(sample(FLAT))

    assert alert.severity == "info"
    assert "building_block" in alert.tags
    assert alert.fingerprint == shell.fingerprint  # same rule, same host: same incident
    assert ("domain", "cdn-update.example-files.net") in observed(alert)
    assert ("hash", "b69a4895980ab2719de6eab3fffe0043bb3318bb9616fe12cb251cf0f6944b91") in observed(
        alert
    )


def test_elastic_7_signal_read_back_from_the_index():
    record = sample("elastic_legacy_signal_7x.json")
    alert = elastic.parse(record)

    assert alert.title == "SSH Authentication Failures"
    assert alert.source_ref == record["_id"]
    assert alert.rule_id == "7d3b1c2a-9f8e-4d6c-b5a4-3e2f1d0c9b8a"
    assert alert.severity == "low"
    assert alert.mitre == ["T1110"]
    assert alert.observed_at == datetime(2021, 9, 14, 16, 39, 55, tzinfo=UTC)
    assert alert.description.startswith("authentication event with source 203.0.113.77")
    assert alert.raw is record


def test_a_search_hit_with_fields_lists_is_read():
    source = sample(FLAT)
    hit = {
        "_index": ".internal.alerts-security.alerts-default-000001",
        "_id": source["kibana.alert.uuid"],
        "fields": {
            "kibana.alert.rule.name": [source["kibana.alert.rule.name"]],
            "kibana.alert.severity": ["high"],
            "kibana.alert.original_time": [source["kibana.alert.original_time"]],
            "host.name": ["FIN-WS-042"],
            "source.ip": ["203.0.113.9"],
        },
    }
    alert = elastic.parse(hit)
    assert alert.title == "Remote File Download via PowerShell"
    assert alert.severity == "high"
    assert alert.source_ref == source["kibana.alert.uuid"]
    assert alert.observed_at == datetime(2024, 3, 12, 9, 12, 41, 377000, tzinfo=UTC)
    assert observed(alert) == {("hostname", "fin-ws-042"), ("ip", "203.0.113.9")}


# --- MITRE ----------------------------------------------------------------------------------


def test_sigma_style_rule_tags_name_techniques():
    alert = elastic.parse(
        flat_with(
            **{
                "kibana.alert.rule.threat": [],
                "kibana.alert.rule.tags": [
                    "attack.credential_access, attack.t1558, attack.lateral_movement, attack.t1550"
                ],
            }
        )
    )
    assert alert.mitre == ["T1550", "T1558"]


def test_threat_of_odd_shapes_yields_only_valid_ids():
    alert = elastic.parse(
        flat_with(
            **{
                "kibana.alert.rule.threat": {
                    "tactic": {"name": "Execution"},
                    "technique": [
                        {"id": "t1204", "subtechnique": {"id": "T1204.002"}},
                        {"id": "TA0002"},
                        {"id": 1059},
                        "T1059",
                        {"subtechnique": [{"id": "T12"}, None]},
                    ],
                }
            }
        )
    )
    assert alert.mitre == ["T1204", "T1204.002"]
    assert alert.category == "execution"


# --- severity -------------------------------------------------------------------------------


@pytest.mark.parametrize("named", ["low", "medium", "high", "critical"])
def test_elastic_severity_is_taken_as_given(named):
    alert = elastic.parse(flat_with(**{"kibana.alert.severity": named.upper()}))
    assert alert.severity == named


@pytest.mark.parametrize(
    "risk, severity",
    [
        (0, "low"),
        (21, "low"),
        (22, "medium"),
        (47, "medium"),
        (48, "high"),
        (73, "high"),
        (74, "critical"),
        (100, "critical"),
        ("73", "high"),
        ("n/a", "medium"),
        (True, "medium"),
        (None, "medium"),
    ],
)
def test_without_a_severity_the_risk_score_decides(risk, severity):
    alert = elastic.parse(
        flat_with(
            **{
                "kibana.alert.severity": "unknown",
                "kibana.alert.rule.severity": None,
                "kibana.alert.risk_score": risk,
                "kibana.alert.rule.risk_score": None,
            }
        )
    )
    assert alert.severity == severity


# --- time -----------------------------------------------------------------------------------


def test_observed_time_falls_back_to_the_alert_timestamp_and_is_utc():
    alert = elastic.parse(
        flat_with(**{"kibana.alert.original_time": None, "@timestamp": "2024-03-12T11:14:03+02:00"})
    )
    assert alert.observed_at == datetime(2024, 3, 12, 9, 14, 3, tzinfo=UTC)
    assert alert.observed_at.tzinfo is UTC
    epoch = elastic.parse(flat_with(**{"kibana.alert.original_time": 1710234761377}))
    assert epoch.observed_at == datetime(2024, 3, 12, 9, 12, 41, 377000, tzinfo=UTC)


# --- wrappers and batches -------------------------------------------------------------------


def test_content_types_are_json_and_ndjson():
    assert elastic.CONTENT_TYPES == DEFAULT_CONTENT_TYPES


def test_alerts_wrapper_is_opened_and_each_alert_keeps_its_own_raw():
    wrapper = sample("elastic_webhook_alerts_wrapper.json")
    batch = documents("elastic_webhook_alerts_wrapper.json")
    assert batch == wrapper["alerts"]
    assert [elastic.parse(document).raw for document in batch] == wrapper["alerts"]


def test_context_alerts_wrapper_is_opened():
    batch = documents("elastic_webhook_context_wrapper.json")
    assert len(batch) == 1
    alert = elastic.parse(batch[0])
    assert alert.title == "Potential Credential Access via DuplicateHandle in LSASS"
    assert alert.severity == "high"
    assert alert.mitre == ["T1003", "T1003.001"]
    assert ("hostname", "fin-ws-042") in observed(alert)


@pytest.mark.parametrize(
    "wrapper, expected",
    [
        ({"alerts": {"all": {"count": 2, "data": ["A", "B"]}, "new": {"data": ["A"]}}}, ["A", "B"]),
        ({"alerts": {"new": {"data": ["A"]}, "ongoing": {"data": ["B"]}}}, ["A", "B"]),
        ({"context.alerts": ["A"]}, ["A"]),
        ({"alerts": []}, []),
        ({"alerts": "A"}, [{"alerts": "A"}]),  # not a wrapper: parse will say why
    ],
)
def test_summary_and_flattened_wrappers(wrapper, expected):
    assert elastic.records(json.dumps(wrapper).encode(), "application/json") == expected


def test_array_and_ndjson_batches_mix_documents_and_wrappers():
    flat = sample(FLAT)
    wrapper = sample("elastic_webhook_alerts_wrapper.json")
    array = elastic.records(json.dumps([flat, wrapper]).encode(), "application/json")
    assert array == [flat, *wrapper["alerts"]]

    body = f"{json.dumps(flat)}\n\n{json.dumps(wrapper)}\n[broken\n".encode()
    batch = elastic.records(body, "application/x-ndjson")
    assert batch[:3] == [flat, *wrapper["alerts"]]
    assert isinstance(batch[3], RecordError)
    with pytest.raises(RecordError, match="line 4"):
        elastic.parse(batch[3])


def test_a_body_that_is_not_json_is_refused_whole():
    with pytest.raises(BodyError):
        elastic.records(b"{{context.alerts}}", "application/json")


# --- bad records ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "record, message",
    [
        (["x"], "JSON object"),
        (None, "JSON object"),
        ({}, "kibana.alert.rule.name is required"),
        ({"kibana.alert.rule.name": ""}, "kibana.alert.rule.name is required"),
        ({"kibana.alert.rule.name": {"en": "x"}}, "kibana.alert.rule.name is required"),
        ({"kibana": {"alert": {"rule": "x"}}}, "kibana.alert.rule.name is required"),
        ({"alerts": "A"}, "kibana.alert.rule.name is required"),
        ({"kibana.alert.rule.name": "x", "kibana.alert.uuid": 42}, "kibana.alert.uuid must be"),
        ({"kibana.alert.rule.name": "x", "@timestamp": "last tuesday"}, "@timestamp"),
        ({"kibana.alert.rule.name": "x", "kibana.alert.original_time": []}, "original_time"),
        ({"kibana.alert.rule.name": "x", "@timestamp": 10**400}, "out of range"),
        (
            {"kibana.alert.rule.name": "x", "@timestamp": "9999-12-31T23:59:59-05:00"},
            "out of range",
        ),
    ],
)
def test_bad_records_are_rejected_with_a_reason(record, message):
    with pytest.raises(RecordError, match=message):
        elastic.parse(record)


# --- fuzzing: nothing but RecordError escapes ------------------------------------------------

ODD_VALUES = [*fuzz.ODD_SCALARS, "T1059", "::1", "9" * 64, *fuzz.ODD_CONTAINERS, {"id": {}}]

_VOCABULARY = [
    "kibana.alert.rule.name",
    "kibana.alert.uuid",
    "kibana.alert.severity",
    "kibana.alert.risk_score",
    "kibana.alert.rule.threat",
    "kibana.alert.original_time",
    "kibana.alert.building_block_type",
    "kibana",
    "alert",
    "rule",
    "name",
    "threat",
    "technique",
    "subtechnique",
    "tactic",
    "id",
    "signal",
    "host",
    "ip",
    "source",
    "user",
    "email",
    "attachments",
    "file",
    "hash",
    "sha256",
    "_source",
    "_id",
    "fields",
    "@timestamp",
    "tags",
]
WORDS = fuzz.vocabulary(
    _VOCABULARY,
    ODD_VALUES,
    ["high", "T1059.001", "10.0.0.1", "2024-03-12T09:12:41Z", "attack.t1003"],
)


@pytest.mark.parametrize("name", ALL_SAMPLES)
def test_every_field_replaced_by_an_odd_value_is_parsed_or_rejected(name):
    for document in documents(name):
        fuzz.every_field_replaced(elastic.parse, document, ODD_VALUES)


def _opened(rng, record) -> list:
    """The records elastic.records finds in the random JSON, sent as a body."""
    try:
        return elastic.records(json.dumps(record).encode(), "application/json")
    except (BodyError, ValueError):  # NaN, infinities and huge numbers are not JSON
        return []


def test_arbitrary_json_is_opened_and_parsed_or_rejected():
    fuzz.arbitrary_json(
        elastic.parse,
        WORDS,
        [documents(name) for name in ALL_SAMPLES],
        seed=20240312,
        rounds=1500,
        wrapped=_opened,
    )


def test_every_sample_is_observed_in_aware_utc():
    for name in ALL_SAMPLES:
        for document in documents(name):
            alert = elastic.parse(document)
            assert alert.observed_at is not None, name
            assert alert.observed_at.tzinfo is UTC, name
