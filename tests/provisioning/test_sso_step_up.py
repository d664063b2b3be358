"""Step-up at the identity provider (issue 13): a member without a second factor who signs in
through the tenant's provider has no password to give, so a dangerous action past the step-up
window sends them to sign in at that provider again (/login/sso/reauthenticate/), forced to ask
for the login (OIDC prompt=login + max_age=0, SAML ForceAuthn), for the same subject, newer than
the request (auth_time, AuthnInstant). Real providers on 127.0.0.1 (oidc_idp, saml_idp)."""

from __future__ import annotations

import time
from datetime import timedelta
from urllib.parse import quote

import pytest
import time_machine
from django.contrib.auth import get_user
from django.test import Client
from django.utils import timezone

from tenants.models import ApiToken, User

from . import test_sso_oidc as oidc
from . import test_sso_saml as saml_tests
from .oidc_idp import TestProvider, authorize_query
from .saml_idp import TestSamlProvider, needs_xmlsec1

pytestmark = [pytest.mark.django_db, pytest.mark.password_only]

ROUTE = "/login/sso/reauthenticate/"
SSO_SETTINGS = "/api/v1/tenants/tenant-a/sso/"


def later(settings):
    """Past the step-up window of a session that signed in now."""
    return time_machine.travel(timezone.now() + timedelta(minutes=settings.STEP_UP_MINUTES + 1))


def dangerous(client):
    """A step-up action through the API in the session: the tenant's SSO settings."""
    return client.patch(SSO_SETTINGS, {"sso_only": True}, content_type="application/json")


@pytest.fixture
def idp():
    with TestProvider() as provider:
        provider.add_user("root", email="root@acme.test", groups=["Everyone"])
        provider.add_user("mallory", email="mallory@acme.test")
        yield provider


@pytest.fixture
def world(two_tenants, idp, settings):
    """Tenant A signs in through its OIDC provider only; its admin `root` has no second factor
    and is signed in through it (`client`)."""
    settings.WEBHOOK_ALLOW_PRIVATE = True  # the provider is on loopback
    config = oidc.configure(two_tenants["a"], idp, "acme.test", sso_only=True)
    admin = two_tenants["a_admin"]
    User.objects.filter(pk=admin.pk).update(username="tenant-a/root")
    client = Client()
    answer, _ = oidc.sign_in(client, idp, user="root")
    assert answer.status_code == 302 and get_user(client).pk == admin.pk
    return {"config": config, "client": client, "admin": admin, **two_tenants}


def reauthenticate(client, idp, user="root", next_url=""):
    """The route → the provider (its authorize URL) → the provider's login → the callback."""
    sent = client.get(f"{ROUTE}?next={quote(next_url)}" if next_url else ROUTE)
    assert sent.status_code == 302 and sent["Location"].startswith(idp.issuer), sent
    query = authorize_query(sent["Location"])
    return client.get(idp.sign_in(sent["Location"], user)), query


def test_past_the_window_a_member_without_a_factor_confirms_at_the_provider(world, idp, settings):
    client, admin = world["client"], world["admin"]
    assert dangerous(client).status_code == 200  # the sign-in itself is fresh
    with later(settings):
        refused = dangerous(client)
        assert refused.status_code == 403 and ROUTE in refused.json()["detail"], refused.content
        assert refused.json()["reauthenticate"] == ROUTE
        # a page's POST goes to the provider's confirmation (not the password page) and back
        asked = client.post(
            "/settings/tokens/", {"name": "soar", "scopes": ["read"], "expires_in_days": "30"}
        )
        assert asked.status_code == 302 and asked["Location"].startswith(f"{ROUTE}?next=")
        assert not ApiToken.objects.filter(user=admin).exists()
        done, query = reauthenticate(client, idp, next_url="/settings/tokens/")
        assert query["prompt"] == "login" and query["max_age"] == "0"
        assert done.status_code == 200, done.content  # the kept POST, replayed
        assert ApiToken.objects.filter(user=admin).count() == 1
        assert get_user(client).pk == admin.pk
        assert dangerous(client).status_code == 200
    rows = oidc.entries(world["a"], "auth.sso_reauthenticated")
    assert rows and rows[-1].actor_id == admin.pk


def test_a_provider_that_reused_its_session_is_refused(world, idp, settings):
    client = world["client"]
    with later(settings):
        idp.tamper = {"auth_time": int(time.time()) - 600}  # the login before the request
        answer, _ = reauthenticate(client, idp)
        page = oidc.refused(answer, world["a"], "reauth_stale")
        assert "did not ask you to sign in again" in page
        assert get_user(client).pk == world["admin"].pk
        assert dangerous(client).status_code == 403


