"""A log source cannot put line breaks or other control characters into one-line fields
(title, rule, category, tags): they end up in e-mail subjects, where a newline makes the
message unsendable ("Header values can't contain newlines"). Every source format is
covered: the table below must name each kind the intake accepts (pure unit tests)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from alerts.intake import KINDS, source_module

SAMPLES = Path(__file__).parent / "samples"
JSON = "application/json"
# What a hostile sender can get through each format's own escaping: JSON's \n, \r, \u2028,
# \u0085 ... and, in a CEF header (one line, only \| and \\ escaped), a bare CR, VT, FF, NEL
# and the Unicode line and paragraph separators.
HOSTILE = "Escalate\r\nBcc: attacker@evil.example\x0bnow\x0c\x85\u2028\u2029\x1b[31m\x7fend"
CEF_HOSTILE = "Escalate\rBcc: attacker@evil.example\x0bnow\x0c\x85\u2028\u2029\x1b[31m\x7fend"
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _sample(name: str) -> dict:
    return json.loads((SAMPLES / name).read_text())


def generic(title: str):
    return {"title": title, "severity": "high", "category": title, "tags": [title]}


def wazuh(title: str):
    record = _sample("wazuh_sshd_invalid_user.json")
    record["rule"]["description"] = title
    record["rule"]["groups"] = [title]
    return record


def elastic(title: str):
    return {
        "kibana.alert.rule.name": title,
        "kibana.alert.severity": "high",
        "kibana.alert.uuid": "c0ffee",
        "kibana.alert.rule.tags": [title],
    }


def splunk(title: str):
    return {"search_name": title, "sid": "scheduler_1", "result": {"category": title}}


def suricata(title: str):
    return {
        "event_type": "alert",
        "src_ip": "203.0.113.9",
        "dest_ip": "10.0.0.5",
        "alert": {"signature": title, "signature_id": 2001, "severity": 1, "category": title},
    }


def alertmanager(title: str):
    record = _sample("alertmanager_firing.json")
    record["alerts"] = record["alerts"][:1]
    record["alerts"][0]["labels"]["alertname"] = title
    record["alerts"][0]["annotations"]["summary"] = title
    return record


def cef(title: str):
    # \n in an extension value is CEF's own escape for a newline (the category here)
    return f"CEF:0|Vendor|Product|1.0|100|{title}|7|src=203.0.113.9 cat=a\\nb\\rc"


RECORDS = {
    "generic": generic,
    "wazuh": wazuh,
    "elastic": elastic,
    "splunk": splunk,
    "suricata": suricata,
    "alertmanager": alertmanager,
    "cef": cef,
}


def parsed(kind: str, title: str):
    module = source_module(kind)
    record = RECORDS[kind](title)
    if kind == "cef":
        (line,) = module.records(record.encode(), "text/plain")
        return module.parse(line)
    (first, *_) = module.records(json.dumps(record).encode(), JSON)
    return module.parse(first)


def test_every_source_format_is_covered():
    assert set(RECORDS) == set(KINDS)


@pytest.mark.parametrize("kind", KINDS)
def test_a_title_with_line_breaks_and_control_characters_becomes_one_line(kind):
    alert = parsed(kind, CEF_HOSTILE if kind == "cef" else HOSTILE)
    for name in ("title", "rule_name", "rule_id", "category"):
        value = getattr(alert, name)
        assert not CONTROL.search(value), (name, value)
    for tag in alert.tags:
        assert not CONTROL.search(tag), ("tags", tag)
    # the words survive, separated by single spaces
    assert "Escalate Bcc: attacker@evil.example now" in alert.title
    assert "  " not in alert.title and alert.title.endswith("end")


@pytest.mark.parametrize("kind", KINDS)
def test_a_title_of_nothing_but_control_characters_is_untitled_or_rejected(kind):
    try:
        alert = parsed(kind, "\r\n\x0b\u2028")
    except ValueError:  # RecordError: the format requires a title and has none
        return
    assert alert.title.strip() and not CONTROL.search(alert.title)


def test_the_description_keeps_its_lines():
    alert = source_module("generic").parse(
        {"title": "t", "severity": "low", "description": "one\ntwo"}
    )
    assert alert.description == "one\ntwo"
