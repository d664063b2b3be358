"""Every intake source kind has a format module, and every format module keeps the one
contract the pipeline relies on (alerts.intake.base.SourceFormat). Pure unit tests."""

from __future__ import annotations

import inspect

import pytest

from alerts.intake import FORMATS, KINDS, source_module
from alerts.intake.base import NormalizedAlert, SourceFormat
from alerts.models import SourceKind


def test_every_source_kind_has_a_format_module():
    assert set(FORMATS) == set(SourceKind.values)
    assert list(KINDS) == list(SourceKind.values)  # the OpenAPI enum keeps SourceKind's order


@pytest.mark.parametrize("kind", KINDS)
def test_each_module_is_a_source_format(kind):
    module = source_module(kind)
    assert isinstance(module, SourceFormat)
    assert module.KIND == kind
    assert isinstance(module.CONTENT_TYPES, frozenset) and module.CONTENT_TYPES
    assert all(media == media.strip().lower() for media in module.CONTENT_TYPES)
    assert list(inspect.signature(module.records).parameters) == ["body", "content_type"]
    assert list(inspect.signature(module.parse).parameters) == ["record"]


@pytest.mark.parametrize("kind", KINDS)
def test_each_module_turns_a_body_into_alerts_through_the_protocol(kind):
    """records() then parse(), as the pipeline calls them, on the smallest body of the kind."""
    module = source_module(kind)
    body, media = MINIMAL[kind]
    assert media in module.CONTENT_TYPES
    (record, *_) = module.records(body, media)
    assert isinstance(module.parse(record), NormalizedAlert)


def test_the_protocol_check_bites():
    """A module missing part of the contract is not a SourceFormat (the check is not vacuous)."""

    class NoParse:
        KIND = "x"
        CONTENT_TYPES = frozenset({"application/json"})

        def records(self, body, content_type):
            return []

    assert not isinstance(NoParse(), SourceFormat)


def test_an_unknown_kind_has_no_module():
    with pytest.raises(KeyError):
        source_module("syslog")


MINIMAL = {
    "generic": (b'{"title": "t", "severity": "low"}', "application/json"),
    "wazuh": (
        b'{"rule": {"id": "5710", "level": 5, "description": "sshd: invalid user"},'
        b' "agent": {"id": "001", "name": "web-1"}, "timestamp": "2026-11-27T10:00:00Z"}',
        "application/json",
    ),
    "elastic": (
        b'{"kibana.alert.rule.name": "Suspicious PowerShell", "kibana.alert.severity": "high",'
        b' "kibana.alert.uuid": "a1", "@timestamp": "2026-11-27T10:00:00Z"}',
        "application/json",
    ),
    "splunk": (
        b'{"result": {"_time": "1710233100", "src": "203.0.113.9"}, "sid": "s1",'
        b' "search_name": "Excessive Failed Logins"}',
        "application/json",
    ),
    "suricata": (
        b'{"event_type": "alert", "timestamp": "2026-11-27T10:00:00.000000+0000",'
        b' "src_ip": "203.0.113.9", "dest_ip": "10.0.0.5",'
        b' "alert": {"signature": "ET SCAN", "signature_id": 2001, "severity": 2}}\n',
        "application/x-ndjson",
    ),
    "alertmanager": (
        b'{"version": "4", "status": "firing", "receiver": "mssp", "groupKey": "g",'
        b' "alerts": [{"status": "firing", "labels": {"alertname": "HostDown",'
        b' "instance": "web-1:9100"}, "annotations": {}, "startsAt": "2026-11-27T10:00:00Z",'
        b' "fingerprint": "f1"}]}',
        "application/json",
    ),
    "cef": (
        b"CEF:0|Vendor|Product|1.0|100|Port scan|5|src=203.0.113.9 dst=10.0.0.5",
        "text/plain",
    ),
}
