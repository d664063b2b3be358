"""Single sign-on through a real OpenID Connect provider (tests/provisioning/oidc_idp.py, built
with authlib) on 127.0.0.1: the portal's redirects, the provider's login, the code exchange,
the ID token's checks, and each refusal (a page that says why, and an audit entry in the
right tenant)."""

from __future__ import annotations

import html
import time

import pytest
from allauth.account.models import EmailAddress
from allauth.socialaccount.models import SocialAccount
from django.contrib.auth import get_user
from django.test import Client

from provisioning.models import GroupRoleMapping, IdentityProvider, SsoDomain
from tenants import sealed
from tenants.models import AuditEvent, Membership, User
from tenants.rls import rls_bypass

from .oidc_idp import TestProvider, authorize_query

pytestmark = [pytest.mark.django_db, pytest.mark.password_only]


def configure(tenant, idp, domain, **fields):
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
        provider.add_user("alice", email="alice@acme.test", groups=["SOC Responders"])
        yield provider


@pytest.fixture
def sso(two_tenants, idp, settings):
    settings.WEBHOOK_ALLOW_PRIVATE = True  # the provider is on loopback
    config = configure(two_tenants["a"], idp, "acme.test")
    with rls_bypass("test fixture"):
        GroupRoleMapping.objects.create(
            tenant=two_tenants["a"], group_name="SOC Responders", role="responder"
        )
    return {"config": config, **two_tenants}


def start(client: Client, email: str = "alice@acme.test"):
    return client.post("/login/sso/", {"email": email})


def onward(started) -> str:
    """Where the page after the e-mail sends the browser (its Refresh, and its link)."""
    assert started.status_code == 200 and b'id="sso-continue"' in started.content, started.content
    url = started["Refresh"].split("url=", 1)[1]
    assert f'href="{html.escape(url)}"' in started.content.decode()
    return url


def sign_in(client: Client, idp: TestProvider, user: str = "alice"):
    """E-mail → the provider (its login form) → back to the portal: the portal's answer."""
    back = idp.sign_in(onward(start(client)), user)
    return client.get(back), back


def entries(tenant, action):
    with rls_bypass("test"):
        return list(AuditEvent.objects.for_tenant(tenant).filter(action=action).order_by("id"))


def refused(response, tenant, reason):
    assert response.status_code == 403, response.content
    assert b"Single sign-on refused" in response.content
    rows = [e for e in entries(tenant, "auth.sso_refused") if e.data["reason"] == reason]
    assert rows, [e.data for e in entries(tenant, "auth.sso_refused")]
    return response.content.decode()


def member_of(tenant, username):
    with rls_bypass("test"):
        return (
            Membership.objects.for_tenant(tenant)
            .select_related("user")
            .filter(user__username=username)
            .first()
        )


def test_first_sign_in_makes_a_member_with_the_mapped_role_and_later_ones_follow_groups(sso, idp):
    client = Client()
    url = onward(start(client))
    query = authorize_query(url)
    assert url.startswith(idp.issuer + "/authorize")
    assert query["client_id"] == "portal" and query["nonce"] and query["code_challenge"]
    assert query["login_hint"] == "alice@acme.test"
    back = idp.sign_in(url, "alice")
    answer = client.get(back)
    assert answer.status_code == 302, answer.content
    user = get_user(client)
    assert user.is_authenticated and user.username == "tenant-a/alice"
    membership = member_of(sso["a"], "tenant-a/alice")
    assert membership.role == "responder" and not user.is_mssp_staff
    assert not user.has_usable_password()
    assert SocialAccount.objects.get(user=user).provider == sso["config"].provider_id
    assert entries(sso["a"], "sso.member_created")
    login = entries(sso["a"], "auth.sso_login")[-1]
    assert login.data["new_member"] is True and login.actor_id == user.pk

    # the next sign-in: the provider dropped the group, the role follows (no mapped group: viewer)
    idp.users["alice"]["groups"] = []
    again = Client()
    answer, _ = sign_in(again, idp)
    assert answer.status_code == 302 and get_user(again).pk == user.pk
    assert member_of(sso["a"], "tenant-a/alice").role == "viewer"
    assert entries(sso["a"], "sso.role_changed")[-1].data["to"] == "viewer"


