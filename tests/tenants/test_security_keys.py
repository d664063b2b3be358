"""Security keys and passkeys (WebAuthn, allauth.mfa with fido2) without a browser: a software
key (tests.mfa.SoftKey) answers the pages' real challenges. Enrolling and removing a key are
step-up and audited; a key is the second factor at login, counts for the mandatory second
factor and for step-up. The browser's side: tests/browser/test_security_keys.py."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import time_machine
from allauth.mfa.models import Authenticator
from django.test import Client
from django.utils import timezone

from tenants import mfa
from tenants.identity import AccountAdapter
from tenants.models import AuditEvent, UserSession
from tenants.rls import rls_bypass
from tests.mfa import PASSWORD, SoftKey, add_security_key, webauthn_challenge

pytestmark = pytest.mark.django_db

ADD = "/accounts/2fa/webauthn/add/"
AUTHENTICATE = "/accounts/2fa/authenticate/"
REAUTHENTICATE_KEY = "/accounts/2fa/webauthn/reauthenticate/"


def localhost() -> Client:
    """WebAuthn's relying party is the host the browser asked for: never an IP address."""
    return Client(HTTP_HOST="localhost")


def audit_rows(action: str) -> list[AuditEvent]:
    with rls_bypass("test assertion"):
        return list(AuditEvent.objects.dangerously_unscoped("test").filter(action=action))


def enrol_key(client: Client, key: SoftKey, name: str):
    page = client.get(ADD)
    assert page.status_code == 200
    credential = key.registration(webauthn_challenge(client))
    return client.post(ADD, {"name": name, "credential": json.dumps(credential)})


def test_a_key_is_enrolled_by_name_under_the_csp_and_audited(two_tenants):
    user = two_tenants["a_viewer"]  # a customer whose tenant does not require one: opts in
    client = localhost()
    client.force_login(user)
    page = client.get(ADD)
    html = page.content.decode()
    csp = page.headers["Content-Security-Policy"]
    assert "'unsafe-inline'" not in csp
    nonce = csp.split("'nonce-")[1].split("'")[0]
    assert f'src="/static/mfa/js/webauthn.js" nonce="{nonce}"' in html
    assert '<script id="js_data" type="application/json">' in html  # json_script: data only
    response = enrol_key(client, SoftKey(), "Desk key")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/2fa/recovery-codes/"  # made with the first
    key = Authenticator.objects.get(user=user, type="webauthn")
    assert key.wrap().name == "Desk key"
    assert mfa.has_factor(user)
    (row,) = audit_rows("auth.mfa_enrolled")
    assert row.actor_id == user.pk and row.data["type"] == "webauthn"
    assert row.tenant_id == two_tenants["a"].pk
    # a second key, with its own name; the page lists both
    assert enrol_key(client, SoftKey(), "Phone passkey").status_code == 302
    listed = client.get("/accounts/2fa/").content.decode()
    assert "Desk key" in listed and "Phone passkey" in listed


def test_a_forged_or_replayed_registration_adds_no_key(two_tenants):
    user = two_tenants["a_viewer"]
    client = localhost()
    client.force_login(user)
    client.get(ADD)
    forged = SoftKey().registration("bm90LXRoZS1jaGFsbGVuZ2U")  # another challenge
    response = client.post(ADD, {"name": "Forged", "credential": json.dumps(forged)})
    assert response.status_code == 200
    assert client.post(ADD, {"name": "Junk", "credential": "{not json"}).status_code == 200
    assert client.post(ADD, {"name": "Junk", "credential": '{"id": 1}'}).status_code == 200
    assert not Authenticator.objects.filter(user=user, type="webauthn").exists()


def test_enrolling_and_removing_a_key_need_a_recent_second_factor(two_tenants):
    user = two_tenants["a_viewer"]
    key = add_security_key(user)
    stored = Authenticator.objects.get(user=user, type="webauthn")
    client = localhost()
    client.force_login(user)
    with time_machine.travel(timezone.now() + timedelta(minutes=11)):
        for path in (ADD, f"/accounts/2fa/webauthn/keys/{stored.pk}/remove/"):
            response = client.get(path)
            assert response.status_code == 302
            assert response["Location"].startswith(REAUTHENTICATE_KEY)  # its only factor
        # the key confirms it; then removing is done, and audited
        client.get(REAUTHENTICATE_KEY)
        response = client.post(
            REAUTHENTICATE_KEY,
            {"credential": json.dumps(key.assertion(webauthn_challenge(client)))},
        )
        assert response.status_code == 302
        response = client.post(f"/accounts/2fa/webauthn/keys/{stored.pk}/remove/")
        assert response.status_code == 302
    assert not Authenticator.objects.filter(pk=stored.pk).exists()
    (row,) = audit_rows("auth.mfa_removed")
    assert row.data["type"] == "webauthn" and row.actor_id == user.pk
    assert [r.data["type"] for r in audit_rows("auth.step_up")] == ["webauthn"]


