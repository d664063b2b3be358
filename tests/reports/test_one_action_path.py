"""Issue 11: one path for requesting a report. A rule changed in one place (reports.policy, the
API's ReportRequestSerializer) changes the reports page and POST /api/v1/reports/ alike, and
both refuse another tenant's as unknown."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from rest_framework import serializers

from reports import policy, services
from reports.api.serializers import ReportRequestSerializer
from reports.models import Report
from tenants.rls import rls_bypass

REPORTS = "/api/v1/reports/"


def yesterday() -> str:
    return (timezone.localdate() - timedelta(days=1)).isoformat()


def page_request(two_tenants, **extra) -> dict:
    day = yesterday()
    return {"tenant": two_tenants["a"].pk, "start": day, "end": day, **extra}


def api_request(**extra) -> dict:
    return {"from": yesterday(), "to": yesterday(), **extra}


def reports_of(tenant) -> int:
    with rls_bypass("test"):
        return Report.objects.for_tenant(tenant).count()


def test_who_may_request_is_one_rule(two_tenants, api, client, monkeypatch):
    w = two_tenants
    client.force_login(w["a_viewer"])
    monkeypatch.setattr(policy, "may_request_report", lambda access, tenant_id: False)
    assert client.post("/reports/", page_request(w)).status_code == 403
    assert api(w["a_viewer"]).post(REPORTS, api_request(), format="json").status_code == 403
    assert reports_of(w["a"]) == 0
    monkeypatch.undo()
    assert client.post("/reports/", page_request(w)).status_code == 302
    assert api(w["a_viewer"]).post(REPORTS, api_request(), format="json").status_code == 202
    assert reports_of(w["a"]) == 2


def test_who_may_have_it_emailed_is_one_rule(two_tenants, api, client, monkeypatch):
    w = two_tenants
    client.force_login(w["a_viewer"])
    customer = api(w["a_viewer"])
    monkeypatch.setattr(policy, "may_email_contacts", lambda access, tenant_id: False)
    emailed = page_request(w, email_contacts="on")
    assert client.post("/reports/", emailed).status_code == 403
    answer = customer.post(REPORTS, api_request(email_contacts=True), format="json")
    assert answer.status_code == 403
    assert reports_of(w["a"]) == 0
    # without the e-mail the request is as before, on both paths
    assert client.post("/reports/", page_request(w)).status_code == 302
    assert customer.post(REPORTS, api_request(), format="json").status_code == 202


def test_the_input_rules_are_the_api_serializers_on_both_paths(
    two_tenants, api, client, monkeypatch
):
    w = two_tenants
    original = ReportRequestSerializer.validate

    def stricter(self, data):
        validated = original(self, data)
        if validated["period"].end - validated["period"].start < timedelta(days=7):
            raise serializers.ValidationError("A report covers a week at least today.")
        return validated

    monkeypatch.setattr(ReportRequestSerializer, "validate", stricter)
    client.force_login(w["a_viewer"])
    page = client.post("/reports/", page_request(w))
    answer = api(w["a_viewer"]).post(REPORTS, api_request(), format="json")
    assert page.status_code == 400 and b"A report covers a week at least today." in page.content
    assert answer.status_code == 400
    assert answer.json()["detail"] == "A report covers a week at least today."
    assert reports_of(w["a"]) == 0


def test_busy_is_refused_alike(two_tenants, api, client, monkeypatch):
    w = two_tenants
    monkeypatch.setattr(services, "MAX_UNFINISHED_PER_TENANT", 0)
    client.force_login(w["a_viewer"])
    page = client.post("/reports/", page_request(w))
    answer = api(w["a_viewer"]).post(REPORTS, api_request(), format="json")
    assert page.status_code == 400 and b"being generated" in page.content
    assert answer.status_code == 409 and answer.json()["error"] == "conflict"
    assert reports_of(w["a"]) == 0


def test_another_tenant_is_unknown_on_both_paths(two_tenants, api, client):
    w = two_tenants
    client.force_login(w["a_viewer"])
    page = client.post("/reports/", page_request(w, tenant=w["b"].pk))
    answer = api(w["a_viewer"]).post(REPORTS, api_request(tenant="tenant-b"), format="json")
    assert page.status_code == 400 and answer.status_code == 400
    assert answer.json()["detail"] == "tenant: No such tenant."
    assert reports_of(w["b"]) == 0
    # and another tenant's report is missing (404) on both
    with rls_bypass("test"):
        day = timezone.now() - timedelta(days=2)
        theirs = Report.objects.create(
            tenant=w["b"], period_start=day, period_end=day + timedelta(days=1)
        )
    assert client.get(f"/reports/{theirs.pk}/").status_code == 404
    assert api(w["a_viewer"]).get(f"{REPORTS}{theirs.pk}/").status_code == 404
