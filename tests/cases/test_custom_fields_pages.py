"""Custom incident fields on the portal's pages: Settings → Incident fields, the incident
page's card, the open/raise form and the queue's filter and sort."""

from __future__ import annotations

import pytest
from django.urls import reverse

from alerts.models import Incident
from cases.models import CustomField
from tenants.rls import rls_bypass
from tests.cases.conftest import incident_of, open_incident, rows, set_fields

pytestmark = pytest.mark.django_db


def test_a_customer_admin_adds_and_archives_a_field_on_the_settings_page(fields, client):
    client.force_login(fields["a_admin"])
    page = client.get(reverse("custom-fields"))
    assert page.status_code == 200
    text = page.content.decode()
    assert "Business impact" in text and "SOC verdict" not in text and "Impact (B)" not in text
    made = client.post(
        reverse("custom-fields"),
        {
            "tenant": "tenant-b",  # not theirs: their own is used
            "label": "Our ticket",
            "key": "our_ticket",
            "type": "text",
            "required_for_statuses": ["closed"],
            "customer_visible": "",  # not offered to them, ignored
        },
    )
    assert made.status_code == 302
    (field,) = rows(CustomField, key="our_ticket")
    assert field.tenant_id == fields["a"].pk and field.customer_visible
    assert field.required_for_statuses == ["closed"]
    edit = reverse("custom-field-edit", args=[field.pk])
    assert client.get(edit).status_code == 200
    saved = client.post(
        edit, {"label": "Our ticket", "key": "our_ticket", "type": "text", "is_archived": "on"}
    )
    assert saved.status_code == 302
    assert rows(CustomField, key="our_ticket")[0].is_archived
    # another tenant's field, and an internal one, read as missing
    assert client.get(reverse("custom-field-edit", args=[fields["b_impact"].pk])).status_code == 404
    assert client.get(reverse("custom-field-edit", args=[fields["internal"].pk])).status_code == 404


def test_the_settings_page_is_for_admins_and_supervisors(fields, client):
    client.force_login(fields["a_responder"])
    assert client.get(reverse("custom-fields")).status_code == 403
    client.force_login(fields["analyst_a"])
    assert client.get(reverse("custom-fields")).status_code == 403
    client.force_login(fields["lead"])
    page = client.get(reverse("custom-fields") + "?tenant=tenant-a")
    assert "SOC verdict" in page.content.decode()
    refused = client.post(
        reverse("custom-fields"),
        {"tenant": "tenant-a", "label": "X", "key": "Bad Key", "type": "text"},
    )
    assert refused.status_code == 400


def test_the_incident_page_shows_and_saves_the_fields_internal_ones_for_staff(fields, api, client):
    incident_id = open_incident(api, fields["analyst_a"], tenant="tenant-a").json()["id"]
    set_fields(api, fields["analyst_a"], incident_id, {"soc_notes": "Known actor", "hours_lost": 2})
    url = reverse("incident", args=[incident_id])
    client.force_login(fields["analyst_a"])
    page = client.get(url).content.decode()
    assert "SOC verdict" in page and "Known actor" in page
    saved = client.post(
        reverse("incident-fields", args=[incident_id]),
        {"cf.business_impact": "high", "cf.hours_lost": "2", "cf.root_cause": ""},
    )
    assert saved.status_code == 302
    assert incident_of(fields["a"], pk=incident_id).custom_fields["business_impact"] == "high"
    bad = client.post(
        reverse("incident-fields", args=[incident_id]), {"cf.hours_lost": "NaN"}, follow=True
    )
    assert "Hours lost: a number" in bad.content.decode()
    client.force_login(fields["a_viewer"])
    customer = client.get(url).content.decode()
    assert "Business impact" in customer and "high" in customer
    assert "SOC verdict" not in customer and "Known actor" not in customer
    # a viewer does not work it: the page offers no form, and a post is refused
    client.post(reverse("incident-fields", args=[incident_id]), {"cf.hours_lost": "9"})
    assert incident_of(fields["a"], pk=incident_id).custom_fields["hours_lost"] == 2