@pytest.mark.parametrize(
    ("tamper", "reason", "says"),
    [
        ({"iss": "https://evil.example"}, "wrong_issuer", "does not use"),
        ({"aud": ["someone-else"]}, "wrong_audience", "another application"),
        ({"exp": int(time.time()) - 120, "iat": int(time.time()) - 600}, "expired", "expired"),
        ({"nonce": "not-this-sign-in"}, "nonce_mismatch", "another sign-in"),
        ("wrong key", "bad_signature", "not validly signed"),
    ],
)
def test_a_bad_id_token_is_refused_with_a_page_and_an_audit_entry(sso, idp, tamper, reason, says):
    if tamper == "wrong key":
        idp.sign_with_wrong_key = True
    else:
        idp.tamper = tamper
    client = Client()
    answer, _ = sign_in(client, idp)
    assert says in refused(answer, sso["a"], reason)
    assert not get_user(client).is_authenticated
    assert member_of(sso["a"], "tenant-a/alice") is None


def test_a_replayed_callback_and_a_replayed_code_are_refused(sso, idp):
    client = Client()
    answer, back = sign_in(client, idp)
    assert answer.status_code == 302
    # the same redirect again: its state was used up
    replay = Client()
    refused(replay.get(back), sso["a"], "state")
    # a new sign-in's state with the old code: the provider refuses the code
    state = authorize_query(onward(start(replay)))["state"]
    code = authorize_query(back)["code"]
    path = back.split("?")[0].replace("http://testserver", "")
    refused(replay.get(path, {"code": code, "state": state}), sso["a"], "code_refused")
    assert not get_user(replay).is_authenticated


def test_tenant_a_providers_answer_never_reaches_tenant_b_or_staff(sso, idp):
    with TestProvider() as idp_b:
        config_b = configure(sso["b"], idp_b, "beta.test")
        # A's sign-in, delivered to B's return address: not a sign-in B started
        client = Client()
        back = idp.sign_in(onward(start(client)), "alice")
        to_b = back.replace(sso["config"].provider_id, config_b.provider_id)
        refused(client.get(to_b), sso["b"], "state")
        assert not get_user(client).is_authenticated
    # A's provider naming B's member or an MSSP admin: only ever an account of tenant A
    idp.add_user("tenant-b/" + sso["b_admin"].username.split("/")[-1])
    answer, _ = sign_in(Client(), idp, user=next(n for n in idp.users if n.startswith("tenant-b")))
    refused(answer, sso["a"], "bad_username")
    staff_name = sso["mssp_admin"].username
    idp.add_user(staff_name)
    client = Client()
    answer, _ = sign_in(client, idp, user=staff_name)
    user = get_user(client)
    assert user.username == f"tenant-a/{staff_name}" and not user.is_mssp_staff
    assert user.pk != sso["mssp_admin"].pk


def test_sso_only_refuses_the_password_on_the_login_page_and_the_api(sso):
    with rls_bypass("test"):
        IdentityProvider.objects.for_tenant(sso["a"]).update(sso_only=True)
    admin = sso["a_admin"]
    password = "correct-horse-battery"  # tests.factories
    page = Client().post("/login/", {"username": admin.username, "password": password})
    assert page.status_code == 200 and "single sign-on only" in page.content.decode()
    api = Client().post(
        "/api/v1/auth/token/",
        {"username": admin.username, "password": "correct-horse-battery"},
        content_type="application/json",
    )
    assert api.status_code == 403 and api.json()["error"] == "password_login_refused"
    assert "single sign-on only" in api.json()["detail"]
    assert len(entries(sso["a"], "auth.sso_refused")) == 2
    # a wrong password says nothing more; tenant B (no SSO only) signs in as before
    wrong = Client().post("/login/", {"username": admin.username, "password": "nope-nope-nope"})
    assert "single sign-on" not in wrong.content.decode().split("<form")[0]
    other = Client().post(
        "/api/v1/auth/token/",
        {"username": sso["b_viewer"].username, "password": "correct-horse-battery"},
        content_type="application/json",
    )
    assert other.status_code == 201


