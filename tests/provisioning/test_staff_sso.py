"""The MSSP's own identity provider, through the same real protocol peers as the tenants' (a
local OpenID Connect provider built with authlib, a pysaml2 SAML IdP): staff made just in time
with the role their groups map to, the role following the groups, refusals (no role, a
customer's provider naming staff, the MSSP's provider naming a customer's member), domain
routing, SSO only with the superusers' break-glass, the second-factor rule, and who may
configure it (MSSP admins only, page and API)."""

from __future__ import annotations

import html

import pytest
from allauth.socialaccount.models import SocialAccount
from django.contrib.auth import get_user
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from provisioning.models import (
    GroupRoleMapping,
    IdentityProvider,
    SsoDomain,
    StaffGroupRoleMapping,
)
from tenants import sealed
from tenants.models import AuditEvent, Membership, User, UserSession
from tenants.rls import rls_bypass
from tests.factories import MembershipFactory, StaffFactory, UserFactory
from tests.mfa import enrol, mark_passed

from .oidc_idp import TestProvider
from .saml_idp import TestSamlProvider, needs_xmlsec1

pytestmark = [pytest.mark.django_db, pytest.mark.password_only]
PASSWORD = "correct-horse-battery"  # tests.factories
MFA_CLASS = "urn:oasis:names:tc:SAML:2.0:ac:classes:MobileTwoFactorContract"


def configure_oidc(tenant, idp, domain, **fields):
    with rls_bypass("test fixture"):
        config = IdentityProvider.objects.create(
            tenant=tenant,
            issuer=idp.issuer,
            client_id=idp.client.client_id,
            sealed_secrets=sealed.seal({"client_secret": idp.client.client_secret}),
            secret_hint=sealed.hint(idp.client.client_secret),
            **fields,
        )
        SsoDomain.objects.create(tenant=tenant, domain=domain, verified_at=config.created_at)
    return config


@pytest.fixture
def idp():
    with TestProvider() as provider:
        provider.add_user("bob", email="bob@mssp.test", groups=["SOC L1"])
        yield provider


@pytest.fixture
def staff_sso(two_tenants, idp, settings):
    settings.WEBHOOK_ALLOW_PRIVATE = True  # the provider is on loopback
    config = configure_oidc(None, idp, "mssp.test")
    StaffGroupRoleMapping.objects.create(group_name="SOC L1", role="analyst_l1")
    StaffGroupRoleMapping.objects.create(group_name="SOC Admins", role="admin")
    return {"config": config, **two_tenants}


def onward(started) -> str:
    assert started.status_code == 200 and b'id="sso-continue"' in started.content, started.content
    return html.unescape(started["Refresh"].split("url=", 1)[1])


def sign_in(client, idp, user="bob", email="bob@mssp.test"):
    back = idp.sign_in(onward(client.post("/login/sso/", {"email": email})), user)
    return client.get(back)


def mssp_entries(action):
    with rls_bypass("test"):
        return list(
            AuditEvent.objects.dangerously_unscoped("test")
            .filter(tenant__isnull=True, action=action)
            .order_by("at", "id")
        )


def tenant_entries(tenant, action):
    with rls_bypass("test"):
        return list(AuditEvent.objects.for_tenant(tenant).filter(action=action).order_by("at"))


def refused(response, reason, tenant=None):
    assert response.status_code == 403, response.content
    assert b"Single sign-on refused" in response.content
    rows = (
        tenant_entries(tenant, "auth.sso_refused") if tenant else mssp_entries("auth.sso_refused")
    )
    assert reason in [e.data["reason"] for e in rows], [e.data for e in rows]


def signed_in(user) -> Client:
    """A browser of `user` that gave its second factor just now (this module is password_only)."""
    client = Client()
    client.force_login(user)
    mark_passed(client)
    return client


def memberships_of(user):
    with rls_bypass("test"):
        return Membership.objects.dangerously_unscoped("test").filter(user=user).count()


