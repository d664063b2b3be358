"""MSSP administration: tenants, members, intake sources (keys shown once), staff and the
tenants they work; the audit log of each change; who may read it."""

from __future__ import annotations

import pytest
from django.core import mail

from alerts.models import IntakeSource
from tenants.access import access_for
from tenants.models import AuditEvent, Membership, User
from tenants.rls import rls_bypass

pytestmark = pytest.mark.django_db


def audit_rows(**filters):
    with rls_bypass("test"):
        return list(
            AuditEvent.objects.dangerously_unscoped("test").filter(**filters).order_by("at")
        )


def test_mssp_admin_creates_and_updates_a_tenant(api, two_tenants):
    admin = api(two_tenants["mssp_admin"])
    body = {
        "name": "Umbrella",
        "slug": "umbrella",
        "service_model": "in_house",
        "timezone": "Asia/Tokyo",
        "business_hours": {"mon": [["08:00", "12:00"], ["13:00", "18:00"]]},
        "holidays": [{"date": "2026-12-31", "name": "Omisoka"}],
    }
    created = admin.post("/api/v1/tenants/", body, format="json")
    assert created.status_code == 201, created.json()
    assert created.json()["service_model"] == "in_house"
    patched = admin.patch("/api/v1/tenants/umbrella/", {"status": "suspended"}, format="json")
    assert patched.status_code == 200 and patched.json()["status"] == "suspended"
    # the slug is fixed once created
    renamed = admin.patch("/api/v1/tenants/umbrella/", {"slug": "other"}, format="json")
    assert renamed.json()["slug"] == "umbrella"
    actions = [e.action for e in audit_rows(tenant__slug="umbrella")]
    assert actions == ["tenant.created", "tenant.updated", "tenant.updated"]
    assert audit_rows(tenant__slug="umbrella")[1].data["status"] == {
        "from": "active",
        "to": "suspended",
    }


@pytest.mark.parametrize(
    "field,value,message",
    [
        ("timezone", "Mars/Olympus", "IANA"),
        ("business_hours", {"mon": [["17:00", "09:00"]]}, "ends before it starts"),
        ("business_hours", {"caturday": []}, "Unknown weekday"),
        ("business_hours", {"mon": [["09:00", "12:00"], ["11:00", "13:00"]]}, "overlap"),
        ("holidays", [{"date": "2026-02-30"}], "not a date"),
        ("service_model", "freelance", "not a valid choice"),
        ("slug", "has spaces", "slug"),
    ],
)
def test_tenant_validation_errors_are_clear(api, two_tenants, field, value, message):
    admin = api(two_tenants["mssp_admin"])
    body = {"name": "X", "slug": "x", "service_model": "hybrid", field: value}
    response = admin.post("/api/v1/tenants/", body, format="json")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid"
    assert message.lower() in response.json()["detail"].lower()


def test_only_mssp_admins_create_tenants(api, two_tenants):
    for who in ("a_admin", "analyst_a"):
        response = api(two_tenants[who]).post(
            "/api/v1/tenants/", {"name": "X", "slug": "x", "service_model": "hybrid"}, format="json"
        )
        assert response.status_code == 403