def test_unknown_and_unverified_domains_get_the_same_plain_answer(sso):
    unknown = start(Client(), "bob@nowhere.test")
    assert unknown.status_code == 200 and b"no single sign-on for this address" in unknown.content
    with rls_bypass("test"):
        SsoDomain.objects.create(tenant=sso["b"], domain="pending.test")
    pending = start(Client(), "carol@pending.test")
    assert pending.status_code == 200 and b"no single sign-on for this address" in pending.content
    assert b"Tenant B" not in pending.content
    assert entries(sso["b"], "auth.sso_refused")[-1].data["reason"] == "domain_unverified"
    assert start(Client(), "not an address").status_code == 400


def test_a_disabled_provider_and_a_deactivated_member_are_refused(sso, idp):
    client = Client()
    back = idp.sign_in(onward(start(client)), "alice")
    with rls_bypass("test"):
        IdentityProvider.objects.for_tenant(sso["a"]).update(enabled=False)
    refused(client.get(back), sso["a"], "sso_disabled")
    assert b"no single sign-on" in start(Client()).content
    with rls_bypass("test"):
        IdentityProvider.objects.for_tenant(sso["a"]).update(enabled=True)
    answer, _ = sign_in(Client(), idp)
    assert answer.status_code == 302
    User.objects.filter(username="tenant-a/alice").update(is_active=False)
    answer, _ = sign_in(Client(), idp)
    refused(answer, sso["a"], "deactivated")


def test_a_single_sign_on_is_the_password_factor_only(sso, idp):
    """An account with a second factor gives its code next; a tenant that requires one holds
    a member without one at enrolment (tenants.mfa, unchanged)."""
    from tenants.models import Tenant
    from tests.mfa import enrol, fresh_code

    answer, _ = sign_in(Client(), idp)  # the member exists now
    user = User.objects.get(username="tenant-a/alice")
    enrol(user)
    client = Client()
    answer, _ = sign_in(client, idp)
    assert answer.status_code == 302 and "/accounts/2fa/authenticate/" in answer["Location"]
    assert not get_user(client).is_authenticated
    done = client.post("/accounts/2fa/authenticate/", {"code": fresh_code(user)})
    assert done.status_code == 302 and get_user(client).pk == user.pk

    Tenant.objects.filter(pk=sso["a"].pk).update(mfa_required=True)
    idp.add_user("bob", email="bob@acme.test")
    client = Client()
    answer, _ = sign_in(client, idp, user="bob")
    assert answer.status_code == 302
    held = client.get("/")
    assert held.status_code == 302 and "/accounts/2fa/totp/activate/" in held["Location"]
    # and enrols there: the sign-in was its password factor, given just now
    enrolment = client.get("/accounts/2fa/totp/activate/")
    assert enrolment.status_code == 200, enrolment.get("Location")
    assert not EmailAddress.objects.filter(user__username="tenant-a/bob").exists()


def test_an_admins_first_sign_in_links_its_member_and_never_demotes_the_last_admin(sso, idp):
    admin = sso["a_admin"]
    User.objects.filter(pk=admin.pk).update(username="tenant-a/root")
    idp.add_user("root", groups=["Everyone"])  # no mapped group: viewer, were it not the last
    client = Client()
    answer, _ = sign_in(client, idp, user="root")
    assert answer.status_code == 302 and get_user(client).pk == admin.pk
    assert member_of(sso["a"], "tenant-a/root").role == "admin"
    kept = entries(sso["a"], "sso.role_kept")
    assert kept and kept[-1].data["mapped_role"] == "viewer"
    assert not entries(sso["a"], "sso.member_created")
    # its sign-in is its password factor: a dangerous change (step-up) goes through now
    changed = client.patch(
        "/api/v1/tenants/tenant-a/sso/", {"sso_only": True}, content_type="application/json"
    )
    assert changed.status_code == 200, changed.content


def test_a_secret_sealed_with_a_lost_key_is_a_clear_refusal(sso, idp):
    client = Client()
    back = idp.sign_in(onward(start(client)), "alice")
    with rls_bypass("test"):
        IdentityProvider.objects.for_tenant(sso["a"]).update(sealed_secrets="gAAAAA-not-ours")
    answer = client.get(back)
    assert answer.status_code == 502 and b"client secret cannot be read" in answer.content
    assert entries(sso["a"], "auth.sso_refused")[-1].data["reason"] == "secret_unreadable"
    again = start(Client())
    assert again.status_code == 502 and b"client secret cannot be read" in again.content