# --- just in time, roles, refusals -------------------------------------------------------------
def test_first_sign_in_makes_staff_with_the_mapped_role_and_the_role_follows_groups(staff_sso, idp):
    client = Client()
    answer = sign_in(client, idp)
    assert answer.status_code == 302, answer.content
    user = get_user(client)
    assert user.username == "bob" and user.staff_role == "analyst_l1" and user.is_mssp_staff
    assert not user.has_usable_password() and memberships_of(user) == 0
    assert SocialAccount.objects.get(user=user).provider == staff_sso["config"].provider_id
    created = mssp_entries("sso.staff_created")
    assert created and created[0].data["role"] == "analyst_l1"
    assert mssp_entries("auth.sso_login")[-1].data["second_factor"] == "portal"

    idp.users["bob"]["groups"] = ["SOC L1", "SOC Admins"]  # the highest mapped role wins
    sign_in(Client(), idp)
    user.refresh_from_db()
    assert user.staff_role == "admin" and user.is_mssp_admin
    change = mssp_entries("sso.staff_role_changed")[-1]
    assert change.data["from"] == "analyst_l1" and change.data["to"] == "admin"


def test_groups_that_map_to_no_staff_role_refuse_and_deactivate_the_account(staff_sso, idp):
    idp.add_user("eve", email="eve@mssp.test", groups=["Marketing"])
    refused(sign_in(Client(), idp, "eve", "eve@mssp.test"), "no_staff_role")
    assert not User.objects.filter(username="eve").exists()
    # a staff account of that name this provider never signed in: refused, left as it is
    erin = StaffFactory(username="erin")
    idp.add_user("erin", email="erin@mssp.test", groups=["Marketing"])
    refused(sign_in(Client(), idp, "erin", "erin@mssp.test"), "no_staff_role")
    erin.refresh_from_db()
    assert erin.is_active and not SocialAccount.objects.filter(user=erin).exists()

    signed_in = Client()
    assert sign_in(signed_in, idp).status_code == 302
    bob = User.objects.get(username="bob")
    assert UserSession.objects.filter(user=bob, ended_at__isnull=True).exists()
    idp.users["bob"]["groups"] = ["Marketing"]
    refused(sign_in(Client(), idp), "no_staff_role")
    bob.refresh_from_db()
    assert not bob.is_active
    assert not UserSession.objects.filter(user=bob, ended_at__isnull=True).exists()
    assert mssp_entries("sso.staff_deactivated")[-1].data["sessions_ended"] == 1
    assert signed_in.get("/api/v1/me/").status_code in (401, 403)
    # the groups come back: still deactivated until an MSSP admin says otherwise
    idp.users["bob"]["groups"] = ["SOC L1"]
    refused(sign_in(Client(), idp), "deactivated")


def test_a_customers_provider_never_signs_in_or_makes_staff(staff_sso, idp):
    a = staff_sso["a"]
    with TestProvider() as customer_idp:
        config_a = configure_oidc(a, customer_idp, "acme.test")
        with rls_bypass("test"):
            GroupRoleMapping.objects.create(tenant=a, group_name="SOC L1", role="viewer")
        analyst = staff_sso["analyst_a"]
        User.objects.filter(pk=analyst.pk).update(email="ann@acme.test")
        # an e-mail of a staff account, and one of the MSSP's domains: refused, audited in A
        customer_idp.add_user("ann", email="ann@acme.test")
        refused(sign_in(Client(), customer_idp, "ann", "ann@acme.test"), "staff_identity", a)
        customer_idp.add_user("bob", email="bob@mssp.test")
        refused(sign_in(Client(), customer_idp, "bob", "bob@acme.test"), "staff_identity", a)
        # the subject of a staff account at A's provider: refused
        customer_idp.add_user("sam", email="sam@acme.test", sub="sam-sub")
        SocialAccount.objects.create(user=analyst, provider=config_a.provider_id, uid="sam-sub")
        refused(sign_in(Client(), customer_idp, "sam", "sam@acme.test"), "other_tenant", a)
        # groups named like staff roles and the MSSP's groups: a member of A, never staff
        customer_idp.add_user("max", email="max@acme.test", groups=["SOC L1", "analyst_l3"])
        client = Client()
        assert sign_in(client, customer_idp, "max", "max@acme.test").status_code == 302
        user = get_user(client)
        assert user.username == "tenant-a/max" and not user.staff_role
        assert not user.is_mssp_staff and memberships_of(user) == 1
        assert tenant_entries(a, "sso.staff_groups_ignored")[-1].data["groups"] == [
            "analyst_l3",
            "soc l1",
        ]
    assert not User.objects.filter(username__in=["ann", "bob", "sam", "max"]).exists()


