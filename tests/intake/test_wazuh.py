"""Wazuh alerts (alerts/intake/wazuh.py), from samples shaped as Wazuh 4.x writes alerts.json.

Pure unit tests: no database."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from alerts.intake import wazuh
from alerts.intake.base import (
    DEFAULT_CONTENT_TYPES,
    BodyError,
    NormalizedAlert,
    RecordError,
    default_fingerprint,
)
from tests.intake import fuzz

SAMPLES = Path(__file__).parent / "samples"
ALL_SAMPLES = sorted(path.name for path in SAMPLES.glob("wazuh_*.json"))


def sample(name: str) -> dict:
    return json.loads((SAMPLES / name).read_text())


def observed(alert: NormalizedAlert) -> set[tuple[str, str]]:
    return {(item.type, item.value) for item in alert.observables}


def alert_with(**changes) -> dict:
    record = sample("wazuh_sshd_invalid_user.json")
    for path, value in changes.items():
        node = record
        *parents, last = path.split("__")
        for part in parents:
            node = node[part]
        node[last] = value
    return record


# --- field mapping --------------------------------------------------------------------------


def test_sshd_alert_maps_every_field():
    record = sample("wazuh_sshd_invalid_user.json")
    alert = wazuh.parse(record)

    assert alert.title == "sshd: Attempt to login using a non-existent user"
    assert alert.rule_name == alert.title
    assert alert.rule_id == "5710"
    assert alert.severity == "low"  # level 5
    assert alert.category == "authentication_failed"
    assert alert.source_ref == "1710232887.2338815"
    assert alert.description.startswith("Mar 12 08:41:26 web-prod-01 sshd[28811]: Invalid user")
    assert alert.observed_at == datetime(2024, 3, 12, 8, 41, 27, 301000, tzinfo=UTC)
    assert alert.mitre == ["T1021.004", "T1110.001"]
    assert alert.tags == sorted(
        ["syslog", "sshd", "authentication_failed", "invalid_login", "manager:wazuh-manager-01"]
    )
    assert observed(alert) == {
        ("hostname", "web-prod-01"),
        ("ip", "10.20.1.15"),
        ("ip", "203.0.113.77"),
        ("user", "oracle"),
    }
    assert alert.status == "firing"
    assert alert.raw is record


def test_windows_frequency_rule_reads_event_channel_data():
    alert = wazuh.parse(sample("wazuh_windows_logon_failures.json"))

    assert alert.title == "Multiple Windows Logon Failures"
    assert alert.severity == "high"  # level 10
    assert alert.category == "authentication_failures"
    assert alert.mitre == ["T1110"]
    # +0100 in the alert, stored in UTC.
    assert alert.observed_at == datetime(2024, 3, 12, 8, 15, 2, 874000, tzinfo=UTC)
    assert alert.observed_at.utcoffset().total_seconds() == 0
    # no_full_log: the Windows event's message describes it.
    assert alert.description == "An account failed to log on."
    assert observed(alert) == {
        ("hostname", "dc01"),
        ("ip", "10.10.0.5"),
        ("hostname", "dc01.corp.example.com"),
        ("ip", "198.51.100.23"),  # ::ffff:198.51.100.23, the IPv4 it maps
        ("hostname", "kali"),
        ("user", "administrator"),
    }  # subjectUserName "-" is no user


def test_sysmon_alert_yields_file_hashes_but_not_the_imphash():
    alert = wazuh.parse(sample("wazuh_sysmon_mimikatz.json"))

    assert alert.severity == "critical"  # level 15
    assert alert.category == "credential_dumping"
    # rule.mitre plus the technique named in Sysmon's ruleName.
    assert alert.mitre == ["T1003", "T1003.001"]
    hashes = {value for kind, value in observed(alert) if kind == "hash"}
    assert hashes == {
        "ddce18a0e835f3eed797510446432c0040b74874",
        "7dce83a6b9fbf71bb775846281bc5860",
        "4a78285d464ac2daec3271b435e4bc055c5c0c8fab281159ea814db21a4faa71",
    }
    assert "1b0369a1e06271833f78ffa70ffb4eaf" not in hashes  # IMPHASH
    assert ("user", "CORP\\jdoe") in observed(alert)
    assert ("hostname", "fin-ws-042.corp.example.com") in observed(alert)


def test_file_integrity_alert_yields_the_new_hashes_and_who_changed_the_file():
    alert = wazuh.parse(sample("wazuh_syscheck_modified.json"))

    assert alert.title == "Integrity checksum changed."
    assert alert.severity == "medium"  # level 7
    assert alert.category == "syscheck"
    assert alert.mitre == ["T1565.001"]
    assert observed(alert) >= {
        ("hash", "f9d6d03789eb03ead33dc122b6952b44"),
        ("hash", "0a21b780601c69acf5586374cc1dce92435cf1af"),
        ("hash", "dcb5bb1a88aba2d66cff25218b46210054da2bd0019b017d7ae89fa449efbc30"),
        ("user", "deploy"),
    }
    # The content before the change is not an observable of this alert.
    assert ("hash", "2c1a4f1b26a1e2b5c0a71e6a9d27c315") not in observed(alert)


def test_web_attack_alert_keeps_a_request_path_out_of_the_urls():
    alert = wazuh.parse(sample("wazuh_web_sql_injection.json"))

    assert alert.category == "sql_injection"
    assert alert.mitre == ["T1190"]
    assert ("ip", "198.51.100.23") in observed(alert)
    assert not [value for kind, value in observed(alert) if kind == "url"]


def test_absolute_urls_and_json_decoded_addresses_are_observables():
    record = alert_with(
        data={"src_ip": "192.0.2.10", "dest_ip": "192.0.2.20", "url": "http://evil.example/x"}
    )
    assert observed(wazuh.parse(record)) >= {
        ("ip", "192.0.2.10"),
        ("ip", "192.0.2.20"),
        ("url", "http://evil.example/x"),
    }


def test_virustotal_integration_alert_names_the_file_hashes():
    record = alert_with(
        data={
            "virustotal": {
                "found": "1",
                "malicious": "1",
                "source": {
                    "alert_id": "1710238965.2871144",
                    "file": "/var/www/html/uploads/shell.php",
                    "md5": "844764f56f7b6fd871d505f3adf30eee",
                    "sha1": "9f360cf5d47a3985085989e8c9e15cc4b5e8fe5e",
                },
                "positives": "51",
                "total": "68",
            },
            "integration": "virustotal",
        }
    )
    assert observed(wazuh.parse(record)) >= {
        ("hash", "844764f56f7b6fd871d505f3adf30eee"),
        ("hash", "9f360cf5d47a3985085989e8c9e15cc4b5e8fe5e"),
    }


def test_sysmon_dns_query_is_a_domain_and_loopback_addresses_are_dropped():
    record = alert_with(
        data={
            "win": {
                "eventdata": {
                    "QueryName": "c2.bad-updates.example",
                    "SourceIp": "127.0.0.1",
                    "DestinationIp": "::",
                }
            }
        }
    )
    found = observed(wazuh.parse(record))
    assert ("domain", "c2.bad-updates.example") in found  # keys compared case-insensitively
    assert not {value for kind, value in found if kind == "ip"} & {"127.0.0.1", "::"}


def test_wazuh_2x_alert_with_top_level_fields_and_legacy_timestamp():
    alert = wazuh.parse(sample("wazuh_legacy_2x_sudo.json"))

    assert alert.rule_id == "5402"  # a number in 2.x
    assert alert.severity == "info"  # level 3
    assert alert.observed_at == datetime(2017, 1, 5, 14, 11, 21, tzinfo=UTC)
    assert {("user", "agent"), ("user", "root")} <= observed(alert)
    assert alert.source_ref == ""  # no id: the ingest identifies it by its digest


# --- wrappers -------------------------------------------------------------------------------


def test_shuffle_message_is_read_as_the_alert_it_carries():
    record = sample("wazuh_shuffle_wrapper.json")
    alert = wazuh.parse(record)
    plain = wazuh.parse(sample("wazuh_sshd_invalid_user.json"))

    assert alert.raw is record  # the payload as received
    assert (alert.title, alert.source_ref, alert.fingerprint, alert.severity) == (
        plain.title,
        plain.source_ref,
        plain.fingerprint,
        plain.severity,
    )
    assert observed(alert) == observed(plain)


@pytest.mark.parametrize(
    "wrap",
    [
        lambda alert: {"version": 1, "command": "add", "parameters": {"alert": alert}},
        lambda alert: {"_index": "wazuh-alerts-4.x-2024.03.12", "_id": "x1", "_source": alert},
    ],
    ids=["active-response", "indexer-hit"],
)
def test_other_wrappers_are_opened(wrap):
    alert = wazuh.parse(wrap(sample("wazuh_sshd_invalid_user.json")))
    assert alert.source_ref == "1710232887.2338815"
    assert alert.rule_id == "5710"


# --- severity -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "level, severity",
    [
        (0, "info"),
        (3, "info"),
        (4, "low"),
        (6, "low"),
        (7, "medium"),
        (9, "medium"),
        (10, "high"),
        (12, "high"),
        (13, "critical"),
        (15, "critical"),
        (16, "critical"),
        (99, "critical"),
        (-1, "info"),
        ("8", "medium"),
        (11.0, "high"),
    ],
)
def test_rule_level_maps_to_severity(level, severity):
    assert wazuh.parse(alert_with(rule__level=level)).severity == severity


# --- identity and grouping ------------------------------------------------------------------


def test_fingerprint_is_the_rule_on_one_agent_whatever_the_source_address():
    first = wazuh.parse(sample("wazuh_sshd_invalid_user.json"))
    other_attacker = wazuh.parse(alert_with(data={"srcip": "192.0.2.99"}, id="1.2"))
    other_agent = wazuh.parse(alert_with(agent={"id": "004", "name": "web-prod-02"}))
    other_manager = wazuh.parse(alert_with(manager={"name": "wazuh-manager-02"}))
    other_rule = wazuh.parse(alert_with(rule__id="5712"))

    assert first.fingerprint == other_attacker.fingerprint
    assert len({first.fingerprint, other_agent.fingerprint, other_manager.fingerprint}) == 3
    assert first.fingerprint != other_rule.fingerprint
    assert first.source_ref != other_attacker.source_ref


def test_without_an_agent_the_default_fingerprint_applies():
    record = alert_with()
    del record["agent"]
    alert = wazuh.parse(record)
    assert alert.fingerprint == default_fingerprint(alert)


# --- batches --------------------------------------------------------------------------------


def test_content_types_are_json_and_ndjson():
    assert wazuh.CONTENT_TYPES == DEFAULT_CONTENT_TYPES


def test_one_object_is_one_record():
    body = (SAMPLES / "wazuh_sshd_invalid_user.json").read_bytes()
    assert wazuh.records(body, "application/json") == [sample("wazuh_sshd_invalid_user.json")]


def test_an_array_is_a_batch():
    alerts = [sample(name) for name in ALL_SAMPLES]
    batch = wazuh.records(json.dumps(alerts).encode(), "application/json")
    assert batch == alerts
    assert [wazuh.parse(record).source_ref for record in batch] == [
        alert.get("id", alert.get("all_fields", {}).get("id", "")) for alert in alerts
    ]


def test_ndjson_as_alerts_json_is_written_is_a_batch_and_a_bad_line_is_named():
    lines = [json.dumps(sample(name)) for name in ALL_SAMPLES[:3]]
    body = "\n".join([lines[0], "", lines[1], "{not json", lines[2]]).encode() + b"\n"
    batch = wazuh.records(body, "application/x-ndjson")

    assert len(batch) == 4
    assert isinstance(batch[2], RecordError)
    assert "line 4" in str(batch[2])
    with pytest.raises(RecordError, match="line 4"):
        wazuh.parse(batch[2])
    assert [wazuh.parse(record).title for record in (batch[0], batch[1], batch[3])] == [
        wazuh.parse(sample(name)).title for name in ALL_SAMPLES[:3]
    ]


def test_a_body_that_is_not_json_is_refused_whole():
    with pytest.raises(BodyError):
        wazuh.records(b"** Alert 1710232887.2338815: - syslog,sshd,", "application/json")


# --- bad records ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "record, message",
    [
        ([], "JSON object"),
        ("alert", "JSON object"),
        ({}, '"rule" object'),
        ({"rule": "5710"}, '"rule" object'),
        ({"rule": {"level": 5}}, "rule.description is required"),
        ({"rule": {"level": 5, "description": "   "}}, "rule.description is required"),
        ({"rule": {"level": 5, "description": ["x"]}}, "rule.description is required"),
        ({"rule": {"description": "x"}}, "rule.level is required"),
        ({"rule": {"description": "x", "level": "high"}}, "rule.level is required"),
        ({"rule": {"description": "x", "level": True}}, "rule.level is required"),
        ({"rule": {"description": "x", "level": 7.5}}, "rule.level is required"),
        ({"rule": {"description": "x", "level": 5, "id": {"x": 1}}}, "rule.id must be"),
        ({"rule": {"description": "x", "level": 5}, "id": [1]}, "id must be"),
        ({"rule": {"description": "x", "level": 5}, "timestamp": "yesterday"}, "timestamp"),
        ({"rule": {"description": "x", "level": 5}, "timestamp": {"t": 1}}, "timestamp"),
        # A 401-digit number is valid JSON; as a time it is out of any range.
        ({"rule": {"description": "x", "level": 5}, "timestamp": 10**400}, "out of range"),
        (
            {"rule": {"description": "x", "level": 5}, "timestamp": "0001-01-01T00:00:00+05:00"},
            "out of range",
        ),
        ({"all_fields": {"rule": None}}, '"rule" object'),
    ],
)
def test_bad_records_are_rejected_with_a_reason(record, message):
    with pytest.raises(RecordError, match=message):
        wazuh.parse(record)


@pytest.mark.parametrize(
    "changes",
    [
        {"agent": "web-prod-01"},
        {"agent": [{"name": "x"}]},
        {"data": ["203.0.113.77"]},
        {"data": {"win": "x"}},
        {"syscheck": "changed"},
        {"rule__mitre": "T1110"},
        {"rule__mitre": {"id": [1, None, {"x": "T1110"}, "t1078"]}},
        {"rule__groups": "sshd"},
        {"manager": None},
        {"full_log": {"x": 1}},
    ],
)
def test_optional_parts_of_the_wrong_shape_are_ignored(changes):
    alert = wazuh.parse(alert_with(**changes))
    assert alert.title == "sshd: Attempt to login using a non-existent user"


def test_lowercase_technique_ids_are_normalised():
    alert = wazuh.parse(alert_with(rule__mitre={"id": ["t1078", "T1110.001", "TA0006", "T12"]}))
    assert alert.mitre == ["T1078", "T1110.001"]


# --- fuzzing: nothing but RecordError escapes ------------------------------------------------

ODD_VALUES = [*fuzz.ODD_SCALARS, "T1110", "::1", "9" * 40, *fuzz.ODD_CONTAINERS, {"id": {}}]

_VOCABULARY = [
    "rule",
    "level",
    "description",
    "id",
    "groups",
    "mitre",
    "agent",
    "name",
    "ip",
    "manager",
    "data",
    "srcip",
    "dstip",
    "srcuser",
    "win",
    "eventdata",
    "system",
    "hashes",
    "syscheck",
    "md5_after",
    "audit",
    "user",
    "timestamp",
    "all_fields",
    "parameters",
    "alert",
    "_source",
    "full_log",
    "predecoder",
    "hostname",
    "url",
]
WORDS = fuzz.vocabulary(
    _VOCABULARY, ODD_VALUES, ["5", "T1003.001", "10.0.0.1", "2024-03-12T08:41:27+0000", "SHA1=AB"]
)


@pytest.mark.parametrize("name", ALL_SAMPLES)
def test_every_field_replaced_by_an_odd_value_is_parsed_or_rejected(name):
    fuzz.every_field_replaced(wazuh.parse, sample(name), ODD_VALUES)


def _in_an_alert(rng, record) -> list:
    """A random rule and agent, as an alert has them."""
    return [{"rule": fuzz.random_json(rng, WORDS), "agent": fuzz.random_json(rng, WORDS)}]


def test_arbitrary_json_is_parsed_or_rejected():
    fuzz.arbitrary_json(
        wazuh.parse,
        WORDS,
        [[sample(name)] for name in ALL_SAMPLES],
        seed=20240312,
        rounds=1500,
        wrapped=_in_an_alert,
    )


def test_every_sample_is_observed_in_aware_utc():
    for name in ALL_SAMPLES:
        alert = wazuh.parse(sample(name))
        assert alert.observed_at is not None, name
        assert alert.observed_at.tzinfo is UTC, name