def test_the_raise_form_takes_the_fields_its_category_requires(fields, client):
    client.force_login(fields["a_responder"])
    form = client.get(reverse("incident-new")).content.decode()
    assert 'name="cf.business_impact"' in form and "soc_notes" not in form
    refused = client.post(
        reverse("incident-new"), {"title": "Files encrypted", "category": "ransomware"}
    )
    assert refused.status_code == 400 and "Business impact" in refused.content.decode()
    done = client.post(
        reverse("incident-new"),
        {"title": "Files encrypted", "category": "ransomware", "cf.business_impact": "critical"},
    )
    assert done.status_code == 302
    (incident,) = rows(Incident, tenant=fields["a"], category="ransomware")
    assert incident.custom_fields == {"business_impact": "critical"}


def test_staff_open_an_incident_with_the_chosen_customers_fields(fields, client):
    client.force_login(fields["lead"])
    form = client.get(reverse("incident-new")).content.decode()
    assert 'name="cf.tenant-a.soc_notes"' in form and 'name="cf.tenant-b.business_impact"' in form
    done = client.post(
        reverse("incident-new"),
        {
            "tenant": "tenant-b",
            "title": "DDoS on the shop",
            "cf.tenant-b.business_impact": "major",
            "cf.tenant-a.business_impact": "critical",  # another customer's: not sent
        },
    )
    assert done.status_code == 302
    (incident,) = rows(Incident, tenant=fields["b"], title="DDoS on the shop")
    assert incident.custom_fields == {"business_impact": "major"}


def test_the_queue_filters_and_sorts_by_a_field(fields, api, client):
    lead = fields["lead"]
    ids = {}
    for title, impact in (("Alpha", "low"), ("Bravo", "critical"), ("Charlie", None)):
        ids[title] = open_incident(api, lead, tenant="tenant-a", title=title).json()["id"]
        if impact:
            set_fields(api, lead, ids[title], {"business_impact": impact})
    with rls_bypass("test"):
        assert Incident.objects.dangerously_unscoped("t").filter(tenant=fields["b"]).count() == 0
    client.force_login(lead)
    page = client.get(reverse("console") + "?field=business_impact&field_value=critical")
    text = page.content.decode()
    assert page.status_code == 200 and "Bravo" in text and "Alpha" not in text
    assert '<th scope="col">Business impact / Impact (B)</th>' in text
    ordered = client.get(reverse("console") + "?tenant=tenant-a&ordering=-cf.business_impact")
    text = ordered.content.decode()
    assert text.index("Alpha") < text.index("Bravo") < text.index("Charlie")  # low > critical
    client.force_login(fields["a_viewer"])
    probe = client.get(reverse("incidents") + "?cf.soc_notes=x")
    assert probe.status_code == 400 and "No such custom field" in probe.content.decode()


def test_another_tenants_incident_or_field_is_a_404_on_every_page(fields, api, client):
    b_incident = open_incident(api, fields["analyst_b"], tenant="tenant-b").json()["id"]
    assert rows(Incident, pk=b_incident)  # it exists: "no leak" proves something
    for user in ("a_admin", "analyst_a"):
        client.force_login(fields[user])
        saved = client.post(
            reverse("incident-fields", args=[b_incident]), {"cf.business_impact": "minor"}
        )
        assert saved.status_code == 404
        edit = client.post(
            reverse("custom-field-edit", args=[fields["b_impact"].pk]),
            {"label": "Mine now", "key": "business_impact", "type": "choice", "choices": "x"},
        )
        assert edit.status_code == 404
    assert incident_of(fields["b"], pk=b_incident).custom_fields == {}
    assert rows(CustomField, pk=fields["b_impact"].pk)[0].label == "Impact (B)"
