"""Threat intelligence: indicators and their normalisation, STIX/plain/CSV imports, matching at
intake (exact, CIDR, case, parent domains), the severity rule, the timeline, the live event's
audience, retro-hunts, expiry, and sightings across customers that only MSSP staff ever see."""

from __future__ import annotations

import io
import json
import uuid
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from django.utils import timezone

from alerts.models import Alert, Incident, IncidentEvent, IntakeSource
from intel import matching, normalise, parsing, services
from intel.models import Indicator, IndicatorImport, IndicatorMatch, RetroHunt
from tenants.rls import rls_bypass, tenant_scope
from tests.factories import IntakeSourceFactory, StaffFactory, TenantFactory, issue_token

pytestmark = pytest.mark.django_db


# --- helpers ----------------------------------------------------------------------------------
def ingest(source, *records) -> list[Alert]:
    """Alerts through the real intake pipeline (generic format), as the source's tenant."""
    from alerts.ingest import ingest as run_ingest
    from alerts.intake.generic import parse

    with tenant_scope([source.tenant_id]):
        source = (
            IntakeSource.objects.for_tenant(source.tenant_id)
            .select_related("tenant")
            .get(pk=source.pk)
        )
        parsed = [
            parse(
                {
                    "title": record.get("title", "Beacon"),
                    "severity": record.get("severity", "medium"),
                    "source_ref": uuid.uuid4().hex,
                    "observables": record["observables"],
                }
            )
            for record in records
        ]
        ids = run_ingest(source, parsed).alert_ids
        found = Alert.objects.for_tenant(source.tenant_id).in_bulk(ids)
        return [found[uuid.UUID(i)] for i in ids]


def indicator(tenant=None, kind="ip", value="203.0.113.7", **attrs) -> Indicator:
    kind, value = normalise.normalise(kind, value)
    with rls_bypass("test fixture"):
        created, _, _ = services.indicator_create(
            tenant.pk if tenant else None, kind, value, attrs, actor=None, hunt=False
        )
    return created


def matches_of(tenant) -> list[IndicatorMatch]:
    with rls_bypass("test"):
        return list(IndicatorMatch.objects.for_tenant(tenant).order_by("matched_at"))


def incident_of(alert) -> Incident:
    with rls_bypass("test"):
        return Incident.objects.for_tenant(alert.tenant_id).get(pk=alert.incident_id)


def timeline_of(incident) -> list[IncidentEvent]:
    with rls_bypass("test"):
        return list(IncidentEvent.objects.for_tenant(incident.tenant_id).filter(incident=incident))


def ip(value):
    return [{"type": "ip", "value": value}]


# --- normalisation ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kind", "value", "expected"),
    [
        ("ip", " 203.0.113.7 ", ("ip", "203.0.113.7")),
        ("ip", "2001:DB8:0:0::1", ("ip", "2001:db8::1")),
        ("cidr", "10.1.2.3/8", ("cidr", "10.0.0.0/8")),
        ("cidr", "192.0.2.5/32", ("ip", "192.0.2.5")),
        ("domain", "EVIL.Example.", ("domain", "evil.example")),
        ("domain", "bücher.example", ("domain", "xn--bcher-kva.example")),
        ("url", "HTTP://Evil.Example:80/Path?q=1#frag", ("url", "http://evil.example/Path?q=1")),
        ("url", "https://evil.example:8443", ("url", "https://evil.example:8443/")),
        ("md5", "D41D8CD98F00B204E9800998ECF8427E", ("md5", "d41d8cd98f00b204e9800998ecf8427e")),
        ("sha256", "a" * 40, ("sha1", "a" * 40)),
        ("email", "Phish@Evil.Example", ("email", "phish@evil.example")),
    ],
)
def test_indicator_values_are_normalised(kind, value, expected):
    assert normalise.normalise(kind, value) == expected


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("ip", "999.1.1.1"),
        ("cidr", "10.0.0.0/33"),
        ("domain", "localhost"),
        ("domain", "bad_dom ain.example"),
        ("url", "evil.example/path"),
        ("md5", "xyz"),
        ("email", "no-at-sign"),
        ("ip", "1.2.3.4\x00"),
        ("nonsense", "1.2.3.4"),
        ("domain", "x" * 3000),
        ("cidr", "10.0.0.0/7"),
        ("cidr", "2001:db8::/15"),
    ],
)
def test_invalid_indicator_values_are_refused_with_a_reason(kind, value):
    with pytest.raises(normalise.InvalidIndicator) as caught:
        normalise.normalise(kind, value)
    assert str(caught.value)


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("198.51.100.1", "ip"),
        ("198.51.100.0/24", "cidr"),
        ("https://x.example/a", "url"),
        ("a@b.example", "email"),
        ("e" * 64, "sha256"),
        ("Evil.Example", "domain"),
    ],
)
def test_untyped_values_are_guessed(value, kind):
    assert normalise.guess(value)[0] == kind


# --- STIX, plain lists, CSV -------------------------------------------------------------------
TLP_RED_2 = "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1"
TLP_GREEN_1 = "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da"


def stix_indicator(pattern, **extra):
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--{uuid.uuid4()}",
        "created": "2026-11-01T10:00:00.000Z",
        "modified": "2026-11-01T10:00:00.000Z",
        "name": "C2 server",
        "pattern": pattern,
        "pattern_type": "stix",
        "valid_from": "2026-11-01T10:00:00Z",
        **extra,
    }


def bundle(*objects) -> str:
    return json.dumps({"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": objects})