def test_the_mssp_provider_never_makes_or_signs_in_a_customers_member(staff_sso, idp):
    carol = MembershipFactory(tenant=staff_sso["a"], role="admin", user__username="carol").user
    idp.add_user("carol", email="carol@mssp.test", groups=["SOC Admins"])
    refused(sign_in(Client(), idp, "carol", "carol@mssp.test"), "name_taken")
    carol.refresh_from_db()
    assert not carol.staff_role and memberships_of(carol) == 1
    # the break-glass superuser is never signed in by it either
    UserFactory(username="root", is_superuser=True, is_staff=True)
    idp.add_user("root", email="root@mssp.test", groups=["SOC Admins"])
    refused(sign_in(Client(), idp, "root", "root@mssp.test"), "name_taken")
    # an existing staff account (made by an admin) is linked by its name, and keeps no tenant
    analyst = StaffFactory(username="dana", staff_role="analyst_l2")
    idp.add_user("dana", email="dana@mssp.test", groups=["SOC L1"])
    client = Client()
    assert sign_in(client, idp, "dana", "dana@mssp.test").status_code == 302
    assert get_user(client).pk == analyst.pk
    analyst.refresh_from_db()
    assert analyst.staff_role == "analyst_l1" and memberships_of(analyst) == 0


# --- domains and SSO only ----------------------------------------------------------------------
def test_the_mssps_domains_route_to_its_provider_and_are_no_tenants(staff_sso, idp, api):
    url = onward(Client().post("/login/sso/", {"email": "bob@mssp.test"}))
    assert url.startswith(idp.issuer + "/authorize")
    with rls_bypass("test"):
        SsoDomain.objects.create(tenant=None, domain="pending-mssp.test")
    pending = Client().post("/login/sso/", {"email": "x@pending-mssp.test"})
    assert b"no single sign-on for this address" in pending.content
    assert mssp_entries("auth.sso_refused")[-1].data["reason"] == "domain_unverified"
    # a tenant cannot claim the MSSP's domain (nor the MSSP a tenant's), whoever asks
    claim = api(staff_sso["a_admin"]).post(
        "/api/v1/tenants/tenant-a/sso-domains/", {"domain": "mssp.test"}, format="json"
    )
    assert claim.status_code == 400 and "claimed already" in claim.content.decode()
    with rls_bypass("test"):
        SsoDomain.objects.create(tenant=staff_sso["b"], domain="beta.test")
    claim = api(staff_sso["mssp_admin"]).post(
        "/api/v1/mssp/sso-domains/", {"domain": "beta.test"}, format="json"
    )
    assert claim.status_code == 400 and "claimed already" in claim.content.decode()