def test_another_subject_is_refused_and_the_session_stays(world, idp, settings):
    client, admin = world["client"], world["admin"]
    oidc.sign_in(Client(), idp, user="mallory")  # a member of tenant A too, by now
    with later(settings):
        answer, _ = reauthenticate(client, idp, user="mallory")
        oidc.refused(answer, world["a"], "reauth_other_subject")
        assert get_user(client).pk == admin.pk
        assert dangerous(client).status_code == 403
        idp.add_user("eve", email="eve@acme.test")  # a subject never seen: not made a member
        answer, _ = reauthenticate(client, idp, user="eve")
        oidc.refused(answer, world["a"], "reauth_other_subject")
        assert oidc.member_of(world["a"], "tenant-a/eve") is None
        assert get_user(client).pk == admin.pk


def test_a_member_with_a_factor_still_gives_the_factor(world, idp, settings):
    from tests.mfa import enrol

    client, admin = world["client"], world["admin"]
    enrol(admin)
    with later(settings):
        refused = dangerous(client)
        assert refused.status_code == 403 and ROUTE not in refused.json()["detail"]
        assert refused.json()["reauthenticate"] == "/accounts/reauthenticate/"
        page = client.get(ROUTE)
        assert page.status_code == 403 and b"/accounts/2fa/reauthenticate/" in page.content
        asked = client.post(
            "/settings/tokens/", {"name": "x", "scopes": ["read"], "expires_in_days": "30"}
        )
        assert asked["Location"].startswith("/accounts/2fa/reauthenticate/")


@pytest.mark.parametrize("target", ["https://evil.test/x", "//evil.test/x", "/\\evil.test"])
def test_an_open_redirect_in_next_is_ignored(world, idp, settings, target):
    with later(settings):
        done, _ = reauthenticate(world["client"], idp, next_url=target)
        assert done.status_code == 302 and done["Location"] == "/", done.get("Location")


def test_the_route_reaches_only_the_members_own_provider(world, idp):
    # another tenant's member (a password login): no provider of theirs, none of A's
    other = Client()
    other.force_login(world["b_admin"])
    page = other.get(f"{ROUTE}?provider={world['config'].provider_id}")
    assert page.status_code == 403 and b"/accounts/reauthenticate/" in page.content
    assert idp.issuer not in page.content.decode()
    # signed out: the login page
    anonymous = Client().get(ROUTE)
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/login/")
    assert Client().post(ROUTE).status_code in (403, 405)


@needs_xmlsec1
def test_saml_forces_the_login_and_refuses_an_old_authn_instant(two_tenants, settings):
    with TestSamlProvider() as idp:
        idp.add_user("root", mail="root@acme.test", memberOf=["Everyone"])
        saml_tests.configure(two_tenants["a"], idp, "acme.test", sso_only=True)
        admin = two_tenants["a_admin"]
        User.objects.filter(pk=admin.pk).update(username="tenant-a/root")
        client = Client()
        answer, _ = saml_tests.sign_in(client, idp, user="root", email="root@acme.test")
        assert answer.status_code == 302 and get_user(client).pk == admin.pk
        with later(settings):
            assert dangerous(client).status_code == 403
            sent = client.get(ROUTE)
            assert sent.status_code == 302
            authn = {
                "class_ref": "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"
            }
            idp.tamper = {
                "authn": {**authn, "authn_auth": idp.entity_id, "authn_instant": time.time() - 600}
            }
            acs, fields = idp.sign_in(sent["Location"], "root")
            assert idp.requests[-1]["force_authn"] == "true"
            oidc.refused(
                saml_tests.post_to_acs(client, acs, fields), two_tenants["a"], "reauth_stale"
            )
            assert dangerous(client).status_code == 403
            idp.tamper = {}
            acs, fields = idp.sign_in(client.get(ROUTE)["Location"], "root")
            done = saml_tests.post_to_acs(client, acs, fields)
            assert done.status_code == 302 and done["Location"] == "/"
            assert get_user(client).pk == admin.pk
            assert dangerous(client).status_code == 200


@pytest.mark.parametrize(
    ("target", "status"),
    [("%ED%A0%80", 302), ("%00", 400), ("/" + "a" * 5000, 302), ("javascript:alert(1)", 302)],
)
def test_hostile_next_values_are_never_a_500(world, idp, target, status):
    sent = world["client"].get(f"{ROUTE}?next={target}")
    assert sent.status_code == status  # a NUL is the portal's plain 400 (mssp.middleware)
    if status == 302:
        assert sent["Location"].startswith(idp.issuer)
