"""Single sign-on's administration: /api/v1/tenants/{slug}/sso/ and sso-domains/, and the
settings page /settings/sso/ — the tenant's admins and MSSP admins only, another tenant's a
404, the client secret never shown, the discovery URL fetched through the SSRF guard, a
domain claimed by one tenant only, verified by MSSP admins."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from provisioning.models import IdentityProvider, SsoDomain
from tenants import sealed
from tenants.models import AuditEvent
from tenants.rls import rls_bypass

from .oidc_idp import TestProvider

pytestmark = pytest.mark.django_db

SECRET = "the-client-secret-0123456789"


@pytest.fixture
def idp(settings):
    settings.WEBHOOK_ALLOW_PRIVATE = True  # the provider is on loopback
    with TestProvider(client_secret=SECRET) as provider:
        yield provider


def body(idp, **extra):
    return {
        "issuer": idp.issuer,
        "client_id": "portal",
        "client_secret": SECRET,
        "groups_claim": "roles",
        **extra,
    }


def audit_of(tenant, prefix):
    with rls_bypass("test"):
        return list(
            AuditEvent.objects.for_tenant(tenant).filter(action__startswith=prefix).order_by("id")
        )


def test_admin_sets_reads_changes_and_removes_the_provider(two_tenants, api, idp):
    w = two_tenants
    client = api(w["a_admin"])
    url = "/api/v1/tenants/tenant-a/sso/"
    assert client.get(url).status_code == 404  # none yet
    created = client.put(url, body(idp), format="json")
    assert created.status_code == 201, created.content
    answer = created.json()
    assert answer["issuer"] == idp.issuer and answer["client_secret_hint"] == "…6789"
    assert answer["redirect_uri"].endswith(f"/sso/oidc/sso-{answer['id']}/callback/")
    assert "GET /.well-known/openid-configuration" in idp.requests  # read through the guard
    changed = client.patch(url, {"sso_only": True, "default_role": "responder"}, format="json")
    assert changed.status_code == 200 and changed.json()["sso_only"] is True
    assert client.get(url).json()["default_role"] == "responder"
    again = client.put(url, body(idp, client_secret=""), format="json")  # keeps the secret
    assert again.status_code == 200, again.content
    with rls_bypass("test"):
        config = IdentityProvider.objects.for_tenant(w["a"]).get()
    assert sealed.unseal(config.sealed_secrets)["client_secret"] == SECRET
    assert SECRET not in config.sealed_secrets
    entries = audit_of(w["a"], "sso.config_changed")
    assert [e.data["created"] for e in entries][:1] == [True]
    assert "sso_only" in entries[1].data["changed"]
    assert client.delete(url).status_code == 204
    assert client.get(url).status_code == 404
    for response in (created, changed, again):
        assert SECRET not in response.content.decode()
    for entry in audit_of(w["a"], ""):
        assert SECRET not in json.dumps(entry.data) + entry.summary


def test_bad_provider_input_is_a_400(two_tenants, api, idp, settings):
    client = api(two_tenants["a_admin"])
    url = "/api/v1/tenants/tenant-a/sso/"
    for bad in (
        body(idp, issuer="not a url"),
        body(idp, scopes="profile email"),
        body(idp, client_secret=""),  # none stored yet
        body(idp, issuer=idp.issuer + "/elsewhere"),  # its discovery document names another
        body(idp, default_role="root"),
        ["not", "an", "object"],
    ):
        answer = client.put(url, bad, format="json")
        assert answer.status_code == 400, (bad, answer.content)
    settings.WEBHOOK_ALLOW_PRIVATE = False  # the SSRF guard: loopback is not a provider
    refused = client.put(url, body(idp, issuer="https://127.0.0.1:9/"), format="json")
    assert refused.status_code == 400 and "public address" in refused.content.decode()
    with rls_bypass("test"):
        assert not IdentityProvider.objects.for_tenant(two_tenants["a"]).exists()


def test_only_the_tenants_admins_and_mssp_admins(two_tenants, api, idp):
    w = two_tenants
    assert api(w["a_admin"]).put("/api/v1/tenants/tenant-a/sso/", body(idp), format="json")
    for who in ("a_viewer", "a_responder", "analyst_a"):
        client = api(w[who])
        assert client.get("/api/v1/tenants/tenant-a/sso/").status_code == 403
        assert client.get("/api/v1/tenants/tenant-a/sso-domains/").status_code == 403
    # tenant B's admin: A's provider and domains do not exist for them
    b = api(w["b_admin"])
    assert b.get("/api/v1/tenants/tenant-a/sso/").status_code == 404
    assert (
        b.patch("/api/v1/tenants/tenant-a/sso/", {"enabled": False}, format="json").status_code
        == 404
    )
    assert b.delete("/api/v1/tenants/tenant-a/sso/").status_code == 404
    claim = api(w["a_admin"]).post(
        "/api/v1/tenants/tenant-a/sso-domains/", {"domain": "acme.test"}, format="json"
    )
    pk = claim.json()["id"]
    assert b.get(f"/api/v1/tenants/tenant-a/sso-domains/{pk}/").status_code == 404
    assert b.get(f"/api/v1/tenants/tenant-b/sso-domains/{pk}/").status_code == 404
    assert b.delete(f"/api/v1/tenants/tenant-b/sso-domains/{pk}/").status_code == 404
    assert b.post(f"/api/v1/tenants/tenant-b/sso-domains/{pk}/verify/").status_code == 404
    with rls_bypass("test"):
        assert IdentityProvider.objects.for_tenant(w["a"]).get().enabled
        assert SsoDomain.objects.for_tenant(w["a"]).filter(pk=pk).exists()
    # an MSSP admin manages any tenant's
    mssp = api(w["mssp_admin"])
    assert (
        mssp.patch("/api/v1/tenants/tenant-a/sso/", {"sso_only": False}, format="json").status_code
        == 200
    )


def test_a_domain_is_one_tenants_and_verified_by_an_mssp_admin(two_tenants, api):
    w = two_tenants
    a, b = api(w["a_admin"]), api(w["b_admin"])
    url_a, url_b = "/api/v1/tenants/tenant-a/sso-domains/", "/api/v1/tenants/tenant-b/sso-domains/"
    claim = a.post(url_a, {"domain": "@Acme.TEST."}, format="json")
    assert claim.status_code == 201 and claim.json()["domain"] == "acme.test"
    assert claim.json()["verified"] is False
    taken = b.post(url_b, {"domain": "acme.test"}, format="json")
    assert taken.status_code == 400
    assert "Tenant A" not in taken.content.decode() and "tenant-a" not in taken.content.decode()
    assert a.post(url_a, {"domain": "acme.test"}, format="json").status_code == 400
    for bad in ("localhost", "not a domain", "10.0.0.1", "", "a" * 300 + ".com"):
        assert a.post(url_a, {"domain": bad}, format="json").status_code == 400, bad
    pk = claim.json()["id"]
    assert a.post(f"{url_a}{pk}/verify/").status_code == 403  # a tenant cannot vouch for itself
    verified = api(w["mssp_admin"]).post(f"{url_a}{pk}/verify/")
    assert verified.status_code == 200 and verified.json()["verified"] is True
    assert api(w["mssp_admin"]).post(f"{url_a}{pk}/verify/").status_code == 409
    actions = [e.action for e in audit_of(w["a"], "sso.domain_")]
    assert actions == ["sso.domain_claimed", "sso.domain_verified"]
    assert a.delete(f"{url_a}{pk}/").status_code == 204
    assert b.post(url_b, {"domain": "acme.test"}, format="json").status_code == 201  # free again


def test_settings_page_configures_without_showing_the_secret(two_tenants, idp):
    w = two_tenants
    client = Client()
    client.force_login(w["a_admin"])
    page = client.get("/settings/sso/")
    assert page.status_code == 200 and b"Single sign-on" in page.content
    saved = client.post(
        "/settings/sso/",
        {**body(idp), "scopes": "openid email groups", "enabled": "1", "default_role": "viewer"},
    )
    assert saved.status_code == 302, saved.content
    page = client.get("/settings/sso/").content.decode()
    assert SECRET not in page and "…6789" in page and "/sso/oidc/sso-" in page
    assert client.post("/settings/sso/domains/", {"domain": "acme.test"}).status_code == 302
    assert "Pending verification" in client.get("/settings/sso/").content.decode()
    bad = client.post("/settings/sso/", {**body(idp), "issuer": "nope"})
    assert bad.status_code == 400 and SECRET not in bad.content.decode()
    # tenant B's admin cannot open A's page, MSSP admins can and see the verify button
    b = Client()
    b.force_login(w["b_admin"])
    assert "acme.test" not in b.get("/settings/sso/?tenant=tenant-a").content.decode()
    mssp = Client()
    mssp.force_login(w["mssp_admin"])
    assert "Verify acme.test" in mssp.get("/settings/sso/?tenant=tenant-a").content.decode()
    # the settings navigation links it
    assert 'href="/settings/sso/"' in client.get("/settings/scim/").content.decode()
