"""The SCIM provisioning settings page: a customer admin (and an MSSP admin for a tenant)
sees the base URL, mints a token shown once, revokes it, maps groups to roles and reads the
recent SCIM activity; empty states say what to do; nobody else gets in."""

from __future__ import annotations

import pytest
from django.test import Client

from provisioning.models import GroupRoleMapping, ScimToken
from tenants.models import AuditEvent
from tenants.rls import rls_bypass

from .conftest import ScimClient, user_body

pytestmark = pytest.mark.django_db


def browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_empty_states_say_what_to_do(two_tenants):
    page = browser(two_tenants["a_admin"]).get("/settings/scim/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "http://testserver/scim/v2/" in text
    assert "No SCIM token yet" in text
    assert "No group gives a role yet" in text
    assert "Nothing provisioned yet" in text
    assert 'href="/settings/scim/"' in text  # the settings tab


def test_a_customer_admin_mints_uses_and_revokes_a_token(two_tenants):
    w = two_tenants
    admin = browser(w["a_admin"])
    minted = admin.post("/settings/scim/tokens/", {"name": "Entra ID"})
    assert minted.status_code == 200
    assert "no-store" in minted["Cache-Control"] or "no-cache" in minted["Cache-Control"]
    text = minted.content.decode()
    raw = text.split('id="secret-value" class="secret-value" value="')[1].split('"')[0]
    assert raw.startswith("mssp_scim_")
    with rls_bypass("test"):
        token = ScimToken.objects.for_tenant(w["a"]).get(name="Entra ID")
    assert token.digest == ScimToken.digest_of(raw)  # only the digest is kept
    assert raw not in admin.get("/settings/scim/").content.decode()  # shown once
    scim = ScimClient(raw)
    assert scim.post("Users", user_body("newbie")).status_code == 201
    page = admin.get("/settings/scim/").content.decode()
    assert "scim.user_created" in page and "newbie provisioned" in page
    revoked = admin.post(f"/settings/scim/tokens/{token.pk}/revoke/")
    assert revoked.status_code == 302
    assert scim.get("Users").status_code == 401
    with rls_bypass("test"):
        actions = set(AuditEvent.objects.for_tenant(w["a"]).values_list("action", flat=True))
    assert {"scim.token_created", "scim.token_revoked"} <= actions


def test_group_mappings_from_the_page(two_tenants):
    w = two_tenants
    admin = browser(w["a_admin"])
    assert (
        admin.post(
            "/settings/scim/mappings/", {"group_name": "SOC", "role": "responder"}
        ).status_code
        == 302
    )
    duplicate = admin.post("/settings/scim/mappings/", {"group_name": "soc", "role": "admin"})
    assert duplicate.status_code == 400
    assert "mapped already" in duplicate.content.decode()
    bad = admin.post("/settings/scim/mappings/", {"group_name": "X", "role": "owner"})
    assert bad.status_code == 400
    with rls_bypass("test"):
        mapping = GroupRoleMapping.objects.for_tenant(w["a"]).get()
    assert (mapping.group_name, mapping.role) == ("SOC", "responder")
    assert admin.post(f"/settings/scim/mappings/{mapping.pk}/remove/").status_code == 302
    with rls_bypass("test"):
        assert not GroupRoleMapping.objects.for_tenant(w["a"]).exists()


def test_an_mssp_admin_configures_a_chosen_tenant(two_tenants):
    w = two_tenants
    admin = browser(w["mssp_admin"])
    assert admin.post("/settings/scim/tokens/?tenant=tenant-b", {"name": "Okta"}).status_code == 200
    with rls_bypass("test"):
        assert ScimToken.objects.for_tenant(w["b"]).filter(name="Okta").exists()
        assert not ScimToken.objects.for_tenant(w["a"]).exists()


def test_nobody_else_gets_in(two_tenants):
    w = two_tenants
    with rls_bypass("test"):
        from provisioning.actions import mint_token
        from tenants.access import access_for

        b_token = mint_token(
            w["b"], actor=w["b_admin"], access=access_for(w["b_admin"]), request=None, name="B"
        ).token
        b_mapping = GroupRoleMapping.objects.create(tenant=w["b"], group_name="B", role="admin")
    for who in ("a_viewer", "a_responder", "analyst_a"):
        assert browser(w[who]).get("/settings/scim/").status_code == 403
        assert browser(w[who]).post("/settings/scim/tokens/", {"name": "x"}).status_code == 403
    a_admin = browser(w["a_admin"])
    assert a_admin.get("/settings/scim/?tenant=tenant-b").status_code == 404
    assert a_admin.post(f"/settings/scim/tokens/{b_token.pk}/revoke/").status_code == 404
    assert a_admin.post(f"/settings/scim/mappings/{b_mapping.pk}/remove/").status_code == 404
    with rls_bypass("test"):
        assert ScimToken.objects.for_tenant(w["b"]).get(pk=b_token.pk).revoked_at is None
        assert GroupRoleMapping.objects.for_tenant(w["b"]).filter(pk=b_mapping.pk).exists()


def test_minting_and_mapping_ask_for_the_second_factor_again(two_tenants, settings):
    """Issue 13's step-up: a SCIM token provisions members and a mapping grants roles."""
    from datetime import timedelta

    import time_machine
    from django.utils import timezone

    from provisioning.actions import SCIM_MAPPING_ADD, SCIM_MAPPING_REMOVE, SCIM_TOKEN_MINT
    from tests.mfa import PASSWORD, log_in

    assert SCIM_TOKEN_MINT.step_up and SCIM_MAPPING_ADD.step_up and SCIM_MAPPING_REMOVE.step_up
    w = two_tenants
    client = Client()
    log_in(client, w["a_admin"])
    later = timezone.now() + timedelta(minutes=settings.STEP_UP_MINUTES + 1)
    with time_machine.travel(later):
        asked = client.post("/settings/scim/tokens/", {"name": "Entra ID"})
        assert asked.status_code == 302
        assert asked["Location"].startswith("/accounts/reauthenticate/?next=")
        mapped = client.post("/settings/scim/mappings/", {"group_name": "G", "role": "admin"})
        assert mapped.status_code == 302
        with rls_bypass("test"):
            assert not ScimToken.objects.for_tenant(w["a"]).exists()
            assert not GroupRoleMapping.objects.for_tenant(w["a"]).exists()
        # the password replays the last kept POST: the mapping
        client.post(mapped["Location"], {"password": PASSWORD})
        with rls_bypass("test"):
            assert GroupRoleMapping.objects.for_tenant(w["a"]).filter(group_name="G").exists()
        # within the window now: the token is made without another ask
        assert client.post("/settings/scim/tokens/", {"name": "Entra ID"}).status_code == 200
        with rls_bypass("test"):
            assert ScimToken.objects.for_tenant(w["a"]).filter(name="Entra ID").exists()
