"""The MSSP's field library (cases.LibraryField): definitions the MSSP keeps, which a customer's
admin (or MSSP staff for a customer they manage) adopts into the customer's own fields through
the same action as a new field (validation, the 50-field limit, audit)."""

from __future__ import annotations

import pytest
from django.test import Client

from cases.models import CustomField, LibraryField
from tenants.models import AuditEvent
from tenants.rls import rls_bypass

pytestmark = pytest.mark.django_db

LIBRARY = "/api/v1/custom-field-library/"
FIELDS = "/api/v1/custom-fields/"


@pytest.fixture
def library(two_tenants):
    return LibraryField.objects.create(
        key="business_impact",
        label="Business impact",
        help_text="How much the business felt it",
        type="choice",
        choices=["low", "high"],
        required_for_statuses=["resolved"],
    )


def fields_of(tenant) -> list[CustomField]:
    with rls_bypass("test"):
        return list(CustomField.objects.for_tenant(tenant.pk))


def test_those_who_manage_fields_read_the_library_others_an_empty_list(two_tenants, api, library):
    for reader in ("mssp_admin", "analyst_a", "a_admin"):
        body = api(two_tenants[reader]).get(LIBRARY).json()
        assert [row["key"] for row in body["results"]] == ["business_impact"], reader
    assert api(two_tenants["a_viewer"]).get(LIBRARY).json()["results"] == []


def test_a_customer_admin_adopts_a_library_field_into_its_own_tenant(two_tenants, api, library):
    client = api(two_tenants["a_admin"])
    response = client.post(FIELDS, {"from_library": str(library.pk)}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["tenant"], body["key"], body["type"]) == ("tenant-a", "business_impact", "choice")
    assert body["choices"] == ["low", "high"] and body["required_for_statuses"] == ["resolved"]
    assert body["customer_visible"] is True
    assert [f.key for f in fields_of(two_tenants["a"])] == ["business_impact"]
    assert fields_of(two_tenants["b"]) == []
    with rls_bypass("test"):
        assert AuditEvent.objects.dangerously_unscoped("test").filter(
            action="custom_field.created", tenant=two_tenants["a"]
        )
    again = client.post(FIELDS, {"from_library": str(library.pk)}, format="json")
    assert again.status_code == 400 and "already has a field" in again.json()["detail"]


def test_adoption_stays_within_the_tenants_the_caller_manages(two_tenants, api, library):
    body = {"from_library": str(library.pk), "tenant": "tenant-b"}
    refused = api(two_tenants["a_admin"]).post(FIELDS, body, format="json")
    assert refused.status_code == 400  # another customer reads as one that does not exist
    l1 = api(two_tenants["analyst_a"]).post(FIELDS, {**body, "tenant": "tenant-a"}, format="json")
    assert l1.status_code == 403  # analysts do not manage fields; leads and up do
    assert api(two_tenants["a_viewer"], scopes=["read"]).post(FIELDS, body).status_code == 403
    assert fields_of(two_tenants["b"]) == []
    done = api(two_tenants["mssp_admin"]).post(FIELDS, body, format="json")
    assert done.status_code == 201 and done.json()["tenant"] == "tenant-b"


@pytest.mark.parametrize("value", ["", "not-a-uuid", "01a253a7-0073-76bb-b153-557b420bc052", 7])
def test_an_unknown_library_field_is_a_400(two_tenants, api, library, value):
    response = api(two_tenants["a_admin"]).post(FIELDS, {"from_library": value}, format="json")
    assert response.status_code == 400
    assert "library" in response.json()["detail"]


def test_the_settings_page_offers_the_fields_not_yet_adopted(two_tenants, library):
    client = Client()
    client.force_login(two_tenants["a_admin"])
    page = client.get("/settings/incident-fields/")
    assert page.status_code == 200 and b"Adopt Business impact" in page.content
    done = client.post(
        "/settings/incident-fields/", {"tenant": "tenant-a", "from_library": str(library.pk)}
    )
    assert done.status_code == 302
    assert [f.key for f in fields_of(two_tenants["a"])] == ["business_impact"]
    assert b"Adopt Business impact" not in client.get("/settings/incident-fields/").content
    missing = client.post("/settings/incident-fields/", {"from_library": "nope"})
    assert missing.status_code == 404


def test_the_library_holds_entries_a_customer_could_adopt():
    from cases.admin import LibraryFieldForm

    lists = {"required_for_categories": "[]", "required_for_statuses": "[]"}
    bad = {"key": "Bad Key", "label": "x", "type": "choice", "choices": "[]", **lists}
    form = LibraryFieldForm(data=bad)
    assert not form.is_valid() and "key" in form.errors
    no_choice = LibraryFieldForm(data={**bad, "key": "good_key"})
    assert not no_choice.is_valid() and "choices" in no_choice.errors
    assert LibraryFieldForm(data={**bad, "key": "good_key", "choices": '["a"]'}).is_valid()