def test_a_key_is_the_second_factor_at_login_and_passes_the_mandatory_gate(two_tenants):
    analyst = two_tenants["analyst_a"]  # MSSP staff: a second factor is mandatory
    key = add_security_key(analyst)  # their only factor
    client = localhost()
    response = client.post("/login/", {"username": analyst.username, "password": PASSWORD})
    assert response["Location"].startswith(AUTHENTICATE)
    page = client.get(AUTHENTICATE).content.decode()
    assert "Use a security key" in page
    # another key's answer is refused
    stranger = SoftKey()
    stranger.credential_id = key.credential_id  # even with this key's id: not its signature
    refused = client.post(
        AUTHENTICATE, {"credential": json.dumps(stranger.assertion(webauthn_challenge(client)))}
    )
    assert refused.status_code == 200 and "_auth_user_id" not in client.session
    client.get(AUTHENTICATE)
    response = client.post(
        AUTHENTICATE, {"credential": json.dumps(key.assertion(webauthn_challenge(client)))}
    )
    assert response.status_code == 302 and not response["Location"].startswith(AUTHENTICATE)
    assert client.get("/incidents/").status_code == 200
    assert client.get("/api/v1/incidents/").status_code == 200
    record = UserSession.objects.get(user=analyst)
    assert record.second_factor_at is not None


def test_an_account_without_a_key_is_not_offered_one_at_login(two_tenants):
    from tests.mfa import enrol

    analyst = two_tenants["analyst_a"]
    enrol(analyst)  # an authenticator app only
    client = localhost()
    client.post("/login/", {"username": analyst.username, "password": PASSWORD})
    assert "Use a security key" not in client.get(AUTHENTICATE).content.decode()


@pytest.mark.password_only
def test_a_held_key_only_session_confirms_with_its_key(two_tenants):
    analyst = two_tenants["analyst_a"]
    key = add_security_key(analyst)
    client = localhost()
    client.force_login(analyst)  # a session that has not given its second factor
    response = client.get("/incidents/")
    assert response["Location"].startswith(REAUTHENTICATE_KEY)
    api = client.get("/api/v1/incidents/")
    assert api.status_code == 403 and REAUTHENTICATE_KEY in api.json()["detail"]
    assert "Use a security key" in client.get(REAUTHENTICATE_KEY).content.decode()
    client.post(
        REAUTHENTICATE_KEY, {"credential": json.dumps(key.assertion(webauthn_challenge(client)))}
    )
    assert client.get("/incidents/").status_code == 200


def test_a_key_only_account_steps_up_with_its_key_never_its_password(two_tenants, rf):
    analyst = two_tenants["analyst_a"]
    add_security_key(analyst)
    methods = AccountAdapter().get_reauthentication_methods(analyst)
    assert [m["url"] for m in methods] == [REAUTHENTICATE_KEY]


def test_the_permissions_policy_lets_the_portal_use_keys_and_nothing_else(client):
    header = client.get("/login/").headers["Permissions-Policy"]
    assert "publickey-credentials-get=(self)" in header
    assert "publickey-credentials-create=(self)" in header
    assert "camera=()" in header


def test_another_users_key_pages_are_404(two_tenants):
    owner = two_tenants["a_viewer"]
    add_security_key(owner)
    stored = Authenticator.objects.get(user=owner, type="webauthn")
    client = localhost()
    client.force_login(two_tenants["b_viewer"])
    for path in (
        f"/accounts/2fa/webauthn/keys/{stored.pk}/remove/",
        f"/accounts/2fa/webauthn/keys/{stored.pk}/edit/",
    ):
        assert client.get(path).status_code == 404
        assert client.post(path, {"name": "mine now"}).status_code == 404
    assert Authenticator.objects.filter(pk=stored.pk).exists()
    assert stored.wrap().name == "Desk key"
