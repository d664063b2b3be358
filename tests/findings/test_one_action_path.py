"""One path for every finding action (issue 11): the finding page's forms and the API run the
same Action (findings.actions), so a rule changed in one place, the policy or the action's
serializer, changes both; and neither reaches another tenant's finding."""

from __future__ import annotations

import dataclasses

import pytest
from rest_framework import serializers

from findings import actions, policy
from findings.models import Finding
from tenants.actions import Refused
from tenants.rls import rls_bypass
from tests.factories import scan_imported

pytestmark = pytest.mark.django_db

ONE_FINDING = "host,title,severity,id\n10.0.0.1,Weak TLS,high,T-1\n"


def a_finding(tenant) -> Finding:
    scan_imported(tenant, ONE_FINDING)
    with rls_bypass("test: the finding imported"):
        return Finding.objects.for_tenant(tenant).get(plugin_id="T-1")


def status_of(finding: Finding) -> str:
    with rls_bypass("test"):
        return Finding.objects.for_tenant(finding.tenant_id).get(pk=finding.pk).status


def page_post(client, user, finding, action: str, **fields):
    client.force_login(user)
    return client.post(f"/findings/{finding.pk}/act/", {"action": action, **fields})


def api_post(api, user, finding, action: str, **fields):
    return api(user).post(f"/api/v1/findings/{finding.pk}/{action}/", fields, format="json")


def test_a_policy_change_refuses_on_the_page_and_in_the_api_alike(
    client, api, two_tenants, monkeypatch
):
    """Starting remediation made an MSSP-only action in findings.policy, and nowhere else: a
    customer's responder is refused it by the page (403) and the API (403) alike."""
    finding = a_finding(two_tenants["a"])
    responder = two_tenants["a_responder"]
    monkeypatch.setattr(policy, "MSSP_ONLY", {*policy.MSSP_ONLY, "start-remediation"})

    assert page_post(client, responder, finding, "start-remediation").status_code == 403
    response = api_post(api, responder, finding, "start-remediation")
    assert response.status_code == 403
    assert response.json()["detail"] == policy.STAFF_ONLY
    assert status_of(finding) == "open"

    monkeypatch.setattr(policy, "MSSP_ONLY", policy.MSSP_ONLY - {"start-remediation"})
    assert page_post(client, responder, finding, "start-remediation").status_code == 302
    assert status_of(finding) == "in_remediation"


def test_a_check_replaced_on_the_action_refuses_both_paths(client, api, two_tenants, monkeypatch):
    """A new rule in the action's check (here: nobody accepts risk), made on the one Action
    the registry holds, reaches both adapters."""

    def nobody(access, finding):
        raise Refused("Risk is not accepted this quarter.")

    refusing = dataclasses.replace(actions.FINDING_ACTIONS["accept-risk"], check=nobody)
    monkeypatch.setitem(actions.FINDING_ACTIONS, "accept-risk", refusing)
    finding = a_finding(two_tenants["a"])
    admin = two_tenants["a_admin"]
    fields = {"reason": "compensating control", "until": "2099-01-01"}
    assert page_post(client, admin, finding, "accept-risk", **fields).status_code == 403
    response = api_post(api, admin, finding, "accept-risk", **fields)
    assert (response.status_code, response.json()["detail"]) == (
        403,
        "Risk is not accepted this quarter.",
    )
    assert status_of(finding) == "open"


def test_a_serializer_limit_changed_once_applies_to_page_and_api(
    client, api, two_tenants, monkeypatch
):
    """The reason's limit is the action's serializer's: shortened there, a long reason is
    refused by the API (400) and by the page (a message, the finding unchanged)."""

    class ShortReason(serializers.Serializer):
        reason = serializers.CharField(max_length=5)

    shorter = dataclasses.replace(actions.FINDING_ACTIONS["false-positive"], serializer=ShortReason)
    monkeypatch.setitem(actions.FINDING_ACTIONS, "false-positive", shorter)
    finding = a_finding(two_tenants["a"])
    analyst = two_tenants["analyst_a"]
    response = api_post(api, analyst, finding, "false-positive", reason="far too long")
    assert response.status_code == 400 and "reason" in response.json()["fields"]
    page = page_post(client, analyst, finding, "false-positive", reason="far too long")
    assert page.status_code == 302
    assert status_of(finding) == "open"
    messages = [str(m) for m in page.wsgi_request._messages]
    assert any("reason" in m for m in messages), messages

    assert page_post(client, analyst, finding, "false-positive", reason="FP").status_code == 302
    assert status_of(finding) == "false_positive"


def test_another_tenants_finding_is_not_found_on_either_path(client, api, two_tenants):
    """Tenant A's admin and analyst post every action to tenant B's finding: 404 on the page
    and in the API (not 403: another tenant's finding does not exist for them)."""
    b_finding = a_finding(two_tenants["b"])
    fields = {"reason": "because", "until": "2099-01-01"}
    for user in (two_tenants["a_admin"], two_tenants["analyst_a"]):
        for action in actions.FINDING_ACTIONS:
            assert page_post(client, user, b_finding, action, **fields).status_code == 404
            assert api_post(api, user, b_finding, action, **fields).status_code == 404
    assert status_of(b_finding) == "open"


def test_who_writes_engagements_is_decided_once_for_page_and_api(
    client, api, two_tenants, monkeypatch
):
    """Customer admins barred from engagements in findings.policy alone: the imports page's
    form and the API both refuse them (403); MSSP staff still write them."""
    from findings.models import Engagement

    monkeypatch.setattr(policy, "writes_engagements", lambda access: access.is_mssp_staff)
    admin = two_tenants["a_admin"]
    client.force_login(admin)
    assert client.post("/findings/engagements/", {"name": "Q4"}).status_code == 403
    response = api(admin).post("/api/v1/findings/engagements/", {"name": "Q4"}, format="json")
    assert response.status_code == 403
    staff = api(two_tenants["analyst_a"])
    created = staff.post("/api/v1/findings/engagements/", {"name": "Q4"}, format="json")
    assert created.status_code == 201
    with rls_bypass("test"):
        assert list(Engagement.objects.for_tenant(two_tenants["a"]).values_list("name", flat=True))


def test_who_imports_is_decided_once_for_page_and_api(client, api, two_tenants, monkeypatch):
    """Imports barred for customers in findings.policy alone: the upload form and the API
    both refuse a customer's admin (403), and nothing is stored."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from findings.models import ScanImport

    monkeypatch.setattr(
        policy, "can_import", lambda access: access.is_mssp_staff and access.has_scope("write")
    )
    admin = two_tenants["a_admin"]
    client.force_login(admin)
    page = client.post(
        "/findings/imports/upload/", {"file": SimpleUploadedFile("a.csv", ONE_FINDING.encode())}
    )
    assert page.status_code == 403
    response = api(admin).post(
        "/api/v1/findings/imports/",
        {"file": SimpleUploadedFile("a.csv", ONE_FINDING.encode())},
        format="multipart",
    )
    assert response.status_code == 403
    assert response.json()["detail"] == policy.IMPORTERS_ONLY
    with rls_bypass("test"):
        assert not ScanImport.objects.for_tenant(two_tenants["a"]).exists()
