"""Tenant B's actions, policies and connectors are invisible and unusable to tenant A by id on
every route; hostile or oversized input is a 4xx, never a 500; the contract is set by the
customer's admins and the MSSP's supervisors only, audited."""

from __future__ import annotations

from datetime import timedelta

import pytest

from response.models import ActionPolicy
from tenants.models import AuditEvent
from tenants.rls import rls_bypass, tenant_scope

from .conftest import rows, set_mode

pytestmark = pytest.mark.django_db


def incident_actions(w, name="a"):
    return f"/api/v1/incidents/{w[f'{name}_incident'].pk}/actions/"


def test_an_action_never_runs_through_another_tenants_connector(world, api):
    w = world
    set_mode(w["a"], "webhook", "pre_approved")
    for connector in (w["b_webhook"].pk, "not-a-uuid", "00000000-0000-0000-0000-000000000000"):
        answer = api(w["mssp_admin"]).post(
            incident_actions(w),
            {"connector": str(connector), "action": "webhook", "target": "x"},
            format="json",
        )
        assert answer.status_code == 400, (connector, answer.content)
    assert rows() == []


def test_tenant_bs_actions_and_policies_are_404_for_tenant_a(
    world, api, django_capture_on_commit_callbacks
):
    w = world
    set_mode(w["b"], "block_address", "needs_approval", approve_minutes=30)
    b_action = api(w["analyst_b"]).post(
        incident_actions(w, "b"),
        {"connector": str(w["b_webhook"].pk), "action": "block_address", "target": "198.51.100.4"},
        format="json",
    )
    assert b_action.status_code == 201
    b_id = b_action.json()["id"]
    with rls_bypass("test"):
        b_policy = ActionPolicy.objects.dangerously_unscoped("t").get(tenant=w["b"])
    for user in (w["a_admin"], w["analyst_a"]):
        client = api(user)
        assert client.get(f"/api/v1/actions/{b_id}/").status_code == 404
        for verb in ("approve", "reject", "reverse"):
            answer = client.post(f"/api/v1/actions/{b_id}/{verb}/", {"reason": "x"})
            assert answer.status_code == 404
        assert client.get(f"/api/v1/action-policies/{b_policy.pk}/").status_code == 404
        patched = client.patch(
            f"/api/v1/action-policies/{b_policy.pk}/", {"mode": "never"}, format="json"
        )
        # 404, or the analyst's token lacks the admin scope: the same 403 for every object
        assert patched.status_code == 404 or "insufficient_scope" in patched.content.decode()
        assert client.get(incident_actions(w, "b")).status_code == 404
        assert client.get("/api/v1/actions/").json()["results"] == []
        assert b_id not in client.get("/api/v1/action-policies/").content.decode()
        assert str(b_policy.pk) not in client.get("/api/v1/action-policies/").content.decode()
    set_by_a = api(w["analyst_a"]).post(
        "/api/v1/action-policies/", {"tenant": "tenant-b", "action": "webhook", "mode": "never"}
    )
    assert set_by_a.status_code in (400, 403)
    assert rows(tenant=w["b"])[0].status == "awaiting_approval"
    with rls_bypass("test"):
        assert ActionPolicy.objects.dangerously_unscoped("t").get(tenant=w["b"]).mode == (
            "needs_approval"
        )


def test_who_sets_the_contract(world, api):
    w = world
    body = {"action": "isolate_host", "mode": "pre_approved", "approve_minutes": 10}
    assert (
        api(w["a_responder"]).post("/api/v1/action-policies/", body, format="json").status_code
        == 403
    )
    assert (
        api(w["a_viewer"]).post("/api/v1/action-policies/", body, format="json").status_code == 403
    )
    assert (
        api(w["analyst_a"])
        .post("/api/v1/action-policies/", {**body, "tenant": "tenant-a"})
        .status_code
        == 403
    )  # an L1 analyst: not a supervisor
    created = api(w["a_admin"]).post("/api/v1/action-policies/", body, format="json")
    assert created.status_code == 201 and created.json()["mode"] == "pre_approved"
    again = api(w["mssp_admin"]).post(
        "/api/v1/action-policies/",
        {**body, "tenant": "tenant-a", "mode": "never"},
        format="json",
    )
    assert again.status_code == 200 and again.json()["id"] == created.json()["id"]
    with tenant_scope([w["a"].pk]):
        changes = AuditEvent.objects.for_tenant(w["a"]).filter(action="response.policy_changed")
        assert changes.count() == 2


BODIES = [
    {"action": "isolate_host", "target": "ws-1/../../api/machines"},
    {"action": "isolate_host", "target": "ws-1' or 1 eq 1"},
    {"action": "isolate_host", "target": "a" * 300},
    {"action": "isolate_host", "target": "ws-1\r\nX-Injected: 1"},
    {"action": "disable_user", "target": "../users/admin"},
    {"action": "block_address", "target": "0.0.0.0/0"},
    {"action": "block_domain", "target": "evil..example"},
    {"action": "format_disk", "target": "ws-1"},
    {"action": "isolate_host", "target": ["ws-1"]},
    {"action": "isolate_host", "target": "ws-1", "idempotency_key": "x" * 500},
    {"action": "isolate_host", "target": "ws-1", "reason": "r" * 5000},
]


def test_hostile_targets_and_unknown_actions_are_400(world, api):
    client = api(world["analyst_a"])
    for body in BODIES:
        answer = client.post(
            incident_actions(world),
            {"connector": str(world["a_webhook"].pk), **body},
            format="json",
        )
        assert answer.status_code == 400, (body, answer.content)
    assert rows() == []


def test_changing_the_contract_in_a_session_needs_a_recent_second_factor(world, client, settings):
    import time_machine
    from django.utils import timezone

    client.force_login(world["a_admin"])
    form = {"tenant": "tenant-a", "action": "isolate_host", "mode": "pre_approved"}
    later = timezone.now() + timedelta(minutes=settings.STEP_UP_MINUTES + 1)
    with time_machine.travel(later):
        refused = client.post("/api/v1/action-policies/", form, content_type="application/json")
        assert refused.status_code == 403 and refused.json()["error"] == "step_up_required"
        asked = client.post("/settings/response-actions/", form)
        assert asked.status_code == 302 and "reauthenticate" in asked["Location"]
    with rls_bypass("test"):
        assert not ActionPolicy.objects.dangerously_unscoped("t").filter(tenant=world["a"])


def test_a_customer_never_sees_the_actions_of_an_incident_its_tlp_keeps_from_it(world, api):
    from alerts.models import Incident

    w = world
    made = api(w["analyst_a"]).post(
        incident_actions(w),
        {"connector": str(w["a_webhook"].pk), "action": "block_address", "target": "192.0.2.9"},
        format="json",
    )
    assert made.status_code == 201
    with rls_bypass("test fixture"):
        Incident.objects.dangerously_unscoped("t").filter(pk=w["a_incident"].pk).update(tlp="red")
    admin = api(w["a_admin"])
    assert admin.get(f"/api/v1/actions/{made.json()['id']}/").status_code == 404
    assert admin.post(f"/api/v1/actions/{made.json()['id']}/approve/", {}).status_code == 404
    assert admin.get("/api/v1/actions/").json()["results"] == []
    assert api(w["analyst_a"]).get("/api/v1/actions/").json()["results"]  # the MSSP's own
