"""alerts.intake.alertmanager: Prometheus Alertmanager webhook notifications, version "4"
(pure unit tests, no database)."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from alerts.intake import alertmanager
from alerts.intake.base import BodyError, RecordError
from tests.intake import fuzz

SAMPLES = Path(__file__).parent / "samples"
JSON = "application/json"
NDJSON = "application/x-ndjson"


def webhook(name: str) -> dict:
    return json.loads((SAMPLES / f"alertmanager_{name}.json").read_bytes())


def body(document) -> bytes:
    return json.dumps(document).encode()


def parsed(name: str) -> list:
    return [alertmanager.parse(r) for r in alertmanager.records(body(webhook(name)), JSON)]


def obs(alert) -> set[tuple[str, str]]:
    return {(o.type, o.value) for o in alert.observables}


def one_alert(**changes) -> dict:
    """One record as records() makes it, from the firing sample, with the alert changed."""
    record = alertmanager.records(body(webhook("firing")), JSON)[0]
    record["alert"].update(changes)
    return record


# --- expansion --------------------------------------------------------------------------------
def test_content_types_are_json_and_ndjson():
    assert alertmanager.CONTENT_TYPES == {JSON, NDJSON}


def test_records_expands_a_webhook_into_its_alerts_with_their_context():
    document = webhook("firing")
    records = alertmanager.records(body(document), JSON)
    assert len(records) == 2
    for record, original in zip(records, document["alerts"], strict=True):
        assert record["alert"] == original  # the alert exactly as received
        context = record["webhook"]
        assert "alerts" not in context
        assert context["groupKey"] == document["groupKey"]
        assert context["commonLabels"] == document["commonLabels"]
        assert context["receiver"] == "mssp-portal"
        assert context["version"] == "4"
        assert context["truncatedAlerts"] == 0


def test_raw_is_the_alert_with_its_webhook_context():
    record = alertmanager.records(body(webhook("firing")), JSON)[0]
    alert = alertmanager.parse(record)
    assert alert.raw is record
    assert json.loads(json.dumps(alert.raw)) == record


def test_an_empty_alerts_list_gives_no_records():
    document = webhook("firing")
    document["alerts"] = []
    assert alertmanager.records(body(document), JSON) == []


def test_ndjson_of_webhooks_expands_each_and_keeps_a_bad_line_as_its_error():
    lines = [
        json.dumps(webhook("firing")).encode(),
        b'{"version": "4", "alerts": [',
        json.dumps(webhook("watchdog")).encode(),
    ]
    records = alertmanager.records(b"\n".join(lines), NDJSON)
    assert len(records) == 4
    assert isinstance(records[2], RecordError) and str(records[2]).startswith("line 2:")
    with pytest.raises(RecordError, match="line 2"):
        alertmanager.parse(records[2])
    assert alertmanager.parse(records[3]).rule_id == "Watchdog"


def test_a_json_array_of_webhooks_is_accepted():
    records = alertmanager.records(body([webhook("firing"), webhook("mixed")]), JSON)
    assert len(records) == 5


# --- firing -----------------------------------------------------------------------------------
def test_firing_alert_mapping():
    first, second = parsed("firing")
    assert first.title == "InstanceDown: Instance 10.20.1.15:9100 down"
    assert first.severity == "critical"
    assert first.category == "availability"
    assert first.status == "firing"
    assert first.ends_at is None  # endsAt is Go's zero time
    # nanoseconds are cut to microseconds; the time is aware and UTC
    assert first.observed_at == datetime(2026, 11, 27, 10, 15, 32, 123456, tzinfo=UTC)
    assert first.observed_at.utcoffset().total_seconds() == 0
    assert first.source_ref == "5d1c07b3ae2c9f10:2026-11-27T10:15:32.123456789Z"
    assert first.fingerprint == "alertmanager:5d1c07b3ae2c9f10"
    assert first.rule_id == first.rule_name == "InstanceDown"
    assert first.description == (
        "10.20.1.15:9100 of job node has been down for more than 5 minutes.\n\n"
        "Runbook: https://runbooks.corp.example.com/node/InstanceDown"
    )
    assert set(first.tags) == {"alertmanager", "job:node", "receiver:mssp-portal"}
    assert obs(first) == {("ip", "10.20.1.15")}  # the port is stripped
    assert obs(second) == {("hostname", "db-02.corp.example.com")}
    assert second.observed_at == datetime(2026, 11, 27, 10, 16, 2, 500000, tzinfo=UTC)
    assert first.mitre == []


def test_links_back_to_the_monitoring_system_are_not_observables():
    for alert in parsed("firing") + parsed("mixed") + parsed("watchdog"):
        values = {value for _, value in obs(alert)}
        assert not any("prometheus" in v or "runbook" in v or "alertmanager" in v for v in values)


def test_redelivered_notification_has_the_same_source_ref():
    assert [a.source_ref for a in parsed("firing")] == [a.source_ref for a in parsed("firing")]


def test_the_same_alert_firing_again_later_is_a_new_alert_of_the_same_problem():
    first = alertmanager.parse(one_alert())
    again = alertmanager.parse(one_alert(startsAt="2026-11-28T02:00:00Z"))
    assert again.source_ref != first.source_ref
    assert again.fingerprint == first.fingerprint


# --- resolved ---------------------------------------------------------------------------------
def test_resolved_notification_refers_to_the_firing_alert():
    firing = parsed("firing")
    resolved = parsed("resolved")
    assert [a.source_ref for a in resolved] == [a.source_ref for a in firing]
    assert [a.fingerprint for a in resolved] == [a.fingerprint for a in firing]
    assert all(a.status == "resolved" for a in resolved)
    assert resolved[0].ends_at == datetime(2026, 11, 27, 10, 42, 2, 4511, tzinfo=UTC)
    # "+01:00" in the payload: converted to UTC
    assert resolved[1].ends_at == datetime(2026, 11, 27, 9, 40, 17, 250000, tzinfo=UTC)
    assert resolved[1].ends_at.tzinfo is UTC
    assert resolved[0].observed_at == firing[0].observed_at


def test_mixed_group_each_alert_keeps_its_own_status():
    probe, certificate, slow = parsed("mixed")
    assert (probe.status, certificate.status, slow.status) == ("firing", "firing", "resolved")
    # a firing alert's endsAt is only Alertmanager's expiry estimate
    assert probe.ends_at is None and certificate.ends_at is None
    assert slow.ends_at == datetime(2026, 11, 27, 10, 5, 42, 402000, tzinfo=UTC)


def test_alert_status_falls_back_to_the_webhook_status():
    record = one_alert()
    del record["alert"]["status"]
    record["webhook"]["status"] = "resolved"
    record["alert"]["endsAt"] = "2026-11-27T11:00:00Z"
    alert = alertmanager.parse(record)
    assert alert.status == "resolved"
    assert alert.ends_at == datetime(2026, 11, 27, 11, 0, tzinfo=UTC)


def test_resolved_with_zero_end_time_has_no_end():
    alert = alertmanager.parse(one_alert(status="resolved"))
    assert alert.status == "resolved" and alert.ends_at is None


# --- mapping details --------------------------------------------------------------------------
def test_blackbox_targets_urls_and_bracketed_ipv6():
    probe, certificate, slow = parsed("mixed")
    assert probe.title == (
        "BlackboxProbeFailed: Blackbox probe failed (instance https://shop.example.com/healthz)"
    )
    assert obs(probe) == {
        ("url", "https://shop.example.com/healthz"),
        ("hostname", "shop.example.com"),
    }
    assert obs(certificate) == {("ip", "2001:db8:10::443")}
    assert certificate.severity == "medium"
    assert set(probe.tags) >= {"team:web", "job:blackbox-http", "receiver:noc-webhook"}
    assert probe.raw["webhook"]["truncatedAlerts"] == 2


def test_message_annotation_is_the_older_summary():
    slow = parsed("mixed")[2]
    assert slow.title == "BlackboxSlowProbe: Blackbox probe took more than 1s to complete"
    assert slow.description == "Blackbox probe took more than 1s to complete"
    assert slow.severity == "info"


def test_title_is_the_alertname_alone_without_a_summary():
    record = one_alert(annotations={})
    record["webhook"]["commonAnnotations"] = {}
    alert = alertmanager.parse(record)
    assert alert.title == "InstanceDown"
    assert alert.description == ""


def test_watchdog_severity_none_is_info():
    (watchdog,) = parsed("watchdog")
    assert watchdog.severity == "info"
    assert watchdog.observables == []
    assert watchdog.title.startswith("Watchdog: An alert that should always be firing")


def test_common_labels_fill_in_missing_alert_labels():
    record = one_alert(labels={"alertname": "InstanceDown", "instance": "10.20.1.15:9100"})
    record["webhook"]["commonLabels"] = {"severity": "warning", "job": "node"}
    alert = alertmanager.parse(record)
    assert alert.severity == "medium"
    assert "job:node" in alert.tags


def test_alert_labels_win_over_common_labels():
    record = one_alert()
    record["webhook"]["commonLabels"] = {"severity": "info", "alertname": "Other"}
    alert = alertmanager.parse(record)
    assert alert.severity == "critical" and alert.rule_id == "InstanceDown"


def test_missing_fingerprint_uses_a_digest_of_the_labels():
    record = one_alert()
    del record["alert"]["fingerprint"]
    alert = alertmanager.parse(record)
    assert alert.source_ref.startswith("sha256:")
    assert alert.source_ref.endswith(":2026-11-27T10:15:32.123456789Z")
    assert alert.fingerprint.startswith("alertmanager:sha256:")
    assert alertmanager.parse(copy.deepcopy(record)).source_ref == alert.source_ref


def test_numeric_label_values_are_read_as_text():
    record = one_alert(labels={"alertname": "DiskFull", "severity": "warning", "port": 9100})
    assert "DiskFull" == alertmanager.parse(record).rule_id


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("critical", "critical"),
        ("CRITICAL", "critical"),
        (" page ", "critical"),
        ("emergency", "critical"),
        ("error", "high"),
        ("major", "high"),
        ("high", "high"),
        ("warning", "medium"),
        ("warn", "medium"),
        ("minor", "low"),
        ("low", "low"),
        ("info", "info"),
        ("informational", "info"),
        ("none", "info"),
        ("", "medium"),
        ("sev2", "medium"),
        ("P1", "medium"),
        (None, "medium"),
    ],
)
def test_severity_label_mapping(word, expected):
    labels = {"alertname": "X", "instance": "10.0.0.1:9100"}
    if word is not None:
        labels["severity"] = word
    record = one_alert(labels=labels)
    record["webhook"]["commonLabels"] = {}
    assert alertmanager.parse(record).severity == expected


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ({"instance": "10.0.0.5:9100"}, {("ip", "10.0.0.5")}),
        ({"instance": "10.0.0.5"}, {("ip", "10.0.0.5")}),
        ({"instance": "[2001:db8::5]:9100"}, {("ip", "2001:db8::5")}),
        ({"instance": "2001:db8::5"}, {("ip", "2001:db8::5")}),
        ({"instance": "node-1.example.com:9100"}, {("hostname", "node-1.example.com")}),
        ({"instance": "Node-1"}, {("hostname", "node-1")}),
        (
            {"instance": "https://shop.example.com:8443/healthz"},
            {("url", "https://shop.example.com:8443/healthz"), ("hostname", "shop.example.com")},
        ),
        (
            {"instance": "tcp://10.0.0.7:5432"},
            {("url", "tcp://10.0.0.7:5432"), ("ip", "10.0.0.7")},
        ),
        ({"instance": "has a space:80"}, set()),
        ({"instance": "http://[::1"}, {("url", "http://[::1")}),
        (
            {"node": "worker-3", "exported_instance": "10.1.1.1:8080"},
            {("hostname", "worker-3"), ("ip", "10.1.1.1")},
        ),
        ({"job": "node", "pod": "api-7d9f"}, set()),
    ],
)
def test_target_labels_become_observables(labels, expected):
    record = one_alert(labels={"alertname": "X", **labels})
    record["webhook"]["commonLabels"] = {}
    assert obs(alertmanager.parse(record)) == expected


# --- rejected ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({**webhook("firing"), "version": "3"}, "version is '3'; only Alertmanager webhook"),
        ({**webhook("firing"), "version": 4}, "version is '4'"),  # a number is not "4"
        ({k: v for k, v in webhook("firing").items() if k != "version"}, "version is missing"),
        ({**webhook("firing"), "alerts": {"0": {}}}, '"alerts" must be a list'),
        ({**webhook("firing"), "alerts": None}, '"alerts" must be a list'),
        ([webhook("firing"), {**webhook("firing"), "version": "2"}], "webhook 2: webhook"),
        ([webhook("firing"), "text"], "webhook 2: an Alertmanager webhook"),
        ("just a string", "an Alertmanager webhook notification is a JSON object"),
        ([[]], "JSON object"),
    ],
)
def test_unusable_bodies_are_body_errors(document, message):
    with pytest.raises(BodyError, match=message.replace("(", r"\(")):
        alertmanager.records(body(document), JSON)


def test_wrong_version_message_names_the_supported_version():
    with pytest.raises(BodyError) as caught:
        alertmanager.records(body({**webhook("firing"), "version": "3"}), JSON)
    assert '"4"' in str(caught.value)


def test_malformed_json_is_a_body_error():
    with pytest.raises(BodyError):
        alertmanager.records(b'{"version": "4", "alerts": [', JSON)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"labels": {"severity": "critical"}}, "alert has no labels.alertname"),
        ({"labels": {"alertname": "  "}}, "alert has no labels.alertname"),
        ({"labels": {}}, "alert has no labels.alertname"),
        ({"labels": None}, "alert has no labels.alertname"),
        ({"labels": ["alertname", "X"]}, "labels must be an object"),
        ({"labels": {"alertname": ["X"]}}, "labels.alertname must be a string"),
        ({"annotations": "summary"}, "annotations must be an object"),
        ({"status": "pending"}, 'status must be "firing" or "resolved"'),
        ({"status": None}, 'status must be "firing" or "resolved"'),
        ({"startsAt": "last tuesday"}, "startsAt: time 'last tuesday'"),
        ({"startsAt": ["2026-11-27T10:00:00Z"]}, "startsAt:"),
        ({"status": "resolved", "endsAt": "soon"}, "endsAt: time 'soon'"),
        ({"startsAt": 10**400}, "startsAt: .* is out of range"),
        ({"status": "resolved", "endsAt": -(10**400)}, "endsAt: .* is out of range"),
    ],
)
def test_bad_alerts_are_rejected_with_a_clear_message(change, message):
    record = one_alert(**change)
    record["webhook"]["commonLabels"] = {}
    with pytest.raises(RecordError, match=message):
        alertmanager.parse(record)


def test_alert_entries_that_are_not_objects_are_rejected_one_by_one():
    document = webhook("firing")
    document["alerts"].insert(1, "InstanceDown")
    records = alertmanager.records(body(document), JSON)
    assert len(records) == 3
    with pytest.raises(RecordError, match="each entry of alerts is a JSON object"):
        alertmanager.parse(records[1])
    assert alertmanager.parse(records[2]).rule_id == "InstanceDown"


@pytest.mark.parametrize("record", [None, "x", 3, [], {}, {"labels": {"alertname": "X"}}])
def test_records_not_made_by_records_are_rejected(record):
    with pytest.raises(RecordError):
        alertmanager.parse(record)


# --- fuzz: nothing but RecordError escapes ----------------------------------------------------
ODD_VALUES = [
    None,
    True,
    0,
    -1,
    2**63,
    10**400,
    "²",
    "9" * 5000,
    1.5,
    "",
    " ",
    "x" * 3000,
    "\u2028\u0085",
    "💥",
    "0001-01-01T00:00:00+0100",
    "9999-12-31T23:59:59-0100",
    "1e400",
    "[::1",
    "http://[::1",
    "10.0.0.1:99999",
    [],
    [None],
    {},
    {"": {"": []}},
]


def _raw_is_json_and_times_are_utc(record, alert):
    json.dumps(alert.raw)
    assert fuzz.in_utc(alert.observed_at)
    assert fuzz.in_utc(alert.ends_at)


@pytest.mark.parametrize("name", ["firing", "resolved", "mixed"])
def test_fuzz_every_field_with_odd_values(name):
    record = alertmanager.records(body(webhook(name)), JSON)[-1]
    fuzz.every_field_replaced(
        alertmanager.parse, record, ODD_VALUES, removing=True, check=_raw_is_json_and_times_are_utc
    )


@pytest.mark.parametrize("name", ["firing", "mixed"])
def test_fuzz_webhook_bodies(name):
    for document in fuzz.variants(webhook(name), ODD_VALUES):
        try:
            records = alertmanager.records(body(document), JSON)
        except BodyError:
            continue
        for record in records:
            fuzz.parse_or_reject(alertmanager.parse, record, _raw_is_json_and_times_are_utc)