def real_looking_bundle() -> str:
    return bundle(
        {
            "type": "identity",
            "spec_version": "2.1",
            "id": "identity--f431f809-377b-45e0-aa1c-6a4751cae5ff",
            "created": "2026-11-01T10:00:00.000Z",
            "modified": "2026-11-01T10:00:00.000Z",
            "name": "ACME CERT",
            "identity_class": "organization",
        },
        stix_indicator(
            "[ipv4-addr:value = '198.51.100.23']",
            confidence=90,
            object_marking_refs=[TLP_RED_2],
            # Valid for most of a year from today: a fixed date expired on the day the
            # suite runs after it, and the import's retro-hunt then found nothing.
            valid_until=(timezone.now() + timedelta(days=330)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            description="Cobalt Strike team server",
        ),
        stix_indicator(
            "[domain-name:value = 'Update-Check.Example' OR url:value = "
            "'http://update-check.example/gate.php']",
            object_marking_refs=[TLP_GREEN_1],
        ),
        stix_indicator("[file:hashes.'SHA-256' = '" + "A" * 64 + "']"),
        stix_indicator("[file:hashes.MD5 = '" + "b" * 32 + "']"),
        stix_indicator("[email-addr:value = 'Invoice@Phish.Example']"),
        stix_indicator("[ipv4-addr:value = '203.0.113.0/24']"),
        stix_indicator("[ipv4-addr:value = '198.51.100.9'"),  # 7: bad pattern
        {"type": "malware", "id": "malware--1", "name": "x"},  # 8: unsupported type
        stix_indicator("[ipv4-addr:value = '1.1.1.1'] AND [domain-name:value = 'a.example']"),
        stix_indicator("[process:name = 'evil.exe']"),  # 10: unsupported observable
        stix_indicator("[ipv4-addr:value != '10.0.0.1']"),  # 11: operator
        "not an object",  # 12
        stix_indicator("[ipv4-addr:value = '1.2.3.4']", pattern_type="sigma"),  # 13
        stix_indicator("[domain-name:value = 'not a domain']"),  # 14: bad value
    )


def test_stix_bundle_yields_indicators_and_names_each_bad_object():
    items = list(parsing.records("stix", real_looking_bundle()))
    good = [(r.index, r.type, r.value) for r in items if isinstance(r, parsing.IndicatorRecord)]
    bad = {r.index: r.error for r in items if isinstance(r, parsing.RecordError)}
    assert (1, "cidr", "198.51.100.23") in good
    assert (2, "domain", "Update-Check.Example") in good
    assert (2, "url", "http://update-check.example/gate.php") in good
    assert (3, "sha256", "A" * 64) in good
    assert (4, "md5", "b" * 32) in good
    assert (5, "email", "Invoice@Phish.Example") in good
    first = next(r for r in items if getattr(r, "index", None) == 1)
    assert first.attrs["tlp"] == "red" and first.attrs["confidence"] == 90
    assert first.attrs["valid_until"] > timezone.now() + timedelta(days=329)
    assert "bad pattern" in bad[7] or "invalid indicator" in bad[7]
    assert "unsupported object type 'malware'" in bad[8]
    assert "unsupported pattern" in bad[9]
    assert "unsupported observable process:name" in bad[10]
    assert "unsupported" in bad[11]
    assert "not a STIX object" in bad[12]
    assert "pattern_type" in bad[13]
    assert 0 not in bad  # the identity is read silently


@pytest.mark.parametrize(
    "document",
    [
        '{"type": "bundle", "objects": [',
        '{"type": "indicator"}',
        "[]",
        '{"type": "bundle", "objects": {}}',
    ],
)
def test_unreadable_stix_is_refused_as_a_whole(document):
    with pytest.raises(parsing.UnreadableImport):
        list(parsing.records("stix", document))


def test_plain_list_guesses_types_and_names_bad_lines():
    items = list(
        parsing.records("text", "# feed\n198.51.100.1\n\nevil.example\nnot a thing\n10.0.0.0/8\n")
    )
    assert [(r.index, r.type) for r in items if isinstance(r, parsing.IndicatorRecord)] == [
        (2, "ip"),
        (4, "domain"),
        (6, "cidr"),
    ]
    assert [r.index for r in items if isinstance(r, parsing.RecordError)] == [5]


def test_csv_columns_and_bad_rows():
    content = (
        "value,type,tlp,confidence,severity,source,extra\n"
        "198.51.100.1,ip,TLP:RED,95,critical,feed-x,ignored\n"
        "evil.example,,green,,,\n"
        "1.2.3.4,ip,purple,,,\n"
        "5.6.7.8,ip,,101,,\n"
        "9.9.9.9,ip,,,,,,,,too many\n"
    )
    items = list(parsing.records("csv", content))
    good = [r for r in items if isinstance(r, parsing.IndicatorRecord)]
    bad = {r.index: r.error for r in items if isinstance(r, parsing.RecordError)}
    assert good[0].attrs == {
        "tlp": "red",
        "confidence": 95,
        "severity": "critical",
        "source": "feed-x",
    }
    assert good[1].type == "domain" and good[1].attrs == {"tlp": "green"}
    assert "tlp 'purple'" in bad[4] and "between 0 and 100" in bad[5] and "cells" in bad[6]
    with pytest.raises(parsing.UnreadableImport, match="'value' column"):
        list(parsing.records("csv", "ip,tlp\n1.2.3.4,red\n"))


def test_nul_bytes_and_bad_utf8_are_unreadable():
    with pytest.raises(parsing.UnreadableImport, match="NUL"):
        parsing.decode(b"1.2.3.4\x00\n")
    with pytest.raises(parsing.UnreadableImport, match="UTF-8"):
        parsing.decode(b"\xff\xfe1.2.3.4")


# --- matching at intake -----------------------------------------------------------------------
def test_exact_cidr_and_case_insensitive_matches(two_tenants):
    w = two_tenants
    indicator(kind="ip", value="203.0.113.7")
    indicator(kind="cidr", value="198.51.100.0/24")
    indicator(kind="domain", value="evil.example")
    indicator(kind="sha256", value="C" * 64)
    indicator(kind="url", value="HTTP://Bad.Example/x")
    alerts = ingest(
        w["a_source"],
        {"observables": ip("203.0.113.7")},
        {"observables": ip("198.51.100.200")},
        {"observables": [{"type": "hostname", "value": "WWW.EVIL.example"}]},
        {"observables": [{"type": "hash", "value": "c" * 64}]},
        {"observables": [{"type": "url", "value": "http://bad.example:80/x"}]},
        {"observables": ip("198.51.101.1") + [{"type": "domain", "value": "good.example"}]},
    )
    by_alert = {m.alert_id: m for m in matches_of(w["a"])}
    assert len(by_alert) == 5
    assert alerts[-1].pk not in by_alert
    cidr = next(m for m in by_alert.values() if m.indicator_type == "cidr")
    assert (cidr.observable_value, cidr.indicator_value) == ("198.51.100.200", "198.51.100.0/24")
    assert all(m.origin == "intake" and m.indicator_global for m in by_alert.values())
    assert all(m.incident_id for m in by_alert.values())


def test_a_tenants_own_indicator_matches_only_that_tenant(two_tenants):
    w = two_tenants
    indicator(w["b"], kind="ip", value="192.0.2.50")
    ingest(w["a_source"], {"observables": ip("192.0.2.50")})
    ingest(w["b_source"], {"observables": ip("192.0.2.50")})
    assert matches_of(w["a"]) == []
    assert [m.indicator_global for m in matches_of(w["b"])] == [False]


def test_expired_revoked_and_future_indicators_do_not_match(two_tenants):
    w = two_tenants
    now = timezone.now()
    old = indicator(kind="ip", value="192.0.2.1")
    with rls_bypass("test"):
        Indicator.objects.dangerously_unscoped("t").filter(pk=old.pk).update(
            valid_until=now - timedelta(minutes=1)
        )
    revoked = indicator(kind="ip", value="192.0.2.2")
    with rls_bypass("test"):
        services.indicator_update(revoked, {"status": "revoked"})
    indicator(kind="ip", value="192.0.2.3", valid_from=now + timedelta(days=1))
    ingest(w["a_source"], *({"observables": ip(f"192.0.2.{n}")} for n in (1, 2, 3)))
    assert matches_of(w["a"]) == []


def test_expiry_task_marks_indicators_whose_validity_ended(two_tenants):
    from intel.tasks import expire_indicators

    live = indicator(kind="ip", value="192.0.2.10", valid_until=timezone.now() + timedelta(days=1))
    ended = indicator(kind="ip", value="192.0.2.11")
    mine = indicator(two_tenants["a"], kind="ip", value="192.0.2.12")
    with rls_bypass("test"):
        Indicator.objects.dangerously_unscoped("t").filter(pk__in=[ended.pk, mine.pk]).update(
            valid_until=timezone.now() - timedelta(seconds=1)
        )
    assert expire_indicators() == 2
    with rls_bypass("test"):
        states = dict(Indicator.objects.dangerously_unscoped("t").values_list("value", "status"))
    assert states == {"192.0.2.10": "active", "192.0.2.11": "expired", "192.0.2.12": "expired"}
    assert live.status == "active"


def test_confident_match_raises_the_incident_and_writes_the_timeline(two_tenants):
    w = two_tenants
    indicator(kind="ip", value="203.0.113.9", confidence=90, severity="critical", tlp="amber")
    (alert,) = ingest(w["a_source"], {"severity": "low", "observables": ip("203.0.113.9")})
    incident = incident_of(alert)
    assert incident.severity == "critical"
    kinds = {e.kind: e for e in timeline_of(incident)}
    assert "intel_matched" in kinds and "severity_raised" in kinds
    assert kinds["intel_matched"].visibility == "shared"
    assert "203.0.113.9" in kinds["intel_matched"].summary
    assert kinds["severity_raised"].summary.startswith("Severity low → critical")
    assert matches_of(w["a"])[0].severity_raised_to == "critical"
    with rls_bypass("test"):  # the alert keeps what its source said
        assert Alert.objects.for_tenant(w["a"]).get(pk=alert.pk).severity == "low"


def test_unconfident_match_enriches_without_raising(two_tenants):
    w = two_tenants
    indicator(kind="ip", value="203.0.113.10", confidence=79, severity="critical")
    (alert,) = ingest(w["a_source"], {"severity": "low", "observables": ip("203.0.113.10")})
    incident = incident_of(alert)
    assert incident.severity == "low"
    assert [e.kind for e in timeline_of(incident)].count("severity_raised") == 0
    assert len(matches_of(w["a"])) == 1


IPV6_BATCH_OBSERVABLES = [
    ip("2001:db8:aa::5"),
    ip("2001:db8:ab::5"),
    ip("192.0.2.200") + ip("192.0.2.1"),
    [{"type": "email", "value": "x@mail.evil.example"}],
]


def _networks_and_domain():
    indicator(kind="cidr", value="2001:db8:aa::/48")
    indicator(kind="cidr", value="192.0.2.128/25")
    indicator(kind="domain", value="evil.example")
    return [(uuid.uuid4(), observables, "low", None) for observables in IPV6_BATCH_OBSERVABLES]


def test_ipv6_networks_and_parent_domains_match(two_tenants):
    """Either mode's own lookup (PostgreSQL's one query, the embedded mode's Python)."""
    batch = _networks_and_domain()
    tenant = two_tenants["a"].pk
    with tenant_scope([tenant]):
        hits = matching.find_hits(tenant, batch)
    assert {(h.alert_id, h.observable_value) for h in hits} == {
        (batch[0][0], "2001:db8:aa::5"),
        (batch[2][0], "192.0.2.200"),
        (batch[3][0], "x@mail.evil.example"),
    }


@pytest.mark.services("postgresql")  # compares PostgreSQL's query with the embedded lookup
def test_the_embedded_modes_lookup_agrees_with_postgresqls(two_tenants):
    batch = _networks_and_domain()
    tenant = two_tenants["a"].pk
    with tenant_scope([tenant]):
        values = sorted({v for _, o, _, _ in batch for *_, v in matching.lookups_of(o)})
        ips = sorted(
            {v for _, o, _, _ in batch for k, _, t, v in matching.lookups_of(o) if t == "ip"}
        )
        now = timezone.now()
        in_sql = {(r[3], r[-1]) for r in matching._query_postgresql(tenant, values, ips, now)}
        in_python = {(r[3], r[-1]) for r in matching._query_python(tenant, values, ips, now)}
    # the same indicators (what each names as the matched value differs: PostgreSQL the
    # network it derived, Python the address)
    assert (
        {v for v, _ in in_sql}
        == {v for v, _ in in_python}
        == {"2001:db8:aa::/48", "192.0.2.128/25", "evil.example"}
    )


def test_matching_a_batch_is_one_query(two_tenants, django_assert_max_num_queries, is_postgresql):
    indicator(kind="ip", value="203.0.113.11")
    indicator(kind="cidr", value="100.64.0.0/10")
    batch = [
        (
            uuid.uuid4(),
            ip(f"100.64.{n}.1") + [{"type": "domain", "value": f"d{n}.example"}],
            "low",
            None,
        )
        for n in range(250)
    ]
    # SQLite (the embedded mode): one query for exact values, one for the active networks
    with (
        tenant_scope([two_tenants["a"].pk]),
        django_assert_max_num_queries(1 if is_postgresql else 2),
    ):
        hits = matching.find_hits(two_tenants["a"].pk, batch)
    assert len(hits) == 250


def test_red_global_matches_are_for_mssp_staff_only(two_tenants, api, client):
    w = two_tenants
    indicator(kind="ip", value="203.0.113.66", tlp="red", confidence=95, severity="high")
    (alert,) = ingest(w["a_source"], {"severity": "low", "observables": ip("203.0.113.66")})
    incident = incident_of(alert)
    events = [e for e in timeline_of(incident) if e.kind in ("intel_matched", "severity_raised")]
    assert events and all(e.visibility == "internal" for e in events)
    url = f"/api/v1/intel/matches/?incident={incident.pk}"
    assert api(w["a_admin"]).get(url).json()["results"] == []
    client.force_login(w["a_admin"])  # nor on the alert's page
    assert b"Threat intelligence matches" not in client.get(f"/alerts/{alert.pk}/").content
    client.force_login(w["analyst_a"])
    assert b"Threat intelligence matches" in client.get(f"/alerts/{alert.pk}/").content
    assert len(api(w["analyst_a"]).get(url).json()["results"]) == 1
    timeline = api(w["a_viewer"]).get(f"/api/v1/incidents/{incident.pk}/timeline/").json()
    entries = timeline["results"] if isinstance(timeline, dict) else timeline
    assert "203.0.113.66" not in json.dumps(entries)


def test_a_global_indicator_turned_red_takes_its_earlier_matches_from_customers(two_tenants, api):
    w = two_tenants
    green = indicator(kind="ip", value="203.0.113.67", tlp="green", confidence=50)
    (alert,) = ingest(w["a_source"], {"severity": "low", "observables": ip("203.0.113.67")})
    incident = incident_of(alert)
    url = f"/api/v1/intel/matches/?incident={incident.pk}"
    assert len(api(w["a_admin"]).get(url).json()["results"]) == 1  # seen while green
    changed = api(w["mssp_admin"]).patch(
        f"/api/v1/intel/indicators/{green.pk}/", {"tlp": "red"}, format="json"
    )
    assert changed.status_code == 200, changed.json()
    assert api(w["a_admin"]).get(url).json()["results"] == []
    assert len(api(w["analyst_a"]).get(url).json()["results"]) == 1
    assert all(
        e.visibility == "internal" for e in timeline_of(incident) if e.kind == "intel_matched"
    )


def test_a_link_local_address_with_a_zone_does_not_break_intake(two_tenants):
    indicator(kind="cidr", value="100.64.0.0/10")
    (alert,) = ingest(w := two_tenants["a_source"], {"observables": ip("fe80::1%eth0")})
    assert alert.pk and w


def test_an_indicator_longer_than_the_index_allows_is_refused(two_tenants, api):
    value = "https://evil.example/" + "\u6f22" * 1000  # 3,000 bytes in UTF-8
    response = api(two_tenants["mssp_admin"]).post(
        "/api/v1/intel/indicators/", {"type": "url", "value": value}, format="json"
    )
    assert response.status_code == 400 and "bytes" in response.json()["detail"]


def test_customers_see_matches_of_global_indicators_without_their_details(two_tenants, api, client):
    w = two_tenants
    indicator(kind="domain", value="c2.example", source="secret-feed", description="APT notes")
    ingest(w["a_source"], {"observables": [{"type": "domain", "value": "c2.example"}]})
    body = api(w["a_viewer"]).get("/api/v1/intel/matches/").json()["results"]
    assert len(body) == 1 and body[0]["indicator"] is None and body[0]["indicator_global"]
    client.force_login(w["a_viewer"])
    page = client.get(f"/alerts/{body[0]['alert']}/").content
    assert b"Threat intelligence matches" in page and b"MSSP intelligence" in page
    assert b"secret-feed" not in page and b"APT notes" not in page
    client.force_login(w["b_viewer"])
    assert client.get(f"/alerts/{body[0]['alert']}/").status_code == 404
    assert "secret-feed" not in json.dumps(body) and "APT notes" not in json.dumps(body)
    assert api(w["b_viewer"]).get("/api/v1/intel/matches/").json()["results"] == []
    # the indicator list is for staff and customer admins, and never shows global ones
    assert api(w["a_viewer"]).get("/api/v1/intel/indicators/").status_code == 403
    assert api(w["a_admin"]).get("/api/v1/intel/indicators/").json()["results"] == []
    staff = api(w["analyst_a"]).get("/api/v1/intel/indicators/").json()["results"]
    assert [i["value"] for i in staff] == ["c2.example"]


# --- the live stream --------------------------------------------------------------------------
@pytest.mark.services("redis")
@pytest.mark.django_db(transaction=True)
def test_intel_matched_reaches_exactly_its_audience(two_tenants):
    from tests.tenants.test_stream import QUIET, WAIT, token_socket

    w = two_tenants
    indicator(kind="ip", value="203.0.113.77", confidence=10)
    indicator(kind="ip", value="203.0.113.78", confidence=10, tlp="red")
    analyst_b_too = StaffFactory(staff_role="analyst_l2", tenants=[w["b"]])
    names = ("a_viewer", "a_responder", "analyst_a", "b_viewer", "b_admin")
    tokens = {name: issue_token(w[name]) for name in names}
    tokens["analyst_b"] = issue_token(analyst_b_too)

    async def drain(socket, everything=False):
        got = []
        while not await socket.receive_nothing(timeout=QUIET):
            got.append(await socket.receive_json_from(timeout=WAIT))
        return got if everything else [e for e in got if e["type"].startswith("intel.")]

    async def scenario():
        sockets = {name: await token_socket(token) for name, token in tokens.items()}
        try:
            await database_sync_to_async(ingest)(w["a_source"], {"observables": ip("203.0.113.77")})
            got = {name: await drain(s) for name, s in sockets.items()}
            assert [e["type"] for e in got["analyst_a"]] == ["intel.matched"]
            assert [e["type"] for e in got["a_viewer"]] == ["intel.matched"]
            assert got["a_responder"] == []  # an in-house team works incidents, not alerts
            assert got["b_viewer"] == got["b_admin"] == got["analyst_b"] == []

            await database_sync_to_async(ingest)(w["a_source"], {"observables": ip("203.0.113.78")})
            got = {name: await drain(s) for name, s in sockets.items()}
            assert [e["type"] for e in got["analyst_a"]] == ["intel.matched"]
            for name in ("a_viewer", "a_responder", "b_viewer", "b_admin", "analyst_b"):
                assert got[name] == [], name

            # a confident match raises the incident: announced with the match, to its audience
            await database_sync_to_async(indicator)(
                kind="ip", value="203.0.113.79", confidence=95, severity="critical"
            )
            await database_sync_to_async(ingest)(
                w["a_source"], {"severity": "low", "observables": ip("203.0.113.79")}
            )
            got = {name: await drain(s, everything=True) for name, s in sockets.items()}
            for name in ("analyst_a", "a_viewer"):
                seen = [(e["type"], e["data"].get("change")) for e in got[name]]
                assert ("intel.matched", None) in seen and ("incident.updated", "severity") in seen
            assert ("incident.updated", "severity") in [
                (e["type"], e["data"].get("change")) for e in got["a_responder"]
            ]
            for name in ("b_viewer", "b_admin", "analyst_b"):
                assert got[name] == [], name
        finally:
            for socket in sockets.values():
                await socket.disconnect()

    async_to_sync(scenario)()


# --- retro-hunts ------------------------------------------------------------------------------
def test_retro_hunt_finds_earlier_alerts_of_the_right_tenants_only(
    two_tenants, api, django_capture_on_commit_callbacks
):
    w = two_tenants
    c = TenantFactory(slug="tenant-c")
    c_source = IntakeSourceFactory(tenant=c)
    for source in (w["a_source"], w["b_source"], c_source):
        ingest(source, {"observables": ip("198.18.0.5")}, {"observables": ip("198.18.9.9")})
    with rls_bypass("test: one alert older than the hunt's window"):
        old = Alert.objects.for_tenant(w["a"]).filter(observables__0__value="198.18.0.5").get()
        Alert.objects.for_tenant(w["a"]).filter(pk=old.pk).update(
            received_at=timezone.now() - timedelta(days=45)
        )
        ingest(w["a_source"], {"observables": ip("198.18.0.5")})
    admin = api(w["mssp_admin"])
    with django_capture_on_commit_callbacks(execute=True):
        own = api(w["b_admin"]).post(
            "/api/v1/intel/indicators/", {"value": "198.18.0.5"}, format="json"
        )
    assert own.status_code == 201, own.json()
    hunt = own.json()["retro_hunt"]
    assert api(w["b_admin"]).get(f"/api/v1/intel/retro-hunts/{hunt}/").json()["status"] == "done"
    hits = api(w["b_admin"]).get(f"/api/v1/intel/matches/?retro_hunt={hunt}").json()["results"]
    assert [h["tenant"] for h in hits] == ["tenant-b"]
    assert [m.origin for m in matches_of(w["a"])] == []

    with django_capture_on_commit_callbacks(execute=True):
        created = admin.post(
            "/api/v1/intel/indicators/",
            {"value": "198.18.0.0/16", "confidence": 85, "severity": "critical"},
            format="json",
        )
    assert created.status_code == 201
    hunt = created.json()["retro_hunt"]
    body = admin.get(f"/api/v1/intel/retro-hunts/{hunt}/").json()
    assert body["status"] == "done" and body["progress"] == 100
    hits = admin.get(f"/api/v1/intel/matches/?retro_hunt={hunt}&page_size=50").json()["results"]
    by_tenant: dict = {}
    for hit in hits:
        by_tenant[hit["tenant"]] = by_tenant.get(hit["tenant"], 0) + 1
    # two alerts a tenant in the window (A's third is 45 days old, outside it)
    assert by_tenant == {"tenant-a": 2, "tenant-b": 2, "tenant-c": 2}
    assert all(h["origin"] == "retro_hunt" for h in hits)
    assert old.pk not in {m.alert_id for m in matches_of(w["a"])}
    # an analyst who works only A sees the hunt's hits of A, and counts only those
    analyst = api(w["analyst_a"])
    assert analyst.get(f"/api/v1/intel/retro-hunts/{hunt}/").json()["hits"] == 2
    seen = analyst.get(f"/api/v1/intel/matches/?retro_hunt={hunt}").json()["results"]
    assert {h["tenant"] for h in seen} == {"tenant-a"}
    # the confident hit raised open incidents and wrote their timelines
    c_hit = next(h for h in hits if h["tenant"] == "tenant-c")
    assert incident_of(Alert(tenant_id=c.pk, incident_id=c_hit["incident"])).severity == "critical"
    # a customer never sees the global hunt
    assert api(w["a_admin"]).get(f"/api/v1/intel/retro-hunts/{hunt}/").status_code == 404
    # running it again finds nothing new
    services.retro_hunt_run(hunt, None)
    assert len(matches_of(c)) == 2


def test_a_global_retro_hunt_counts_only_the_viewers_tenants(
    two_tenants, api, client, django_capture_on_commit_callbacks
):
    """Three tenants, the viewer works two: the hunt's alerts searched, progress and hits
    shown to them (API and pages) are those of their two tenants only."""
    w = two_tenants
    c = TenantFactory(slug="tenant-c")
    c_source = IntakeSourceFactory(tenant=c)
    viewer = StaffFactory(staff_role="analyst_l2", tenants=[w["a"], w["b"]])
    for source, count in ((w["a_source"], 2), (w["b_source"], 1), (c_source, 4)):
        ingest(source, *({"observables": ip(f"198.19.0.{n}")} for n in range(count)))
    with django_capture_on_commit_callbacks(execute=True):
        created = api(w["mssp_admin"]).post(
            "/api/v1/intel/indicators/", {"value": "198.19.0.0/24"}, format="json"
        )
    hunt = created.json()["retro_hunt"]
    everything = api(w["mssp_admin"]).get(f"/api/v1/intel/retro-hunts/{hunt}/").json()
    assert (everything["alerts_scanned"], everything["hits"]) == (7, 7)
    seen = api(viewer).get(f"/api/v1/intel/retro-hunts/{hunt}/").json()
    assert (seen["alerts_scanned"], seen["hits"], seen["progress"]) == (3, 3, 100)
    listed = api(viewer).get("/api/v1/intel/retro-hunts/").json()["results"]
    assert [(h["alerts_scanned"], h["hits"]) for h in listed] == [(3, 3)]
    client.force_login(viewer)
    page = client.get(f"/intel/hunts/{hunt}/").content.decode()
    assert "3 alerts searched" in page and "3 hits" in page
    assert "7 alerts" not in page and "7 hits" not in page
    assert "100 %" in client.get("/intel/hunts/").content.decode()
    progress = client.get(f"/intel/hunts/{hunt}/?fragment=progress", HTTP_HX_REQUEST="true")
    assert "3 alerts searched" in progress.content.decode()
    # a hunt still running: its progress over the viewer's tenants, not over C's alerts
    with rls_bypass("test: the hunt half-way, A and B done, C not started"):
        hunts = RetroHunt.objects.dangerously_unscoped("t").filter(pk=hunt)
        per_tenant = hunts.get().per_tenant
        per_tenant[str(c.pk)] = [4, 0]
        hunts.update(status="running", alerts_scanned=3, per_tenant=per_tenant)
    running = api(viewer).get(f"/api/v1/intel/retro-hunts/{hunt}/").json()
    assert (running["alerts_scanned"], running["progress"]) == (3, 99)
    assert api(w["mssp_admin"]).get(f"/api/v1/intel/retro-hunts/{hunt}/").json()["progress"] < 50


def test_saving_an_indicator_hunts_only_when_it_becomes_live(
    two_tenants, api, django_capture_on_commit_callbacks
):
    """A retro-hunt searches 30 days of alerts: started for a new indicator and one that was
    not live (revoked, expired) and is again, never for a re-save of one that was live all
    along (intake matched everything since it was, its first hunt everything before)."""
    admin = api(two_tenants["mssp_admin"])
    post = "/api/v1/intel/indicators/"
    body = {"value": "192.0.2.99", "confidence": 90, "severity": "high"}

    def hunts() -> int:
        with rls_bypass("test"):
            return RetroHunt.objects.dangerously_unscoped("t").count()

    with django_capture_on_commit_callbacks(execute=True):
        first = admin.post(post, body, format="json")
    assert first.status_code == 201 and first.json()["retro_hunt"] and hunts() == 1
    with django_capture_on_commit_callbacks(execute=True):
        again = admin.post(post, body, format="json")
        changed = admin.post(post, {**body, "confidence": 95, "tlp": "green"}, format="json")
    assert again.status_code == changed.status_code == 200
    assert again.json()["retro_hunt"] is None and changed.json()["retro_hunt"] is None
    assert hunts() == 1
    # revoked, then saved again: live again, so the alerts of the gap are searched
    pk = first.json()["id"]
    assert admin.patch(f"{post}{pk}/", {"status": "revoked"}, format="json").status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        revived = admin.post(post, body, format="json")
    assert revived.json()["status"] == "active" and revived.json()["retro_hunt"] and hunts() == 2
    # ... and likewise made active again by PATCH
    admin.patch(f"{post}{pk}/", {"status": "revoked"}, format="json")
    with django_capture_on_commit_callbacks(execute=True):
        patched = admin.patch(f"{post}{pk}/", {"status": "active"}, format="json")
    assert patched.status_code == 200 and hunts() == 3


def test_importing_the_same_list_again_starts_no_retro_hunt(
    two_tenants, api, django_capture_on_commit_callbacks
):
    admin = api(two_tenants["mssp_admin"])
    ids = []
    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            response = admin.post(
                "/api/v1/intel/imports/?kind=text",
                "192.0.2.150\nevil-twice.example\n",
                content_type="text/plain",
            )
        assert response.status_code == 202, response.content
        ids.append(response.json()["id"])
    first, second = (admin.get(f"/api/v1/intel/imports/{i}/").json() for i in ids)
    assert (first["created_count"], second["updated_count"]) == (2, 2)
    hunts = admin.get("/api/v1/intel/retro-hunts/").json()["results"]
    assert [h["indicator_import"] for h in hunts] == [ids[0]]


def test_intel_pages_do_not_load_an_imports_content(
    two_tenants, client, django_capture_on_commit_callbacks
):
    """The uploaded document can be megabytes: the list, the progress poll (every 2 s) and
    the retro-hunt page read the import's counts, never its content."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    w = two_tenants
    with rls_bypass("test fixture"):
        record = services.import_create(
            None, "text", "192.0.2.151\n", filename="list.txt", actor=w["mssp_admin"]
        )
        hunt = services.retro_hunt_start(None, indicator_import=record, actor=None)
    client.force_login(w["mssp_admin"])
    pages = [
        ("/intel/imports/", {}),
        (f"/intel/imports/{record.pk}/", {}),
        (f"/intel/imports/{record.pk}/?fragment=progress", {"HTTP_HX_REQUEST": "true"}),
        (f"/intel/hunts/{hunt.pk}/", {}),
        ("/intel/hunts/", {}),
    ]
    for url, headers in pages:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url, **headers).status_code == 200, url
        read = [q["sql"] for q in queries if "intel_indicatorimport" in q["sql"]]
        assert not [q for q in read if '"content"' in q], url


# --- sightings across customers ---------------------------------------------------------------
@pytest.fixture
def sightings_world(two_tenants):
    w = dict(two_tenants)
    w["c"] = TenantFactory(slug="tenant-c", name="Tenant C")
    w["c_source"] = IntakeSourceFactory(tenant=w["c"])
    w["analyst_ac"] = StaffFactory(staff_role="analyst_l2", tenants=[w["a"], w["c"]])
    shared = [{"type": "ip", "value": "192.0.2.200"}, {"type": "user", "value": "svc-backup"}]
    (w["a_alert"],) = ingest(w["a_source"], {"title": "A sees it", "observables": shared})
    (w["b_alert"],) = ingest(w["b_source"], {"title": "B SECRET", "observables": shared[:1]})
    (w["c_alert"],) = ingest(w["c_source"], {"title": "C sees it", "observables": shared[:1]})
    w["a_incident"] = incident_of(w["a_alert"])
    return w


def test_sightings_count_only_tenants_the_analyst_works(sightings_world, api):
    w = sightings_world
    url = f"/api/v1/intel/sightings/?incident={w['a_incident'].pk}"
    body = {s["value"]: s for s in api(w["analyst_ac"]).get(url).json()}
    assert body["192.0.2.200"]["tenants"] == 1
    assert [s["tenant"] for s in body["192.0.2.200"]["seen"]] == ["tenant-c"]
    link = body["192.0.2.200"]["seen"][0]["links"][0]
    assert link == {"kind": "incident", "id": str(w["c_alert"].incident_id), "at": link["at"]}
    assert body["svc-backup"]["tenants"] == 0
    assert "tenant-b" not in json.dumps(body) and str(w["b_alert"].pk) not in json.dumps(body)
    everyone = {s["value"]: s for s in api(w["mssp_admin"]).get(url).json()}
    assert everyone["192.0.2.200"]["tenants"] == 2
    only_a = api(w["analyst_a"]).get(url).json()
    assert all(s["tenants"] == 0 for s in only_a)


def test_customers_never_learn_of_sightings(sightings_world, api, client):
    w = sightings_world
    url = f"/api/v1/intel/sightings/?incident={w['a_incident'].pk}"
    for name in ("a_admin", "a_viewer", "a_responder"):
        response = api(w[name]).get(url)
        assert response.status_code == 403, name
        assert "C sees it" not in response.content.decode()
    # B's analyst cannot even name A's incident
    assert api(w["analyst_b"]).get(url).status_code == 404
    # the incident page: the panel is the staff's alone
    client.force_login(w["a_admin"])
    page = client.get(f"/incidents/{w['a_incident'].pk}/").content.decode()
    assert "Sightings" not in page and "Tenant C" not in page and "tenant-c" not in page
    client.force_login(w["analyst_ac"])
    page = client.get(f"/incidents/{w['a_incident'].pk}/").content.decode()
    assert "Sightings at other customers" in page and "Tenant C" in page
    assert "B SECRET" not in page and "Tenant B" not in page


# --- the API: who manages what, and bad input -------------------------------------------------
def test_who_may_manage_which_indicators(two_tenants, api):
    w = two_tenants
    post = "/api/v1/intel/indicators/"
    assert api(w["analyst_a"]).post(post, {"value": "1.2.3.4"}, format="json").status_code == 403
    lead = StaffFactory(staff_role="lead", tenants=[w["a"]])
    assert api(lead).post(post, {"value": "1.2.3.4"}, format="json").status_code == 201
    again = api(w["mssp_admin"]).post(post, {"value": " 1.2.3.4 ", "tlp": "red"}, format="json")
    assert again.status_code == 200 and again.json()["tlp"] == "red"  # same scope: updated
    mine = api(w["a_admin"]).post(post, {"value": "1.2.3.4"}, format="json")
    assert mine.status_code == 201 and mine.json()["tenant"] == "tenant-a"
    refused = api(w["a_admin"]).post(
        post, {"value": "5.6.7.8", "tenant": "tenant-b"}, format="json"
    )
    assert refused.status_code == 400 and "No such tenant" in refused.json()["detail"]
    assert api(w["a_viewer"]).post(post, {"value": "5.6.7.8"}, format="json").status_code == 403
    b_own = api(w["b_admin"]).post(post, {"value": "5.6.7.8"}, format="json").json()["id"]
    for name in ("a_admin", "analyst_a"):
        assert api(w[name]).get(f"{post}{b_own}/").status_code == 404
        assert api(w[name]).delete(f"{post}{b_own}/").status_code == 404
    revoke = api(w["a_admin"]).patch(
        f"{post}{mine.json()['id']}/", {"status": "revoked"}, format="json"
    )
    assert revoke.status_code == 200 and revoke.json()["status"] == "revoked"
    global_id = again.json()["id"]
    assert api(w["a_admin"]).patch(f"{post}{global_id}/", {}, format="json").status_code == 404
    assert api(w["analyst_a"]).patch(f"{post}{global_id}/", {}, format="json").status_code == 403


@pytest.mark.parametrize(
    "body",
    [
        {"value": "not an indicator at all"},
        {"value": "1.2.3.4", "type": "domain"},
        {"value": "1.2.3.4", "confidence": 101},
        {"value": "1.2.3.4", "tlp": "purple"},
        {"value": "1.2.3.4", "valid_until": "2000-01-01T00:00:00Z", "valid_from": "2001-01-01"},
        {"value": ["1.2.3.4"]},
        {"value": "x" * 5000},
        {},
    ],
)
def test_bad_indicators_are_400_with_a_message(two_tenants, api, body):
    response = api(two_tenants["mssp_admin"]).post("/api/v1/intel/indicators/", body, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["error"] == "invalid" and response.json()["detail"]


def test_import_through_the_api(two_tenants, api, django_capture_on_commit_callbacks):
    w = two_tenants
    ingest(w["a_source"], {"observables": ip("198.51.100.23")})
    admin = api(w["mssp_admin"])
    with django_capture_on_commit_callbacks(execute=True):
        response = admin.post(
            "/api/v1/intel/imports/?kind=stix&source=acme-cert",
            real_looking_bundle(),
            content_type="application/json",
        )
    assert response.status_code == 202, response.content
    record = admin.get(f"/api/v1/intel/imports/{response.json()['id']}/").json()
    assert record["status"] == "done" and record["progress"] == 100
    assert record["created_count"] == 7
    assert {e["index"] for e in record["errors"]} == {7, 8, 9, 10, 11, 12, 13, 14}
    values = {
        i["value"]: i for i in admin.get("/api/v1/intel/indicators/?scope=global").json()["results"]
    }
    assert values["198.51.100.23"]["tlp"] == "red" and values["198.51.100.23"]["type"] == "ip"
    assert values["update-check.example"]["source"] == "acme-cert"
    assert values["203.0.113.0/24"]["type"] == "cidr"
    # the import's retro-hunt found the earlier alert
    assert [m.origin for m in matches_of(w["a"])] == ["retro_hunt"]

    with django_capture_on_commit_callbacks(execute=True):
        upload = io.BytesIO(b"value,type,confidence\nevil.example,domain,90\nbad,ip,\n")
        upload.name = "feed.csv"
        response = api(w["a_admin"]).post(
            "/api/v1/intel/imports/", {"file": upload, "kind": "csv"}, format="multipart"
        )
    assert response.status_code == 202, response.content
    record = api(w["a_admin"]).get(f"/api/v1/intel/imports/{response.json()['id']}/").json()
    assert record["tenant"] == "tenant-a" and record["filename"] == "feed.csv"
    assert (record["created_count"], record["rejected_count"]) == (1, 1)
    assert record["errors"] == [{"index": 3, "error": "'bad' is not an IP address"}]


@pytest.mark.parametrize(
    ("query", "body", "status", "fragment"),
    [
        ("?kind=stix", b'{"type": "bundle", "objects": [', 400, "Not a STIX bundle"),
        ("?kind=stix", b'{"type": "report"}', 400, "Not a STIX bundle"),
        ("?kind=text", b"1.2.3.4\x00\n", 400, "NUL"),
        ("?kind=csv", b"ip,tlp\n1.2.3.4,red\n", 400, "'value' column"),
        ("?kind=csv", b"\xff\xfe", 400, "UTF-8"),
        ("?kind=xml", b"1.2.3.4", 400, "kind"),
        ("", b"1.2.3.4", 400, "kind"),
        ("?kind=text", b"   \n", 400, "empty"),
        ("?kind=text&confidence=500", b"1.2.3.4", 400, "confidence"),
        ("?kind=text&tenant=tenant-b", b"1.2.3.4", 400, "No such tenant"),
    ],
)
def test_bad_imports_are_4xx_with_a_message(two_tenants, api, query, body, status, fragment):
    client = api(two_tenants["analyst_a"] if "tenant-b" in query else two_tenants["mssp_admin"])
    if "tenant-b" in query:
        client = api(StaffFactory(staff_role="lead", tenants=[two_tenants["a"]]))
    response = client.post(f"/api/v1/intel/imports/{query}", body, content_type="text/plain")
    assert response.status_code == status, response.content
    assert fragment in response.json()["detail"]


def test_oversized_import_is_413(two_tenants, api, settings):
    settings.INTEL_IMPORT_MAX_BYTES = 1024
    client = api(two_tenants["mssp_admin"])
    body = b"\n".join(f"10.0.{n // 250}.{n % 250}".encode() for n in range(400))
    response = client.post("/api/v1/intel/imports/?kind=text", body, content_type="text/plain")
    assert response.status_code == 413 and "larger than 1 KiB" in response.json()["detail"]
    upload = io.BytesIO(body)
    upload.name = "big.txt"
    response = client.post(
        "/api/v1/intel/imports/", {"file": upload, "kind": "text"}, format="multipart"
    )
    assert response.status_code == 413
    settings.INTEL_IMPORT_MAX_BYTES = 1024 * 1024
    settings.INTEL_IMPORT_MAX_RECORDS = 10
    response = client.post("/api/v1/intel/imports/?kind=text", body, content_type="text/plain")
    assert response.status_code == 400 and "at most 10" in response.json()["detail"]


# --- pages ------------------------------------------------------------------------------------
def test_intel_pages_for_staff_and_customer_admins(
    two_tenants, client, django_capture_on_commit_callbacks, settings
):
    w = two_tenants
    indicator(kind="domain", value="global-only.example")
    indicator(w["b"], kind="domain", value="b-own.example")
    client.force_login(w["a_admin"])
    page = client.get("/intel/")
    assert page.status_code == 200
    assert b"global-only.example" not in page.content and b"b-own.example" not in page.content
    with django_capture_on_commit_callbacks(execute=True):
        added = client.post("/intel/add/", {"value": "Mine.Example", "confidence": "90"})
    assert added.status_code == 302
    assert b"mine.example" in client.get("/intel/").content
    bad = client.post("/intel/add/", {"value": "???"}, follow=True)
    assert b"cannot tell what" in bad.content
    with django_capture_on_commit_callbacks(execute=True):
        upload = io.BytesIO(b"# list\n203.0.113.99\nnot-an-ioc!\n")
        upload.name = "list.txt"
        response = client.post("/intel/imports/", {"file": upload, "kind": "text"})
    assert response.status_code == 302
    detail = client.get(response["Location"])
    assert b"not-an-ioc!" in detail.content and b"Rejected records" in detail.content
    hunts = client.get("/intel/hunts/")
    assert hunts.status_code == 200 and b"Global" not in hunts.content
    nul = io.BytesIO(b"1.2.3.4\x00")
    nul.name = "x.txt"
    assert client.post("/intel/imports/", {"file": nul, "kind": "text"}).status_code == 400
    settings.INTEL_IMPORT_MAX_BYTES = 1024
    big = io.BytesIO(b"203.0.113.1\n" * 200)
    big.name = "big.txt"
    response = client.post("/intel/imports/", {"file": big, "kind": "text"})
    assert response.status_code == 413 and b"larger than 1 KiB" in response.content
    settings.INTEL_IMPORT_MAX_BYTES = 4 * 1024 * 1024

    client.force_login(w["a_viewer"])
    assert client.get("/intel/").status_code == 403
    client.force_login(w["analyst_a"])
    page = client.get("/intel/?scope=global")
    assert b"global-only.example" in page.content and b"b-own.example" not in page.content
    assert client.get("/intel/?type=nonsense").status_code == 400
    assert client.get("/intel/?cursor=garbage").status_code in (200, 400, 404)
    with rls_bypass("test"):
        other = Indicator.objects.for_tenant(w["b"]).get()
        hunt = RetroHunt.objects.dangerously_unscoped("t").first()
        imported = IndicatorImport.objects.for_tenant(w["a"]).first()
    assert client.get(f"/intel/indicators/{other.pk}/").status_code == 404
    assert client.get(f"/intel/hunts/{hunt.pk}/").status_code == 200
    assert client.get(f"/intel/imports/{imported.pk}/").status_code == 200
    client.force_login(w["analyst_b"])
    assert client.get(f"/intel/imports/{imported.pk}/").status_code == 404


def test_analyst_imports_a_stix_bundle_and_sees_earlier_and_new_matches_of_their_tenants(
    two_tenants, api, django_capture_on_commit_callbacks
):
    """The issue's 'done when': a STIX import matches earlier alerts (retro-hunt) and new ones
    (intake) of the tenants it applies to; the analyst sees those of the tenants they work,
    each customer only its own."""
    w = two_tenants
    c = TenantFactory(slug="tenant-c")
    c_source = IntakeSourceFactory(tenant=c)
    analyst = StaffFactory(staff_role="analyst_l2", tenants=[w["a"], c])
    for source in (w["a_source"], w["b_source"], c_source):
        ingest(source, {"observables": [{"type": "hostname", "value": "gate.c2-land.example"}]})
    document = bundle(
        stix_indicator("[domain-name:value = 'c2-land.example']", confidence=85),
        stix_indicator("[ipv4-addr:value = '198.51.100.0/24']", confidence=85),
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = api(analyst).post(
            "/api/v1/intel/imports/?kind=stix&severity=critical",
            document,
            content_type="application/stix+json",
        )
    assert response.status_code == 202, response.content
    record = api(analyst).get(f"/api/v1/intel/imports/{response.json()['id']}/").json()
    assert (record["status"], record["created_count"], record["errors"]) == ("done", 2, [])
    earlier = api(analyst).get("/api/v1/intel/matches/?origin=retro_hunt").json()["results"]
    assert sorted(m["tenant"] for m in earlier) == ["tenant-a", "tenant-c"]
    assert len(matches_of(w["b"])) == 1  # B's alert matched too; this analyst does not work B
    (new,) = ingest(w["a_source"], {"observables": ip("198.51.100.77")})
    intake = api(analyst).get(f"/api/v1/intel/matches/?alert={new.pk}").json()["results"]
    assert [(m["origin"], m["indicator_type"]) for m in intake] == [("intake", "cidr")]
    assert incident_of(new).severity == "critical"
    for name, slug in (("a_viewer", "tenant-a"), ("b_viewer", "tenant-b")):
        own = api(w[name]).get("/api/v1/intel/matches/").json()["results"]
        assert own and {m["tenant"] for m in own} == {slug}


def test_stalled_imports_and_hunts_are_taken_up_again(
    two_tenants, django_capture_on_commit_callbacks
):
    from intel.tasks import resume_stalled_jobs

    w = two_tenants
    ingest(w["a_source"], {"observables": ip("192.0.2.99")})
    own = indicator(w["a"], kind="ip", value="192.0.2.99")
    long_ago = timezone.now() - timedelta(minutes=30)
    with tenant_scope([w["a"].pk]):  # a lost task: created, never run
        hunt = services.retro_hunt_start(w["a"].pk, indicator=own, actor=None)
        record = IndicatorImport.objects.create(
            tenant=w["a"], format="text", content="192.0.2.98\n", total=1
        )
    with rls_bypass("test: make them old"):
        RetroHunt.objects.for_tenant(w["a"]).update(created_at=long_ago)
        IndicatorImport.objects.for_tenant(w["a"]).update(created_at=long_ago)
    with tenant_scope([w["a"].pk]):  # a hunt just started is left alone
        fresh_hunt = services.retro_hunt_start(w["a"].pk, indicator=own, actor=None)
    with django_capture_on_commit_callbacks(execute=True):
        assert resume_stalled_jobs() == 2
    with rls_bypass("test"):
        states = dict(RetroHunt.objects.for_tenant(w["a"]).values_list("pk", "status"))
        imported = IndicatorImport.objects.for_tenant(w["a"]).get(pk=record.pk)
    assert (states[hunt.pk], states[fresh_hunt.pk]) == ("done", "pending")
    assert (imported.status, imported.created_count) == ("done", 1)
    assert [m.origin for m in matches_of(w["a"])] == ["retro_hunt"]
    assert resume_stalled_jobs() == 0  # nothing left, and the fresh hunt is not yet stalled


def test_sightings_older_than_their_days_are_not_counted_and_are_purged(sightings_world, api):
    from intel.models import Sighting
    from intel.tasks import expire_indicators

    w = sightings_world
    url = f"/api/v1/intel/sightings/?incident={w['a_incident'].pk}"
    counted = {s["value"]: s["tenants"] for s in api(w["mssp_admin"]).get(url).json()}
    assert counted["192.0.2.200"] == 2
    with rls_bypass("test: C saw it long ago"):
        Sighting.objects.for_tenant(w["c"]).update(day=timezone.now().date() - timedelta(days=40))
    counted = {s["value"]: s["tenants"] for s in api(w["mssp_admin"]).get(url).json()}
    assert counted["192.0.2.200"] == 1
    expire_indicators()
    with rls_bypass("test"):
        assert not Sighting.objects.for_tenant(w["c"]).exists()
        assert Sighting.objects.for_tenant(w["b"]).exists()


def test_an_import_that_cannot_be_read_to_its_end_fails_once_with_why(two_tenants):
    w = two_tenants
    with tenant_scope([w["a"].pk]):
        record = IndicatorImport.objects.create(
            tenant=w["a"], format="stix", content='{"type": "bundle", "objects": [', total=1
        )
    assert services.import_run(str(record.pk), w["a"].pk) == "failed"
    assert services.import_run(str(record.pk), w["a"].pk) == "failed"  # left alone
    with tenant_scope([w["a"].pk]):
        record.refresh_from_db()
    assert record.status == "failed" and "Not a STIX bundle" in record.error
    assert record.content == ""


def test_review_inputs_that_used_to_fail_with_a_500(two_tenants, api, client, make_user):
    w = two_tenants
    staff = api(w["mssp_admin"])
    assert staff.get(f"/api/v1/intel/retro-hunts/?indicator={uuid.uuid4()}").status_code == 200
    assert staff.get("/api/v1/intel/retro-hunts/?indicator=nope").status_code == 400
    upload = staff.post("/api/v1/intel/imports/", {"file": "1.2.3.4", "kind": "text"})
    assert upload.status_code == 400 and "file" in upload.json()["detail"]
    client.force_login(w["mssp_admin"])
    for page in ("/intel/imports/?cursor=x", "/intel/hunts/?cursor=x", "/intel/?cursor=x"):
        assert client.get(page).status_code == 400, page


def test_a_lead_deletes_a_global_indicator_matched_at_tenants_they_do_not_work(
    two_tenants, api, make_user
):
    w = two_tenants
    lead = make_user(None, "lead", tenants=[w["a"]])
    doomed = indicator(kind="ip", value="203.0.113.68")
    ingest(w["b_source"], {"observables": ip("203.0.113.68")})  # a match at B
    response = api(lead).delete(f"/api/v1/intel/indicators/{doomed.pk}/")
    assert response.status_code == 204
    with rls_bypass("test"):
        kept = IndicatorMatch.objects.dangerously_unscoped("t").get(tenant=w["b"])
    assert kept.indicator_id is None and kept.indicator_value == "203.0.113.68"
