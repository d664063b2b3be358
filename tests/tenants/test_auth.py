"""Login, lockout, API tokens: hashed at rest, shown once, expiring, revocable, scoped."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from tenants.models import ApiToken, AuditEvent
from tenants.rls import rls_bypass
from tests.factories import issue_token

pytestmark = pytest.mark.django_db
PASSWORD = "correct-horse-battery"


def audit_actions(**filters) -> list[str]:
    with rls_bypass("test"):
        return list(
            AuditEvent.objects.dangerously_unscoped("test")
            .filter(**filters)
            .order_by("at")
            .values_list("action", flat=True)
        )


def test_token_endpoint_returns_a_token_and_expiry(client, two_tenants):
    user = two_tenants["a_admin"]
    response = client.post(
        "/api/v1/auth/token/",
        {"username": user.username, "password": PASSWORD},
        content_type="application/json",
    )
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"token", "expires_at"}
    me = client.get("/api/v1/me/", HTTP_AUTHORIZATION=f"Bearer {body['token']}")
    assert me.status_code == 200
    assert me.json()["tenants"] == ["tenant-a"]
    assert "auth.login" in audit_actions(tenant=two_tenants["a"])


def test_wrong_password_is_a_400_and_audited(client, two_tenants):
    user = two_tenants["a_admin"]
    response = client.post(
        "/api/v1/auth/token/",
        {"username": user.username, "password": "nope"},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_credentials"
    assert "auth.login_failed" in audit_actions(tenant=two_tenants["a"])


def test_repeated_failures_lock_the_account_out(client, two_tenants, settings):
    user = two_tenants["a_viewer"]
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(
            "/api/v1/auth/token/",
            {"username": user.username, "password": "bad"},
            content_type="application/json",
        )
    # Even the right password is refused now, through the API and the login page.
    response = client.post(
        "/api/v1/auth/token/",
        {"username": user.username, "password": PASSWORD},
        content_type="application/json",
    )
    assert response.status_code == 429
    assert response.json()["error"] == "locked_out"
    assert int(response["Retry-After"]) > 0
    page = client.post("/login/", {"username": user.username, "password": PASSWORD})
    assert page.status_code == 429
    assert b"Too many failed logins" in page.content
    assert "auth.locked_out" in audit_actions()


def test_login_page_logs_in_and_out(client, two_tenants):
    user = two_tenants["a_admin"]
    page = client.get("/login/")
    assert page.status_code == 200 and b'name="username"' in page.content
    response = client.post("/login/", {"username": user.username, "password": PASSWORD})
    assert response.status_code == 302
    home = client.get("/", follow=True)
    assert home.status_code == 200
    assert home.redirect_chain[-1][0] == "/dashboard/"  # a customer lands on its dashboard
    client.post("/logout/")
    assert client.get("/")["Location"].startswith("/login/")


def test_password_change_is_audited(client, two_tenants):
    user = two_tenants["a_viewer"]
    client.force_login(user)
    response = client.post(
        "/password/",
        {
            "old_password": PASSWORD,
            "new_password1": "another-Long-passphrase-7",
            "new_password2": "another-Long-passphrase-7",
        },
    )
    assert response.status_code == 302
    assert "auth.password_changed" in audit_actions(tenant=two_tenants["a"])


def test_tokens_are_stored_only_as_digests(two_tenants):
    raw = issue_token(two_tenants["a_admin"])
    token = ApiToken.objects.get(digest=ApiToken.digest_of(raw))
    assert raw not in (token.digest, token.prefix, str(token.pk))
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM tenants_apitoken")
        assert not any(raw in str(value) for row in cursor.fetchall() for value in row)


def test_created_token_is_shown_once(api, two_tenants):
    client = api(two_tenants["a_admin"])
    created = client.post("/api/v1/tokens/", {"name": "siem"}, format="json")
    assert created.status_code == 201
    raw = created.json()["token"]
    listed = client.get("/api/v1/tokens/").json()["results"]
    assert raw not in str(listed)
    detail = client.get(f"/api/v1/tokens/{created.json()['id']}/").json()
    assert "token" not in detail


def test_revoked_token_fails_on_the_next_request(api, two_tenants):
    owner = api(two_tenants["a_admin"])
    created = owner.post("/api/v1/tokens/", {"name": "ci"}, format="json").json()
    other = api()
    other.credentials(HTTP_AUTHORIZATION=f"Bearer {created['token']}")
    assert other.get("/api/v1/me/").status_code == 200
    assert owner.delete(f"/api/v1/tokens/{created['id']}/").status_code == 204
    response = other.get("/api/v1/me/")
    assert response.status_code == 401
    assert response.json() == {
        "error": "not_authenticated",
        "detail": "The token has been revoked.",
    }
    assert "token.revoked" in audit_actions(tenant=two_tenants["a"])


def test_expired_token_fails(api, two_tenants):
    raw = issue_token(two_tenants["a_admin"])
    ApiToken.objects.filter(digest=ApiToken.digest_of(raw)).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    client = api()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    response = client.get("/api/v1/me/")
    assert response.status_code == 401
    assert response.json()["detail"] == "The token has expired."


def test_token_of_a_deactivated_user_fails(api, two_tenants):
    user = two_tenants["a_admin"]
    client = api(user)
    user.is_active = False
    user.save()
    assert client.get("/api/v1/me/").status_code == 401


def test_read_scope_cannot_write(api, two_tenants):
    client = api(two_tenants["a_admin"], scopes=["read"])
    assert client.get("/api/v1/tenants/tenant-a/sources/").status_code == 200
    response = client.post(
        "/api/v1/tenants/tenant-a/suppression-rules/", {"name": "x"}, format="json"
    )
    assert response.status_code == 403
    assert response.json()["error"] == "insufficient_scope"
    assert "'write' scope" in response.json()["detail"]
    # an intake source is administration: it needs `admin` (tests/test_scope_matrix.py)
    response = client.post(
        "/api/v1/tenants/tenant-a/sources/", {"name": "x", "kind": "cef"}, format="json"
    )
    assert response.status_code == 403
    assert "'admin' scope" in response.json()["detail"]


def test_write_scope_without_read_cannot_list(api, two_tenants):
    client = api(two_tenants["a_admin"], scopes=["write"])
    assert client.get("/api/v1/tenants/tenant-a/sources/").status_code == 403


def test_a_role_cannot_mint_scopes_it_lacks(api, two_tenants):
    viewer = api()
    viewer.force_login(two_tenants["a_viewer"])  # a session: the role is the only limit
    response = viewer.post("/api/v1/tokens/", {"name": "x", "scopes": ["admin"]}, format="json")
    assert response.status_code == 400
    assert "admin" in response.json()["detail"]


def test_a_token_cannot_mint_a_broader_token(api, two_tenants):
    without_admin = api(two_tenants["a_admin"], scopes=["read", "write"])
    response = without_admin.post("/api/v1/tokens/", {"name": "x"}, format="json")
    assert response.status_code == 403
    assert response.json()["error"] == "insufficient_scope"  # minting tokens is administration
    narrow = api(two_tenants["a_admin"], scopes=["read", "admin"])
    response = narrow.post("/api/v1/tokens/", {"name": "x", "scopes": ["write"]}, format="json")
    assert response.status_code == 403
    implicit = narrow.post("/api/v1/tokens/", {"name": "y"}, format="json")
    assert implicit.status_code == 201
    assert implicit.json()["scopes"] == ["admin", "read"]


def test_tenant_a_token_never_reaches_tenant_b(api, two_tenants):
    client = api(two_tenants["a_admin"])
    assert client.get("/api/v1/tenants/tenant-b/").status_code == 404
    assert client.get("/api/v1/tenants/tenant-b/members/").status_code == 404
    assert client.get("/api/v1/tenants/").json()["results"][0]["slug"] == "tenant-a"
    assert len(client.get("/api/v1/tenants/").json()["results"]) == 1


def test_unknown_and_malformed_tokens_are_401(api):
    client = api()
    for header in ("Bearer nope", "Bearer", "Bearer a b", "Bearer \u00e9t\u00e9"):
        client.credentials(HTTP_AUTHORIZATION=header.encode("utf-8").decode("latin-1"))
        response = client.get("/api/v1/me/")
        assert response.status_code == 401, header
        assert response.json()["error"] == "not_authenticated"


def test_anonymous_api_call_is_401_with_json(client):
    response = client.get("/api/v1/tenants/")
    assert response.status_code == 401
    assert response.json()["error"] == "not_authenticated"
    assert response["WWW-Authenticate"].startswith("Bearer")
