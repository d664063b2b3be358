"""Case templates set custom field values on the incidents they are applied to: only where the
incident has none, only fields its customer defines and whose type takes the value; a customer's
own template is validated against its fields when saved."""

from __future__ import annotations

import pytest
from django.urls import reverse

from alerts.models import IncidentEvent
from cases.models import CaseTemplate
from tests.cases.conftest import incident_of, open_incident, rows
from tests.factories import StaffFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/case-templates/"


def _library_values(api, world, values):
    admin = StaffFactory(staff_role="admin")
    response = api(admin).patch(
        f"{URL}{world['phishing'].pk}/", {"custom_fields": values}, format="json"
    )
    assert response.status_code == 200, response.json()
    return admin


def test_the_library_sets_what_each_customer_s_fields_take(fields, api):
    _library_values(
        api,
        fields,
        {"business_impact": "high", "hours_lost": "2.5", "ticket_queue": "SOC", "noticed": "x"},
    )
    stored = rows(CaseTemplate, pk=fields["phishing"].pk)[0].custom_fields
    assert stored == {
        "business_impact": "high",
        "hours_lost": "2.5",
        "ticket_queue": "SOC",
        "noticed": "x",
    }

    a = open_incident(api, fields["a_responder"], category="phishing").json()
    # A's choice takes "high", its number field "2.5"; A has no ticket_queue; "x" is no date.
    assert incident_of(fields["a"], pk=a["id"]).custom_fields == {
        "business_impact": "high",
        "hours_lost": 2.5,
    }
    entry = rows(IncidentEvent, incident_id=a["id"], kind="custom_fields_changed")
    assert len(entry) == 1 and entry[0].actor is None

    b = open_incident(api, fields["b_responder"], category="phishing").json()
    # B's business impact is minor/major: the library's "high" is passed over.
    assert incident_of(fields["b"], pk=b["id"]).custom_fields == {}


def test_a_value_someone_gave_is_never_overwritten(fields, api):
    _library_values(api, fields, {"business_impact": "high", "hours_lost": 4})
    given = open_incident(
        api,
        fields["a_responder"],
        category="phishing",
        custom_fields={"business_impact": "low"},
    )
    assert given.status_code == 201, given.json()
    assert incident_of(fields["a"], pk=given.json()["id"]).custom_fields == {
        "business_impact": "low",
        "hours_lost": 4,
    }


def test_an_analyst_applying_a_template_fills_the_empty_fields(fields, api):
    _library_values(api, fields, {"business_impact": "critical"})
    body = open_incident(api, fields["analyst_a"], tenant="tenant-a", category="other").json()
    assert incident_of(fields["a"], pk=body["id"]).custom_fields == {}
    applied = api(fields["analyst_a"]).post(
        f"/api/v1/incidents/{body['id']}/apply-template/",
        {"template": str(fields["phishing"].pk)},
        format="json",
    )
    assert applied.status_code == 201, applied.json()
    assert incident_of(fields["a"], pk=body["id"]).custom_fields == {"business_impact": "critical"}


def test_a_customer_s_own_template_is_checked_against_its_fields(fields, api):
    lead = fields["lead"]
    variant = {
        "tenant": "tenant-a",
        "category": "phishing",
        "name": "A's phishing",
        "tasks": [],
    }
    for bad, key in (
        ({"business_impact": "enormous"}, "business_impact"),
        ({"no_such_field": "x"}, "no_such_field"),
        ({"hours_lost": "NaN"}, "hours_lost"),
    ):
        response = api(lead).post(URL, {**variant, "custom_fields": bad}, format="json")
        assert response.status_code == 400, response.json()
        assert key in str(response.json()), response.json()
    # B's field of the same key does not make A's value right, nor the other way round.
    assert (
        api(lead)
        .post(URL, {**variant, "custom_fields": {"business_impact": "major"}}, format="json")
        .status_code
        == 400
    )
    made = api(lead).post(
        URL, {**variant, "custom_fields": {"business_impact": "low", "noticed": ""}}, format="json"
    )
    assert made.status_code == 201, made.json()
    assert made.json()["custom_fields"] == {"business_impact": "low"}


def test_the_library_refuses_values_that_are_no_plain_values(world, api):
    admin = StaffFactory(staff_role="admin")
    url = f"{URL}{world['phishing'].pk}/"
    for bad in (
        {"Bad Key": "x"},
        {"impact": {"nested": "object"}},
        {"impact": ["a", "list"]},
        {"impact": True},
        {"impact": "x" * 5001},
        ["not", "an", "object"],
        {f"k{n}": "v" for n in range(51)},
    ):
        response = api(admin).patch(url, {"custom_fields": bad}, format="json")
        assert response.status_code == 400, (bad, response.json())
    assert rows(CaseTemplate, pk=world["phishing"].pk)[0].custom_fields == {}


def test_the_template_page_saves_field_values(fields, client):
    admin = StaffFactory(staff_role="admin")
    client.force_login(admin)
    page = client.get(reverse("case-template-edit", args=[fields["phishing"].pk]))
    assert b"Incident fields" in page.content and b"business_impact" in page.content
    response = client.post(
        reverse("case-template-edit", args=[fields["phishing"].pk]),
        {
            "name": "Phishing",
            "category": "phishing",
            "is_active": "1",
            "task_rows": "0",
            "field_rows": "3",
            "field-0-key": "business_impact",
            "field-0-value": "high",
            "field-1-key": "hours_lost",
            "field-1-value": "3",
            "field-2-key": "",
            "field-2-value": "ignored",
        },
    )
    assert response.status_code == 302
    assert rows(CaseTemplate, pk=fields["phishing"].pk)[0].custom_fields == {
        "business_impact": "high",
        "hours_lost": "3",
    }
    page = client.get(reverse("case-template-edit", args=[fields["phishing"].pk]))
    assert b'value="high"' in page.content
