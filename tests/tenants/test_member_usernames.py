"""A customer admin adding a member learns nothing about usernames outside their tenant (review
issue 10, finding 9): the name they choose lives in their tenant's namespace, so the login is
`<tenant-slug>/<name>` and a name taken at another tenant or by MSSP staff is simply free
here. MSSP admins, who see every account anyway, keep plain usernames."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from tenants.models import Membership, User
from tenants.rls import rls_bypass

pytestmark = pytest.mark.django_db
PASSWORD = "correct-horse-battery"
NEW_PASSWORD = "a-Long-enough-passphrase-1"


def add(client, username: str, **extra):
    body = {"username": username, "email": f"{username}@a.example", "role": "viewer", **extra}
    return client.post("/api/v1/tenants/tenant-a/members/", body, format="json")


def shape(response) -> tuple[int, list[str], str]:
    body = response.json()
    return response.status_code, sorted(body), body.get("role", "")


def test_a_name_taken_at_another_tenant_or_by_staff_answers_like_a_free_one(api, two_tenants):
    client = api(two_tenants["a_admin"])
    b_viewer, analyst_b = two_tenants["b_viewer"], two_tenants["analyst_b"]
    free = add(client, "brand-new-name")
    elsewhere = add(client, b_viewer.username.upper())
    staff = add(client, analyst_b.username)
    assert shape(free) == shape(elsewhere) == shape(staff)
    assert free.status_code == 201, free.json()
    assert elsewhere.json()["username"] == f"tenant-a/{b_viewer.username.upper()}"
    assert staff.json()["username"] == f"tenant-a/{analyst_b.username}"
    # ... and gained nobody: B's user and the analyst are untouched, each new account is new
    b_viewer.refresh_from_db()
    assert b_viewer.check_password(PASSWORD) and b_viewer.is_active
    with rls_bypass("test"):
        assert Membership.objects.for_tenant(two_tenants["b"]).filter(user=b_viewer).exists()
        assert not Membership.objects.dangerously_unscoped("test").filter(user=analyst_b)
    assert User.objects.filter(username__iexact=b_viewer.username).count() == 1


def test_the_settings_page_answers_alike_too(client, two_tenants):
    client.force_login(two_tenants["a_admin"])
    url = reverse("settings-members")
    answers = []
    for name in ("someone-new", two_tenants["b_admin"].username, two_tenants["analyst_b"].username):
        response = client.post(url, {"username": name, "email": "x@a.example", "role": "viewer"})
        answers.append(response.status_code)
    assert answers == [302, 302, 302]
    page = client.get(url).content.decode()
    assert f"tenant-a/{two_tenants['b_admin'].username}" in page


def test_the_new_member_signs_in_with_the_tenant_qualified_name(api, client, two_tenants):
    response = add(api(two_tenants["a_admin"]), "carol", password=NEW_PASSWORD)
    assert response.status_code == 201, response.json()
    login = client.post(
        "/api/v1/auth/token/",
        {"username": "tenant-a/carol", "password": NEW_PASSWORD},
        content_type="application/json",
    )
    assert login.status_code == 201, login.json()


def test_a_name_already_used_in_ones_own_tenant_is_refused(api, two_tenants):
    client = api(two_tenants["a_admin"])
    assert add(client, "dora").status_code == 201
    again = add(client, "DORA")
    assert again.status_code == 400
    assert "your organisation already has" in again.json()["detail"].lower()


def test_a_name_too_long_with_its_tenant_prefix_is_refused(api, two_tenants):
    response = add(api(two_tenants["a_admin"]), "x" * 145)
    assert response.status_code == 400
    assert "username" in response.json()["detail"]


def test_mssp_admins_keep_plain_usernames(api, two_tenants):
    client = api(two_tenants["mssp_admin"])
    response = add(client, "dave")
    assert response.status_code == 201
    assert response.json()["username"] == "dave"
    taken = add(client, two_tenants["b_viewer"].username)
    assert taken.status_code == 400
    assert taken.json()["detail"] == "username: That username is taken."


def test_qualified_usernames_pass_the_models_validator(two_tenants):
    """The Django admin validates usernames: a member's qualified one is valid, a stray slash
    is not."""
    field = User._meta.get_field("username")
    field.run_validators("tenant-a/carol.smith@corp")
    for bad in ("a/b/c", "/carol", "tenant a/carol", "tenant-a/"):
        with pytest.raises(ValidationError):
            field.run_validators(bad)
