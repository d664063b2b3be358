"""A token that mints a token (review issue 10, finding 4): the child has at most its parent's
scopes and lifetime, records its parent, and dies with it (recursively)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from tenants import services
from tenants.models import ApiToken

pytestmark = pytest.mark.django_db


def bearer(raw: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def mint(user, *, days: int = 1, scopes=("read", "admin")) -> tuple[str, ApiToken]:
    return services.token_issue(
        user,
        name="parent",
        scopes=frozenset(scopes),
        expires_at=timezone.now() + timedelta(days=days),
    )


def child_of(raw: str, **body) -> dict:
    response = bearer(raw).post("/api/v1/tokens/", {"name": "child", **body}, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def test_a_child_token_never_outlives_its_parent(two_tenants):
    raw, parent = mint(two_tenants["a_admin"], days=1)
    child = child_of(raw, expires_in_days=365)
    token = ApiToken.objects.get(pk=child["id"])
    assert token.expires_at == parent.expires_at
    assert token.parent_id == parent.pk
    assert child["expires_at"] is not None


def test_a_child_token_has_at_most_its_parents_scopes(two_tenants):
    raw, _ = mint(two_tenants["a_admin"], scopes=("read", "admin"))
    assert sorted(child_of(raw)["scopes"]) == ["admin", "read"]
    assert child_of(raw, scopes=["read"])["scopes"] == ["read"]
    broader = bearer(raw).post(
        "/api/v1/tokens/", {"name": "x", "scopes": ["read", "write"]}, format="json"
    )
    assert broader.status_code == 403
    assert "scopes it lacks" in broader.json()["detail"]


def test_revoking_a_parent_revokes_its_children_recursively(two_tenants):
    raw, parent = mint(two_tenants["a_admin"])
    child = child_of(raw)
    grandchild = child_of(child["token"])
    sibling = mint(two_tenants["a_admin"])[0]  # not of this lineage
    for token in (child, grandchild):
        assert bearer(token["token"]).get("/api/v1/me/").status_code == 200
    assert bearer(raw).delete(f"/api/v1/tokens/{parent.pk}/").status_code == 204
    for token in (child, grandchild):
        response = bearer(token["token"]).get("/api/v1/me/")
        assert response.status_code == 401
        assert ApiToken.objects.get(pk=token["id"]).revoked_at is not None
    assert bearer(sibling).get("/api/v1/me/").status_code == 200


def test_a_child_dies_with_a_parent_revoked_any_other_way(two_tenants):
    """Defence in depth: even a parent revoked without the service (the Django admin, a bulk
    update) takes its children along at authentication."""
    raw, parent = mint(two_tenants["a_admin"])
    child = child_of(raw)
    ApiToken.objects.filter(pk=parent.pk).update(revoked_at=timezone.now())
    assert bearer(child["token"]).get("/api/v1/me/").status_code == 401


def test_a_login_or_session_token_has_no_parent(client, two_tenants, api):
    session = api()
    session.force_login(two_tenants["a_admin"])
    created = session.post(
        "/api/v1/tokens/", {"name": "long", "expires_in_days": 365}, format="json"
    )
    assert created.status_code == 201
    token = ApiToken.objects.get(pk=created.json()["id"])
    assert token.parent_id is None
    assert token.expires_at > timezone.now() + timedelta(days=364)


def test_revoking_records_the_children_in_the_audit_log(two_tenants):
    from tenants.models import AuditEvent
    from tenants.rls import rls_bypass

    raw, parent = mint(two_tenants["a_admin"])
    child = child_of(raw)
    services.token_revoke(parent)
    with rls_bypass("test"):
        event = (
            AuditEvent.objects.dangerously_unscoped("test")
            .filter(action="token.revoked", object_id=str(parent.pk))
            .get()
        )
    assert event.data["children"] == [child["id"]]


def test_revoking_a_parent_in_the_django_admin_revokes_its_children(two_tenants, rf):
    from django.contrib.admin.sites import site

    raw, parent = mint(two_tenants["a_admin"])
    child = child_of(raw)
    admin = site._registry[ApiToken]
    parent.revoked_at = timezone.now()

    class Form:
        changed_data = ["revoked_at"]

    request = rf.post("/admin/")
    request.user = two_tenants["mssp_admin"]
    admin.save_model(request, parent, Form(), change=True)
    assert ApiToken.objects.get(pk=child["id"]).revoked_at is not None
