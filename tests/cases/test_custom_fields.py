"""Custom incident fields: definitions, validation of every type (hostile input included),
required fields, filter and sort, and internal fields kept from customers everywhere."""

from __future__ import annotations

import pytest

from alerts.models import Incident, IncidentEvent
from cases.models import CustomField
from tenants.models import AuditEvent
from tenants.rls import rls_bypass
from tests.cases.conftest import incident_of, open_incident, rows, set_fields

pytestmark = pytest.mark.django_db


# --- definitions ---------------------------------------------------------------------------


def test_a_lead_defines_a_field_and_it_is_audited(fields, api):
    response = api(fields["lead"]).post(
        "/api/v1/custom-fields/",
        {
            "tenant": "tenant-b",
            "key": "affected_site",
            "label": "Affected site",
            "type": "text",
            "required_for_statuses": ["contained"],
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["tenant"] == "tenant-b"
    assert rows(AuditEvent, action="custom_field.created", tenant=fields["b"])
    again = api(fields["lead"]).post(
        "/api/v1/custom-fields/",
        {"tenant": "tenant-b", "key": "affected_site", "label": "x", "type": "text"},
        format="json",
    )
    assert again.status_code == 400 and "key" in again.json()["fields"]


def test_a_customer_admin_manages_own_visible_fields_but_never_internal_ones(fields, api):
    admin = api(fields["a_admin"])
    listed = admin.get("/api/v1/custom-fields/").json()["results"]
    assert "soc_notes" not in {f["key"] for f in listed}
    assert {f["tenant"] for f in listed} == {"tenant-a"}
    made = admin.post(
        "/api/v1/custom-fields/",
        {"key": "ticket", "label": "Our ticket", "type": "text"},
        format="json",
    )
    assert made.status_code == 201 and made.json()["tenant"] == "tenant-a"
    internal = admin.post(
        "/api/v1/custom-fields/",
        {"key": "hidden", "label": "Hidden", "type": "text", "customer_visible": False},
        format="json",
    )
    assert internal.status_code == 400
    other = admin.post(
        "/api/v1/custom-fields/",
        {"tenant": "tenant-b", "key": "x1", "label": "X", "type": "text"},
        format="json",
    )
    assert other.status_code == 400
    assert admin.get(f"/api/v1/custom-fields/{fields['internal'].pk}/").status_code == 404
    assert admin.get(f"/api/v1/custom-fields/{fields['b_impact'].pk}/").status_code == 404
    responder = api(fields["a_responder"]).post(
        "/api/v1/custom-fields/", {"key": "y", "label": "Y", "type": "text"}, format="json"
    )
    assert responder.status_code == 403


def test_a_used_key_and_type_are_fixed_and_archiving_keeps_values(fields, api):
    incident = open_incident(api, fields["analyst_a"], tenant="tenant-a").json()
    assert (
        set_fields(api, fields["analyst_a"], incident["id"], {"hours_lost": 3}).status_code == 200
    )
    with rls_bypass("test"):
        hours = CustomField.objects.dangerously_unscoped("t").get(key="hours_lost")
    lead = api(fields["lead"])
    url = f"/api/v1/custom-fields/{hours.pk}/"
    assert lead.patch(url, {"key": "hours"}, format="json").status_code == 400
    assert lead.patch(url, {"type": "text"}, format="json").status_code == 400
    assert lead.patch(url, {"is_archived": True}, format="json").status_code == 200
    assert rows(AuditEvent, action="custom_field.archived")
    body = api(fields["a_viewer"]).get(f"/api/v1/incidents/{incident['id']}/").json()
    assert body["custom_fields"]["hours_lost"] == 3  # still readable
    refused = set_fields(api, fields["analyst_a"], incident["id"], {"hours_lost": 4})
    assert refused.status_code == 400 and "archived" in str(refused.json())


def test_definition_input_is_checked(fields, api):
    lead = api(fields["lead"])
    bad = [
        {"key": "Bad Key", "label": "x", "type": "text"},
        {"key": "a__b", "label": "x", "type": "text"},
        {"key": "ok", "label": "x", "type": "spreadsheet"},
        {"key": "ok", "label": "x", "type": "choice"},
        {"key": "ok", "label": "x", "type": "choice", "choices": "a,b"},
        {"key": "ok", "label": "x", "type": "choice", "choices": [{"a": 1}]},
        {"key": "ok", "label": "x", "type": "text", "required_for_statuses": ["done"]},
        {"key": "ok", "label": "x", "type": "text", "required_for_categories": [["x"]]},
        {"key": "ok", "label": "   ", "type": "text"},
        {"key": "ok", "label": "x" * 5000, "type": "text"},
    ]
    for body in bad:
        response = lead.post(
            "/api/v1/custom-fields/", {"tenant": "tenant-a", **body}, format="json"
        )
        assert response.status_code == 400, (body, response.content)


# --- values --------------------------------------------------------------------------------


STORED = [
    ("business_impact", "high", "high"),
    ("root_cause", "  A reused password  ", "A reused password"),
    ("hours_lost", 2.5, 2.5),
    ("hours_lost", "12", 12),
    ("hours_lost", 4.0, 4),
    ("hours_lost", -3, -3),
    ("noticed", "2026-11-30", "2026-11-30"),
]

HOSTILE = [
    ("business_impact", "apocalyptic"),
    ("business_impact", ["high"]),
    ("root_cause", "x" * 5001),
    ("root_cause", "y" * 1_000_000),
    ("root_cause", {"nested": {"deep": [1, 2, [3, [4, [5]]]]}}),
    ("hours_lost", "NaN"),
    ("hours_lost", "Infinity"),
    ("hours_lost", "-inf"),
    ("hours_lost", 1e300),
    ("hours_lost", True),
    ("hours_lost", "12abc"),
    ("hours_lost", "1e999"),
    ("noticed", "30/11/2026"),
    ("noticed", "2026-02-30"),
    ("noticed", "2026-11-30T10:00:00"),
    ("noticed", 20261130),
    ("handler", "nobody-at-all"),
    ("handler", 42),
    ("handler", "x" * 500),
    ("no_such_field", "x"),
    ("x" * 5000, "x"),
    ("soc_notes", "internal: unknown to a customer"),
]


def test_values_of_each_type_are_stored(fields, api):
    incident = open_incident(api, fields["analyst_a"], tenant="tenant-a").json()
    for key, value, stored in STORED:
        response = set_fields(api, fields["analyst_a"], incident["id"], {key: value})
        assert response.status_code == 200, (key, value, response.json())
        assert response.json()["custom_fields"][key] == stored


def test_hostile_values_are_a_400_naming_the_field(fields, api):
    incident = open_incident(api, fields["a_responder"]).json()
    for key, value in HOSTILE:
        response = set_fields(api, fields["a_responder"], incident["id"], {key: value})
        assert response.status_code == 400, (key, response.content[:300])
        assert key[:60] in response.json()["fields"]["custom_fields"], key[:60]
    assert incident_of(fields["a"], pk=incident["id"]).custom_fields == {}


def test_lone_surrogates_are_never_a_500(fields, api):
    incident = open_incident(api, fields["analyst_a"], tenant="tenant-a").json()
    url = f"/api/v1/incidents/{incident['id']}/custom-fields/"
    for raw in (
        '{"custom_fields": {"root_cause": "a\\ud800b"}}',
        '{"custom_fields": {"\\udfff": "x"}}',
        '{"custom_fields": {"handler": "\\ud800"}}',
    ):
        response = api(fields["analyst_a"]).post(url, raw, content_type="application/json")
        assert response.status_code < 500, raw
    stored = incident_of(fields["a"], pk=incident["id"]).custom_fields
    assert stored.get("root_cause") in (None, "a\ufffdb")


def test_nan_and_infinity_in_json_bodies_are_refused(fields, api):
    incident = open_incident(api, fields["analyst_a"], tenant="tenant-a").json()
    for raw in (
        '{"custom_fields": {"hours_lost": NaN}}',
        '{"custom_fields": {"hours_lost": -Infinity}}',
    ):
        response = api(fields["analyst_a"]).post(
            f"/api/v1/incidents/{incident['id']}/custom-fields/",
            raw,
            content_type="application/json",
        )
        assert response.status_code == 400


def test_the_body_must_be_an_object_of_fields(fields, api):
    incident = open_incident(api, fields["analyst_a"], tenant="tenant-a").json()
    for body in ({"custom_fields": ["x"]}, {"custom_fields": "x"}, {}):
        response = api(fields["analyst_a"]).post(
            f"/api/v1/incidents/{incident['id']}/custom-fields/", body, format="json"
        )
        assert response.status_code == 400


def test_a_user_field_takes_the_tenants_members_and_staff_never_another_tenants(fields, api):
    incident = open_incident(api, fields["analyst_a"], tenant="tenant-a").json()
    url_ok = set_fields(
        api, fields["analyst_a"], incident["id"], {"handler": fields["a_viewer"].username}
    )
    assert url_ok.status_code == 200
    staff = set_fields(
        api, fields["analyst_a"], incident["id"], {"handler": fields["analyst_b"].username}
    )
    assert staff.status_code == 200
    other = set_fields(
        api, fields["analyst_a"], incident["id"], {"handler": fields["b_admin"].username}
    )
    assert other.status_code == 400
    assert "no such user" in str(other.json()).lower()


def test_changes_are_on_the_timeline_and_internal_ones_only_for_staff(fields, api):
    incident = open_incident(api, fields["analyst_a"], tenant="tenant-a").json()
    response = set_fields(
        api,
        fields["analyst_a"],
        incident["id"],
        {"business_impact": "high", "soc_notes": "Same actor as last month"},
    )
    assert response.status_code == 200
    events = rows(IncidentEvent, incident_id=incident["id"], kind="custom_fields_changed")
    assert {e.visibility for e in events} == {"shared", "internal"}
    customer_timeline = api(fields["a_admin"]).get(f"/api/v1/incidents/{incident['id']}/timeline/")
    assert "SOC verdict" not in customer_timeline.content.decode()
    assert "Business impact" in customer_timeline.content.decode()
    audit = api(fields["a_admin"]).get("/api/v1/audit/").content.decode()
    assert "Same actor" not in audit and "SOC verdict" not in audit and "soc_notes" not in audit
    clearing = set_fields(api, fields["analyst_a"], incident["id"], {"business_impact": None})
    assert clearing.status_code == 200, clearing.json()
    assert "business_impact" not in clearing.json()["custom_fields"]


def test_internal_fields_are_invisible_to_customers(fields, api):
    incident = open_incident(api, fields["analyst_a"], tenant="tenant-a").json()
    set_fields(api, fields["analyst_a"], incident["id"], {"soc_notes": "secret", "hours_lost": 1})
    staff = api(fields["analyst_a"]).get(f"/api/v1/incidents/{incident['id']}/").json()
    assert staff["custom_fields"] == {"soc_notes": "secret", "hours_lost": 1}
    for user in ("a_admin", "a_viewer"):
        client = api(fields[user])
        one = client.get(f"/api/v1/incidents/{incident['id']}/").json()
        assert one["custom_fields"] == {"hours_lost": 1}
        listed = client.get("/api/v1/incidents/").json()["results"]
        assert all("soc_notes" not in row["custom_fields"] for row in listed)
        # nor can a filter or a sort probe it
        assert client.get("/api/v1/incidents/?cf.soc_notes=secret").status_code == 400
        assert client.get("/api/v1/incidents/?ordering=cf.soc_notes").status_code == 400
    refused = set_fields(api, fields["a_responder"], incident["id"], {"soc_notes": "x"})
    assert refused.status_code == 400
    assert refused.json()["fields"]["custom_fields"]["soc_notes"] == [
        "No such field for this customer."
    ]


# --- required --------------------------------------------------------------------------------


def test_a_required_field_blocks_resolving_with_a_clear_message(fields, api):
    incident = open_incident(api, fields["analyst_a"], tenant="tenant-a").json()
    url = f"/api/v1/incidents/{incident['id']}/transition/"
    client = api(fields["analyst_a"])
    blocked = client.post(url, {"status": "resolved", "resolution": "true_positive"}, format="json")
    assert blocked.status_code == 400
    text = str(blocked.json())
    assert "Root cause" in text and "SOC verdict" in text and "resolved" in text
    assert incident_of(fields["a"], pk=incident["id"]).status == "new"
    done = client.post(
        url,
        {
            "status": "resolved",
            "resolution": "true_positive",
            "custom_fields": {"root_cause": "Phished password", "soc_notes": "ok"},
        },
        format="json",
    )
    assert done.status_code == 200, done.json()
    assert done.json()["status"] == "resolved"
    # and it cannot be cleared while resolved
    cleared = set_fields(api, fields["analyst_a"], incident["id"], {"root_cause": ""})
    assert cleared.status_code == 400 and "Root cause" in str(cleared.json())


def test_a_customer_is_never_told_of_an_internal_required_field(fields, api):
    incident = open_incident(api, fields["a_responder"]).json()
    with rls_bypass("test"):
        Incident.objects.dangerously_unscoped("t").filter(pk=incident["id"]).update(
            status="investigating"
        )
    blocked = api(fields["a_responder"]).post(
        f"/api/v1/incidents/{incident['id']}/transition/",
        {"status": "resolved", "resolution": "benign"},
        format="json",
    )
    # in-house work or not: the refusal, if any, never names the MSSP's internal field
    assert "SOC verdict" not in blocked.content.decode()


def test_bulk_resolving_reports_the_missing_field_per_incident(fields, api):
    incident = open_incident(api, fields["analyst_a"], tenant="tenant-a").json()
    response = api(fields["analyst_a"]).post(
        "/api/v1/incidents/bulk/",
        {
            "ids": [incident["id"]],
            "action": "transition",
            "status": "resolved",
            "resolution": "benign",
        },
        format="json",
    )
    assert response.status_code == 200
    (row,) = response.json()["results"]
    assert not row["ok"] and "Root cause" in row["error"]


def test_a_category_requires_its_fields_when_the_incident_opens(fields, api):
    refused = open_incident(api, fields["a_responder"], category="ransomware")
    assert refused.status_code == 400
    assert "Business impact" in str(refused.json()) and "category ransomware" in str(refused.json())
    assert not rows(Incident, tenant=fields["a"], category="ransomware")
    opened = open_incident(
        api,
        fields["a_responder"],
        category="ransomware",
        custom_fields={"business_impact": "critical"},
    )
    assert opened.status_code == 201, opened.json()
    assert opened.json()["custom_fields"] == {"business_impact": "critical"}


# --- filter and sort -----------------------------------------------------------------------


def test_filter_and_sort_by_a_field_in_the_api_never_across_tenants(fields, api):
    lead = fields["lead"]
    made = []
    for impact in ("low", "critical", "high", None):
        body = open_incident(api, lead, tenant="tenant-a").json()
        if impact:
            set_fields(
                api, lead, body["id"], {"business_impact": impact, "hours_lost": len(impact)}
            )
        made.append(body["id"])
    other = open_incident(api, lead, tenant="tenant-b").json()
    set_fields(api, lead, other["id"], {"business_impact": "major"})
    client = api(lead)
    found = client.get("/api/v1/incidents/?cf.business_impact=high,critical").json()["results"]
    assert {row["id"] for row in found} == {made[1], made[2]}
    # tenant B's value never matches under A's key, and a customer of A never sees B's
    customer = api(fields["a_viewer"]).get("/api/v1/incidents/?cf.business_impact=major")
    assert customer.status_code == 200 and customer.json()["results"] == []
    numbers = client.get("/api/v1/incidents/?cf.hours_lost=4&tenant=tenant-a").json()["results"]
    assert [row["id"] for row in numbers] == [made[2]]  # "high"
    ordered = client.get("/api/v1/incidents/?ordering=-cf.hours_lost&tenant=tenant-a").json()
    assert [row["id"] for row in ordered["results"]] == [made[1], made[2], made[0], made[3]]
    # pages by the field's own keyset
    first = client.get("/api/v1/incidents/?ordering=cf.hours_lost&tenant=tenant-a&page_size=2")
    page = first.json()
    assert [row["id"] for row in page["results"]] == [made[0], made[2]]
    second = client.get(page["next"]).json()
    assert [row["id"] for row in second["results"]] == [made[1], made[3]]
    assert second["next"] is None
    queue = client.get("/api/v1/queue/?ordering=cf.business_impact&tenant=tenant-a").json()
    assert [row["id"] for row in queue["results"]][:3] == [made[1], made[2], made[0]]


def test_bad_filters_and_orderings_are_400s(fields, api):
    client = api(fields["lead"])
    for query in (
        "cf.nope=1",
        "cf.business_impact=",
        "cf.Bad__key=1",
        "ordering=title",
        "ordering=cf.nope",
        "ordering=cf.business_impact&cursor=WzEsMl0=",
    ):
        response = client.get(f"/api/v1/incidents/?{query}")
        assert response.status_code == 400, (query, response.content)


# --- reports -----------------------------------------------------------------------------


def test_reports_carry_the_customer_visible_fields_only(fields, api):
    from datetime import timedelta

    from django.utils import timezone

    from reports.figures import get_incident_figures
    from reports.incident_reports import incident_facts
    from reports.render import render_csv

    incident_id = open_incident(api, fields["analyst_a"], tenant="tenant-a").json()["id"]
    set_fields(
        api,
        fields["analyst_a"],
        incident_id,
        {"business_impact": "high", "root_cause": "Reused password", "soc_notes": "APT-x"},
    )
    with rls_bypass("test"):
        incident = (
            Incident.objects.dangerously_unscoped("t").select_related("tenant").get(pk=incident_id)
        )
        facts = incident_facts(incident)
        now = timezone.now()
        figures = get_incident_figures([fields["a"].pk], now - timedelta(days=1), now)
    assert {"label": "Root cause", "value": "Reused password"} in facts["fields"]
    assert "APT-x" not in str(facts) and "SOC verdict" not in str(facts)
    (impact,) = figures["by_field"]
    assert impact["label"] == "Business impact"
    assert {"value": "high", "count": 1} in impact["counts"]
    csv = render_csv(
        {
            "tenant": {"slug": "a", "name": "A", "timezone": "UTC"},
            "period": {"from": "x", "to": "y"},
            "generated_at": "z",
            "headline": {},
            "alerts": {"suppressed": 0, "by_severity": {}, "by_source": [], "by_category": []},
            "incidents": {"open": 0, "merged": 0, "by_severity": {}, "by_category": []}
            | {"by_status": {}, "by_resolution": {}, "by_field": figures["by_field"]},
            "sla": {"summary": {"targets": {}}, "customer": None, "trend": []},
            "escalations": {"by_direction": []},
            "top_detections": [],
        }
    ).decode()
    assert "incidents_by_field:business_impact,high,incidents,1" in csv
    assert "soc_notes" not in csv