def test_sso_only_refuses_staff_passwords_but_not_the_superusers_break_glass(staff_sso):
    with rls_bypass("test"):
        IdentityProvider.objects.dangerously_unscoped("test").filter(tenant=None).update(
            sso_only=True
        )
    analyst = staff_sso["analyst_a"]
    page = Client().post("/login/", {"username": analyst.username, "password": PASSWORD})
    assert page.status_code == 200 and "single sign-on only" in page.content.decode()
    token = Client().post(
        "/api/v1/auth/token/",
        {"username": analyst.username, "password": PASSWORD},
        content_type="application/json",
    )
    assert token.status_code == 403 and "single sign-on only" in token.json()["detail"]
    reasons = [e.data["reason"] for e in mssp_entries("auth.sso_refused")]
    assert reasons.count("password_on_sso_only") == 2
    root = UserFactory(username="root", is_superuser=True, is_staff=True)
    glass = Client().post("/login/", {"username": root.username, "password": PASSWORD})
    assert glass.status_code == 302 and get_user(Client()).is_anonymous
    # customers are not concerned by the MSSP's rule
    member = Client().post(
        "/api/v1/auth/token/",
        {"username": staff_sso["b_viewer"].username, "password": PASSWORD},
        content_type="application/json",
    )
    assert member.status_code == 201


# --- the second factor ---------------------------------------------------------------------------
def test_by_default_staff_give_the_portals_second_factor_after_the_idp(staff_sso, idp):
    client = Client()
    assert sign_in(client, idp).status_code == 302
    held = client.get("/api/v1/me/")
    assert held.status_code == 403 and held.json()["error"] == "second_factor_required"
    # even when the IdP says it asked for one: the default does not trust it
    idp.users["bob"]["amr"] = ["pwd", "mfa"]
    client = Client()
    sign_in(client, idp)
    assert client.get("/api/v1/me/").status_code == 403


def test_the_idps_multi_factor_counts_only_when_configured_and_proven(staff_sso, idp):
    with rls_bypass("test"):
        IdentityProvider.objects.dangerously_unscoped("test").filter(tenant=None).update(
            staff_second_factor="idp"
        )
    idp.users["bob"]["amr"] = ["pwd"]
    client = Client()
    sign_in(client, idp)
    assert client.get("/api/v1/me/").status_code == 403  # not proven: the portal's factor
    idp.users["bob"]["amr"] = ["pwd", "otp"]
    client = Client()
    sign_in(client, idp)
    assert client.get("/api/v1/me/").status_code == 200
    assert mssp_entries("auth.sso_login")[-1].data["second_factor"] == "idp"
    # an account that has the portal's factor still gives it
    enrol(User.objects.get(username="bob"))
    answer = sign_in(Client(), idp)
    assert answer.status_code == 302 and "/accounts/2fa/authenticate/" in answer["Location"]


@needs_xmlsec1
def test_saml_staff_sign_in_and_its_authn_context_as_second_factor(two_tenants):
    with TestSamlProvider() as saml_idp:
        saml_idp.add_user("sue", mail="sue@mssp.test", memberOf=["SOC Leads"])
        with rls_bypass("test fixture"):
            config = IdentityProvider.objects.create(
                tenant=None,
                kind="saml",
                issuer=saml_idp.entity_id,
                metadata_xml=saml_idp.metadata(),
                username_claim="urn:mace:dir:attribute-def:uid",
                email_claim="urn:mace:dir:attribute-def:mail",
                groups_claim="memberOf",
                staff_second_factor="idp",
            )
            SsoDomain.objects.create(tenant=None, domain="mssp.test", verified_at=config.created_at)
        StaffGroupRoleMapping.objects.create(group_name="SOC Leads", role="lead")
        saml_idp.add_sp(Client().get(f"/sso/saml/{config.provider_id}/metadata/").content)

        def saml_sign_in(client):
            started = client.post("/login/sso/", {"email": "sue@mssp.test"})
            acs, fields = saml_idp.sign_in(onward(started), "sue")
            handed = client.post(acs.replace("http://testserver", ""), fields)
            return client.get(handed["Location"])

        client = Client()
        assert saml_sign_in(client).status_code == 302
        user = get_user(client)
        assert user.username == "sue" and user.staff_role == "lead" and memberships_of(user) == 0
        assert client.get("/api/v1/me/").status_code == 403  # a password-protected class
        saml_idp.tamper = {"authn": {"class_ref": MFA_CLASS, "authn_auth": saml_idp.entity_id}}
        client = Client()
        assert saml_sign_in(client).status_code == 302
        assert client.get("/api/v1/me/").status_code == 200


