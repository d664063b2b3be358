"""Token scopes (review issue 10, finding 1): `admin` guards every administrative action of a
token, `read`/`write` the rest; `intake` is not a token scope (SIEMs send with their source's
intake key). Sessions are not tokens: the role alone decides for them.

The per-route table, generated from the URL conf, is tests/test_scope_matrix.py."""

from __future__ import annotations

import pytest

from tenants.models import ApiToken, Membership, User
from tenants.rls import rls_bypass
from tests.factories import issue_token

pytestmark = pytest.mark.django_db

READ_WRITE = ["read", "write"]


def refused_for_scope(response, scope: str = "admin") -> bool:
    body = response.json()
    return (
        response.status_code == 403
        and body["error"] == "insufficient_scope"
        and f"'{scope}' scope" in body["detail"]
    )


def test_read_write_token_of_an_mssp_admin_cannot_create_an_admin_account(api, two_tenants):
    client = api(two_tenants["mssp_admin"], scopes=READ_WRITE)
    response = client.post(
        "/api/v1/staff/",
        {"username": "mallory", "staff_role": "admin", "password": "a-Long-enough-pass-9"},
        format="json",
    )
    assert refused_for_scope(response), response.json()
    assert not User.objects.filter(username="mallory").exists()


def test_read_write_token_of_a_customer_admin_cannot_administer(api, two_tenants):
    client = api(two_tenants["a_admin"], scopes=READ_WRITE)
    member = client.post(
        "/api/v1/tenants/tenant-a/members/",
        {"username": "eve", "email": "eve@a.example", "role": "admin"},
        format="json",
    )
    assert refused_for_scope(member), member.json()
    source = client.post(
        "/api/v1/tenants/tenant-a/sources/", {"name": "Shadow", "kind": "cef"}, format="json"
    )
    assert refused_for_scope(source), source.json()
    assert "key" not in source.json()
    assert refused_for_scope(client.get("/api/v1/audit/"))
    with rls_bypass("test"):
        assert (
            not Membership.objects.for_tenant(two_tenants["a"])
            .filter(role="admin")
            .exclude(user=two_tenants["a_admin"])
        )


def test_admin_scope_lets_the_same_caller_administer(api, two_tenants):
    client = api(two_tenants["a_admin"], scopes=["read", "admin"])
    response = client.post(
        "/api/v1/tenants/tenant-a/sources/", {"name": "Wazuh", "kind": "wazuh"}, format="json"
    )
    assert response.status_code == 201, response.json()
    assert client.get("/api/v1/audit/").status_code == 200


def test_admin_scope_does_not_widen_a_role(api, two_tenants, make_user):
    """The scope only narrows what a role may do: a lead's admin token writes escalation
    policies (a lead's right) but still cannot create staff (an MSSP admin's)."""
    lead = make_user(None, "lead")
    client = api(lead, scopes=["read", "admin"])
    response = client.post(
        "/api/v1/staff/", {"username": "x", "staff_role": "admin"}, format="json"
    )
    assert response.status_code == 403
    assert response.json()["error"] == "forbidden"


def test_a_session_keeps_role_based_permission(client, two_tenants):
    client.force_login(two_tenants["a_admin"])
    response = client.post(
        "/api/v1/tenants/tenant-a/sources/",
        {"name": "Portal", "kind": "cef"},
        content_type="application/json",
    )
    assert response.status_code == 201, response.json()
    assert client.get("/api/v1/audit/").status_code == 200


@pytest.mark.parametrize("who", ["a_admin", "mssp_admin"])
def test_intake_is_not_a_scope_a_token_can_be_minted_with(api, two_tenants, who):
    session = api()
    session.force_login(two_tenants[who])
    response = session.post(
        "/api/v1/tokens/", {"name": "siem", "scopes": ["read", "intake"]}, format="json"
    )
    assert response.status_code == 400
    assert "intake key" in response.json()["detail"]
    default = session.post("/api/v1/tokens/", {"name": "all"}, format="json")
    assert default.status_code == 201
    assert "intake" not in default.json()["scopes"]
    with pytest.raises(ValueError, match="intake"):
        issue_token(two_tenants[who], scopes=["intake"])


def test_a_user_token_is_no_intake_credential(api, two_tenants):
    client = api(two_tenants["a_admin"])
    response = client.post(
        "/api/v1/intake/generic/", {"title": "x", "severity": "low"}, format="json"
    )
    assert response.status_code == 401


def test_existing_tokens_with_the_intake_scope_stay_readable(api, two_tenants):
    """Tokens minted before `intake` was dropped keep working with the scopes that mean
    something, and are listed without error."""
    from importlib import import_module

    from django.apps import apps

    raw = issue_token(two_tenants["a_admin"], scopes=["read", "admin"])
    token = ApiToken.objects.get(digest=ApiToken.digest_of(raw))
    ApiToken.objects.filter(pk=token.pk).update(scopes=["admin", "intake", "read"])
    client = api()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    listed = client.get("/api/v1/tokens/")
    assert listed.status_code == 200, listed.json()
    assert client.get("/api/v1/me/").json()["scopes"] == ["admin", "read"]
    # the data migration strips it from the stored row
    migration = import_module("tenants.migrations.0006_drop_intake_token_scope")
    migration.drop_intake_scope(apps, None)
    token.refresh_from_db()
    assert token.scopes == ["admin", "read"]
    assert client.get("/api/v1/me/").status_code == 200


def test_the_refusal_says_when_no_token_of_the_role_could_have_the_scope(api, two_tenants):
    analyst = api(two_tenants["analyst_a"])  # analysts' tokens: read and write at most
    body = analyst.post("/api/v1/sla/policies/", {}, format="json").json()
    assert body["error"] == "insufficient_scope" and body["required_scope"] == "admin"
    assert "No token of your role can have it" in body["detail"]
    admin = api(two_tenants["a_admin"], scopes=["read"])
    body = admin.post("/api/v1/tenants/tenant-a/contacts/", {}, format="json").json()
    assert "Use a token created with the 'admin' scope" in body["detail"]