def test_customer_admin_adds_a_member_with_a_password(api, two_tenants):
    client = api(two_tenants["a_admin"])
    response = client.post(
        "/api/v1/tenants/tenant-a/members/",
        {
            "username": "carol",
            "email": "carol@a.example",
            "role": "responder",
            "password": "a-Long-enough-passphrase-1",
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["role"] == "responder"
    # a customer admin's member signs in with the tenant's prefix (test_member_usernames.py)
    assert response.json()["username"] == "tenant-a/carol"
    carol = User.objects.get(username="tenant-a/carol")
    assert carol.check_password("a-Long-enough-passphrase-1")
    assert access_for(carol).tenant_ids == {two_tenants["a"].pk}
    assert "membership.created" in [e.action for e in audit_rows(tenant=two_tenants["a"])]


def test_member_without_password_gets_a_set_password_link(
    api, two_tenants, django_capture_on_commit_callbacks
):
    client = api(two_tenants["mssp_admin"])
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/api/v1/tenants/tenant-a/members/",
            {"username": "dave", "email": "dave@a.example", "role": "viewer"},
            format="json",
        )
    assert response.status_code == 201
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["dave@a.example"]
    assert "/reset/" in mail.outbox[0].body
    assert not User.objects.get(username="dave").has_usable_password()
    with rls_bypass("test"):
        assert (
            Membership.objects.for_tenant(two_tenants["a"]).get(user__username="dave").invited_at
            is not None
        )


def test_member_password_is_validated(api, two_tenants):
    response = api(two_tenants["a_admin"]).post(
        "/api/v1/tenants/tenant-a/members/",
        {"username": "erin", "email": "erin@a.example", "role": "viewer", "password": "123"},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["detail"].startswith("password:")
    assert not User.objects.filter(username="erin").exists()


def test_duplicate_username_is_refused(api, two_tenants):
    """For an MSSP admin, who sees every account; a customer admin's names are their own
    tenant's (test_member_usernames.py)."""
    taken = two_tenants["b_viewer"].username
    response = api(two_tenants["mssp_admin"]).post(
        "/api/v1/tenants/tenant-a/members/",
        {"username": taken.upper(), "email": "x@a.example", "role": "viewer"},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["detail"] == "username: That username is taken."


def test_member_role_change_and_removal(api, two_tenants):
    client = api(two_tenants["a_admin"])
    with rls_bypass("test"):
        member = Membership.objects.for_tenant(two_tenants["a"]).get(user=two_tenants["a_viewer"])
    url = f"/api/v1/tenants/tenant-a/members/{member.pk}/"
    assert client.patch(url, {"role": "responder"}, format="json").json()["role"] == "responder"
    assert client.patch(url, {"role": "owner"}, format="json").status_code == 400
    viewer_token = api(two_tenants["a_viewer"])
    assert client.delete(url).status_code == 204
    user = User.objects.get(pk=two_tenants["a_viewer"].pk)
    assert not user.is_active
    assert viewer_token.get("/api/v1/me/").status_code == 401
    actions = [e.action for e in audit_rows(tenant=two_tenants["a"])]
    assert "membership.role_changed" in actions and "membership.removed" in actions


def test_the_only_customer_admin_cannot_be_demoted(api, two_tenants):
    with rls_bypass("test"):
        me = Membership.objects.for_tenant(two_tenants["a"]).get(user=two_tenants["a_admin"])
    url = f"/api/v1/tenants/tenant-a/members/{me.pk}/"
    for client in (api(two_tenants["mssp_admin"]), api(two_tenants["a_admin"])):
        refused = client.patch(url, {"role": "viewer"}, format="json")
        assert refused.status_code == 400 and "only admin" in refused.json()["detail"]
    with rls_bypass("test"):
        assert Membership.objects.for_tenant(two_tenants["a"]).get(pk=me.pk).role == "admin"


def test_customer_viewer_and_responder_cannot_manage_members(api, two_tenants):
    for who in ("a_viewer", "a_responder"):
        client = api(two_tenants[who])
        assert client.get("/api/v1/tenants/tenant-a/members/").status_code == 403


def test_analyst_reads_but_cannot_change_members(api, two_tenants):
    client = api(two_tenants["analyst_a"])
    assert client.get("/api/v1/tenants/tenant-a/members/").status_code == 200
    response = client.post(
        "/api/v1/tenants/tenant-a/members/",
        {"username": "z", "email": "z@a.example", "role": "viewer"},
        format="json",
    )
    assert response.status_code == 403


def test_intake_source_key_is_shown_once_and_stored_hashed(api, two_tenants):
    client = api(two_tenants["a_admin"])
    created = client.post(
        "/api/v1/tenants/tenant-a/sources/", {"name": "Wazuh HQ", "kind": "wazuh"}, format="json"
    )
    assert created.status_code == 201
    key = created.json()["key"]
    assert key.startswith("mssp_ik_") and len(key) > 40
    with rls_bypass("test"):
        source = IntakeSource.objects.for_tenant(two_tenants["a"]).get(name="Wazuh HQ")
    assert source.key_digest == IntakeSource.digest_of(key)
    detail = client.get(f"/api/v1/tenants/tenant-a/sources/{source.pk}/").json()
    assert "key" not in detail and key not in str(detail)
    rotated = client.post(f"/api/v1/tenants/tenant-a/sources/{source.pk}/rotate-key/")
    assert rotated.status_code == 201 and rotated.json()["key"] != key
    assert client.delete(f"/api/v1/tenants/tenant-a/sources/{source.pk}/").status_code == 204
    with rls_bypass("test"):
        source.refresh_from_db()
    assert source.status == "disabled"
    assert source.key_digest != IntakeSource.digest_of(rotated.json()["key"])
    actions = [e.action for e in audit_rows(tenant=two_tenants["a"])]
    assert {"intake_key.created", "intake_key.rotated", "intake_key.revoked"} <= set(actions)


def test_intake_source_name_unique_per_tenant_and_kind_checked(api, two_tenants):
    client = api(two_tenants["a_admin"])
    assert (
        client.post(
            "/api/v1/tenants/tenant-a/sources/", {"name": "S", "kind": "cef"}, format="json"
        ).status_code
        == 201
    )
    dup = client.post(
        "/api/v1/tenants/tenant-a/sources/", {"name": "S", "kind": "cef"}, format="json"
    )
    assert dup.status_code == 400 and "already has" in dup.json()["detail"]
    bad = client.post(
        "/api/v1/tenants/tenant-a/sources/", {"name": "T", "kind": "syslog"}, format="json"
    )
    assert bad.status_code == 400 and "kind" in bad.json()["detail"]
    # another tenant may use the same name
    other = api(two_tenants["b_admin"]).post(
        "/api/v1/tenants/tenant-b/sources/", {"name": "S", "kind": "cef"}, format="json"
    )
    assert other.status_code == 201


def test_intake_source_kind_cannot_be_changed(api, two_tenants):
    """The kind decides how payloads are parsed: a different kind is a different source."""
    client = api(two_tenants["a_admin"])
    created = client.post(
        "/api/v1/tenants/tenant-a/sources/", {"name": "K", "kind": "wazuh"}, format="json"
    ).json()
    url = f"/api/v1/tenants/tenant-a/sources/{created['id']}/"
    refused = client.patch(url, {"kind": "cef", "name": "K2"}, format="json")
    assert refused.status_code == 400 and "cannot change" in refused.json()["detail"]
    changed = client.patch(url, {"kind": "wazuh", "name": "K2"}, format="json")
    assert changed.status_code == 200
    assert changed.json()["kind"] == "wazuh" and changed.json()["name"] == "K2"


def test_staff_api_assigns_tenants_and_audits_it(api, two_tenants):
    admin = api(two_tenants["mssp_admin"])
    created = admin.post(
        "/api/v1/staff/",
        {
            "username": "frank",
            "staff_role": "analyst_l2",
            "email": "frank@mssp.example",
            "password": "frank-Long-passphrase-9",
            "tenants": ["tenant-a"],
        },
        format="json",
    )
    assert created.status_code == 201, created.json()
    assert created.json()["tenants"] == ["tenant-a"]
    frank = User.objects.get(username="frank")
    assert access_for(frank).tenant_ids == {two_tenants["a"].pk}
    updated = admin.patch(f"/api/v1/staff/{frank.pk}/", {"tenants": ["tenant-b"]}, format="json")
    assert updated.json()["tenants"] == ["tenant-b"]
    assert access_for(frank).tenant_ids == {two_tenants["b"].pk}
    granted = audit_rows(action="permission.granted", data__user="frank")
    revoked = audit_rows(action="permission.revoked", data__user="frank")
    assert [e.tenant_id for e in granted] == [two_tenants["a"].pk, two_tenants["b"].pk]
    assert [e.tenant_id for e in revoked] == [two_tenants["a"].pk]
    unknown = admin.patch(f"/api/v1/staff/{frank.pk}/", {"tenants": ["nope"]}, format="json")
    assert unknown.status_code == 400 and "nope" in unknown.json()["detail"]


def test_staff_list_shows_who_works_what(api, two_tenants):
    listed = api(two_tenants["mssp_admin"]).get("/api/v1/staff/?page_size=100").json()["results"]
    by_name = {row["username"]: row for row in listed}
    assert by_name[two_tenants["analyst_a"].username]["tenants"] == ["tenant-a"]
    assert two_tenants["a_admin"].username not in by_name  # customers are not staff


def test_only_mssp_admins_change_staff(api, two_tenants):
    target = two_tenants["analyst_a"]
    for who in ("analyst_a", "a_admin"):
        response = api(two_tenants[who]).patch(
            f"/api/v1/staff/{target.pk}/", {"tenants": ["tenant-b"]}, format="json"
        )
        assert response.status_code == 403
    assert access_for(target).tenant_ids == {two_tenants["a"].pk}


def test_managers_change_assignments_but_not_accounts(api, make_user, two_tenants):
    target = two_tenants["analyst_a"]
    manager = api(make_user(None, "manager"))
    url = f"/api/v1/staff/{target.pk}/"
    moved = manager.patch(url, {"tenants": ["tenant-b"]}, format="json")
    assert moved.status_code == 200 and moved.json()["tenants"] == ["tenant-b"]
    assert access_for(target).tenant_ids == {two_tenants["b"].pk}
    for change in ({"staff_role": "admin"}, {"is_active": False}, {"password": "x" * 20}):
        assert manager.patch(url, change, format="json").status_code == 403
    assert manager.post("/api/v1/staff/", {"username": "m"}, format="json").status_code == 403
    target.refresh_from_db()
    assert target.staff_role == "analyst_l1" and target.is_active


def test_manager_and_admin_see_every_tenant_analyst_only_theirs(make_user, two_tenants):
    manager = make_user(None, "manager")
    assert access_for(manager).tenant_ids == {two_tenants["a"].pk, two_tenants["b"].pk}
    assert access_for(two_tenants["analyst_a"]).tenant_ids == {two_tenants["a"].pk}
    assert access_for(two_tenants["outsider"]).tenant_ids == frozenset()


def test_suspended_tenant_locks_its_customers_out(api, two_tenants):
    client = api(two_tenants["a_admin"])
    two_tenants["a"].status = "suspended"
    two_tenants["a"].save()
    assert client.get("/api/v1/me/").json()["tenants"] == []
    assert client.get("/api/v1/tenants/tenant-a/sources/").status_code == 404


def test_audit_log_mssp_admin_reads_all_customer_admin_only_theirs(api, two_tenants):
    from tenants import audit

    audit.record("test.a", tenant=two_tenants["a"], summary="A's event")
    audit.record("test.b", tenant=two_tenants["b"], summary="B's event")
    audit.record("test.mssp", summary="MSSP-level event")
    everything = api(two_tenants["mssp_admin"]).get("/api/v1/audit/?page_size=500").json()
    actions = {row["action"] for row in everything["results"]}
    assert {"test.a", "test.b", "test.mssp"} <= actions
    mine = api(two_tenants["a_admin"]).get("/api/v1/audit/?page_size=500").json()
    actions = {row["action"] for row in mine["results"]}
    assert "test.a" in actions and not actions & {"test.b", "test.mssp"}
    only_b = api(two_tenants["mssp_admin"]).get("/api/v1/audit/?tenant=tenant-b").json()
    assert {row["tenant"] for row in only_b["results"]} == {"tenant-b"}
    for who in ("a_viewer", "a_responder", "analyst_a"):
        assert api(two_tenants[who]).get("/api/v1/audit/").status_code == 403


def test_lists_paginate_by_cursor(api, two_tenants):
    admin = api(two_tenants["mssp_admin"])
    for n in range(5):
        admin.post(
            "/api/v1/tenants/",
            {"name": f"T{n}", "slug": f"t{n}", "service_model": "hybrid"},
            format="json",
        )
    page = admin.get("/api/v1/tenants/?page_size=3").json()
    assert len(page["results"]) == 3 and "cursor=" in page["next"]
    seen = [row["slug"] for row in page["results"]]
    while page["next"]:
        page = admin.get(page["next"]).json()
        seen += [row["slug"] for row in page["results"]]
    assert seen == sorted(seen) and len(seen) == len(set(seen)) == 7


def test_openapi_schema_documents_every_api_route(client, two_tenants):
    from tests.isolation import api_routes

    client.force_login(two_tenants["a_viewer"])  # the schema is for signed-in callers
    schema = client.get("/api/schema/?format=json").json()
    documented = set(schema["paths"])
    for route in api_routes():
        assert "/" + route.id.replace("{pk}", "{id}") in documented, route.id
    assert client.get("/api/docs/").status_code == 200