# --- who configures it ---------------------------------------------------------------------------
def test_only_mssp_admins_see_or_change_the_mssps_single_sign_on(staff_sso, idp, api):
    w = staff_sso
    for name in ("a_admin", "analyst_a"):
        client = signed_in(w[name])
        assert client.get("/staff/sso/").status_code == 403
        assert client.post("/staff/sso/groups/", {"group_name": "x", "role": "admin"}).status_code
        assert not StaffGroupRoleMapping.objects.filter(group_name="x").exists()
        for url in (
            "/api/v1/mssp/sso/",
            "/api/v1/mssp/sso-domains/",
            "/api/v1/mssp/sso-group-roles/",
        ):
            assert api(w[name]).get(url).status_code == 403, (name, url)
        put = api(w[name]).put("/api/v1/mssp/sso/", {"issuer": idp.issuer}, format="json")
        assert put.status_code == 403
    read_only = api(w["mssp_admin"], scopes=["read"]).get("/api/v1/mssp/sso/")
    assert read_only.status_code == 403

    admin = signed_in(w["mssp_admin"])
    page = admin.get("/staff/sso/")
    assert (
        page.status_code == 200 and b"SOC Admins" in page.content and b"mssp.test" in page.content
    )
    added = admin.post("/staff/sso/groups/", {"group_name": "SOC L3", "role": "analyst_l3"})
    assert added.status_code == 302
    assert mssp_entries("sso.staff_mapping_added")[-1].data["role"] == "analyst_l3"

    mssp_api = api(w["mssp_admin"])
    body = mssp_api.get("/api/v1/mssp/sso/").json()
    assert body["issuer"] == idp.issuer and body["staff_second_factor"] == "portal"
    assert "default_role" not in body and "client_secret" not in body  # the hint only
    patched = mssp_api.patch("/api/v1/mssp/sso/", {"staff_second_factor": "idp"}, format="json")
    assert patched.status_code == 200 and patched.json()["staff_second_factor"] == "idp"
    changed = mssp_entries("sso.config_changed")[-1]
    assert changed.data["changed"] == ["staff_second_factor"]
    roles = mssp_api.get("/api/v1/mssp/sso-group-roles/").json()["results"]
    assert {r["group_name"] for r in roles} == {"SOC L1", "SOC Admins", "SOC L3"}
    # a tenant's provider and domain are not the MSSP's: never listed, 404 by id
    domains = mssp_api.get("/api/v1/mssp/sso-domains/").json()["results"]
    assert [d["domain"] for d in domains] == ["mssp.test"]
    with rls_bypass("test"):
        b_claim = SsoDomain.objects.create(tenant=w["b"], domain="beta.test")
    assert mssp_api.get(f"/api/v1/mssp/sso-domains/{b_claim.pk}/").status_code == 404
    assert mssp_api.delete(f"/api/v1/mssp/sso-domains/{b_claim.pk}/").status_code == 404
    removed = mssp_api.delete("/api/v1/mssp/sso/")
    assert removed.status_code == 204
    assert mssp_api.get("/api/v1/mssp/sso/").status_code == 404
    body = {"issuer": idp.issuer, "client_id": "portal", "client_secret": idp.client.client_secret}
    created = mssp_api.put("/api/v1/mssp/sso/", body, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["client_secret_hint"] and "client_secret" not in created.json()
    with rls_bypass("test"):
        assert IdentityProvider.objects.dangerously_unscoped("test").get(tenant=None).is_mssp


def test_hostile_and_oversized_metadata_is_a_clear_400(staff_sso, api):
    mssp_api = api(staff_sso["mssp_admin"])
    hostile = (
        '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
        "<EntityDescriptor>&e;</EntityDescriptor>"
    )
    for xml in (hostile, "<not-xml", "x" * (1024 * 1024 + 1)):
        answer = mssp_api.put(
            "/api/v1/mssp/sso/", {"kind": "saml", "metadata_xml": xml}, format="json"
        )
        assert answer.status_code == 400, answer.content[:200]
        assert "passwd" not in answer.content.decode()
    for bad in ([1], {"group_name": ["x"], "role": "admin"}, {"group_name": "x", "role": "root"}):
        answer = mssp_api.post("/api/v1/mssp/sso-group-roles/", bad, format="json")
        assert answer.status_code == 400
    admin = signed_in(staff_sso["mssp_admin"])

    upload = SimpleUploadedFile("idp.xml", b"<" * (1024 * 1024 + 10), "application/xml")
    page = admin.post("/staff/sso/", {"kind": "saml", "metadata_file": upload})
    assert page.status_code == 400


def test_staff_trusting_the_idps_factor_step_up_there_with_it(staff_sso, idp, settings):
    import datetime

    import time_machine
    from django.utils import timezone

    from .oidc_idp import authorize_query

    with rls_bypass("test"):
        IdentityProvider.objects.dangerously_unscoped("test").filter(tenant=None).update(
            staff_second_factor="idp"
        )
    idp.users["bob"].update(groups=["SOC Admins"], amr=["pwd", "hwk"])
    client = Client()
    sign_in(client, idp)

    def dangerous():
        return client.patch("/api/v1/mssp/sso/", {"sso_only": True}, "application/json")

    assert dangerous().status_code == 200  # the sign-in's factor is fresh
    step = settings.STEP_UP_MINUTES + 1
    with time_machine.travel(timezone.now() + datetime.timedelta(minutes=step)):
        refused = dangerous()
        assert refused.status_code == 403
        assert refused.json()["reauthenticate"] == "/login/sso/reauthenticate/"
        sent = client.get("/login/sso/reauthenticate/")
        assert sent.status_code == 302 and sent["Location"].startswith(idp.issuer)
        assert authorize_query(sent["Location"])["prompt"] == "login"
        idp.users["bob"]["amr"] = ["pwd"]  # a password alone confirms nothing
        answer = client.get(idp.sign_in(sent["Location"], "bob"))
        refused_reauth(answer)
        assert dangerous().status_code == 403
        idp.users["bob"]["amr"] = ["pwd", "hwk"]
        sent = client.get("/login/sso/reauthenticate/")
        assert client.get(idp.sign_in(sent["Location"], "bob")).status_code == 302
        assert dangerous().status_code == 200


def refused_reauth(answer):
    assert answer.status_code == 403, answer.content
    reasons = [e.data["reason"] for e in mssp_entries("auth.sso_refused")]
    assert "reauth_no_mfa" in reasons


def test_the_mssps_pending_domains_are_checked_in_dns_with_the_tenants(staff_sso, monkeypatch):
    from provisioning import dns_verify
    from provisioning.actions import recheck_pending_domains

    with rls_bypass("test"):
        mine = SsoDomain.objects.create(tenant=None, domain="soc.mssp.test")
        theirs = SsoDomain.objects.create(tenant=staff_sso["b"], domain="beta.test")
    published = {(mine.domain, mine.verification_token)}
    monkeypatch.setattr(dns_verify, "published", lambda d, t: (d, t) in published)
    assert recheck_pending_domains() == 1
    with rls_bypass("test"):
        rows = SsoDomain.objects.dangerously_unscoped("test").in_bulk([mine.pk, theirs.pk])
    assert rows[mine.pk].verified_method == "dns" and not rows[theirs.pk].verified
    assert mssp_entries("sso.domain_verified")[-1].data["domain"] == "soc.mssp.test"
