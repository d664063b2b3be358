"""The second factor (issue 13): allauth's login with TOTP and recovery codes, enrolment with a
QR code, the audit log, and who must have one (MSSP staff, the Django admin, a tenant that
requires it) — held at enrolment until they have, with nothing else reachable."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from allauth.mfa.models import Authenticator
from django.test import Client
from django.utils import timezone

from tenants import mfa
from tenants.models import AuditEvent, Tenant, UserSession
from tenants.rls import rls_bypass
from tests.isolation import api_routes
from tests.mfa import (
    PASSWORD,
    enrol,
    fresh_code,
    log_in,
    other_code,
    recovery_codes,
    secret_of,
    totp_code,
)

pytestmark = pytest.mark.django_db

AUTHENTICATE = "/accounts/2fa/authenticate/"
ACTIVATE = "/accounts/2fa/totp/activate/"


def audit_rows(action: str, **filters) -> list[AuditEvent]:
    with rls_bypass("test assertion"):
        return list(
            AuditEvent.objects.dangerously_unscoped("test").filter(action=action, **filters)
        )


def password_step(client: Client, user, password: str = PASSWORD):
    return client.post("/login/", {"username": user.username, "password": password})


def latest_session(user) -> UserSession:
    return UserSession.objects.filter(user=user).order_by("-signed_in_at").first()


# --- login with the second factor ----------------------------------------------------------
def test_an_account_with_totp_gives_its_code_after_the_password(two_tenants):
    viewer = two_tenants["a_viewer"]
    secret = enrol(viewer)
    client = Client()
    response = password_step(client, viewer)
    assert response.status_code == 302 and response["Location"].startswith(AUTHENTICATE)
    # not signed in yet: the password alone reaches nothing
    assert client.get("/account/sessions/").status_code == 302
    assert not UserSession.objects.filter(user=viewer).exists()
    page = client.get(AUTHENTICATE)
    assert page.status_code == 200 and b'name="code"' in page.content
    done = client.post(AUTHENTICATE, {"code": totp_code(secret)})
    assert done.status_code == 302 and done["Location"] == "/"
    assert client.get("/account/sessions/").status_code == 200
    record = latest_session(viewer)
    assert record.second_factor_at is not None and record.auth_method == "password"
    assert audit_rows("auth.login", actor=viewer)


def test_a_wrong_code_is_refused_audited_and_counted_towards_the_lockout(two_tenants, settings):
    viewer = two_tenants["a_viewer"]
    secret = enrol(viewer)
    client = Client()
    password_step(client, viewer)
    wrong = client.post(AUTHENTICATE, {"code": other_code(secret)})
    assert wrong.status_code == 200 and b"Incorrect code" in wrong.content
    assert client.get("/account/sessions/").status_code == 302
    assert audit_rows("auth.login_failed", data__username=viewer.username)
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        client.post(AUTHENTICATE, {"code": other_code(secret)})
    # locked out: even the right password (and then code) is refused now
    again = Client().post("/login/", {"username": viewer.username, "password": PASSWORD})
    assert again.status_code == 429


def test_a_recovery_code_signs_in_once(two_tenants):
    viewer = two_tenants["a_viewer"]
    enrol(viewer)
    code = recovery_codes(viewer)[0]
    first = Client()
    password_step(first, viewer)
    assert first.post(AUTHENTICATE, {"code": code})["Location"] == "/"
    assert latest_session(viewer).second_factor_at is not None
    assert audit_rows("auth.recovery_code_used", actor=viewer)
    second = Client()
    password_step(second, viewer)
    refused = second.post(AUTHENTICATE, {"code": code})
    assert refused.status_code == 200 and b"Incorrect code" in refused.content
    assert code not in recovery_codes(viewer)


def test_the_totp_secret_is_sealed_at_rest(two_tenants):
    viewer = two_tenants["a_viewer"]
    secret = enrol(viewer)
    stored = Authenticator.objects.get(user=viewer, type="totp").data["secret"]
    assert secret not in stored and secret_of(viewer) == secret


def test_self_sign_up_does_not_exist(client):
    assert client.get("/accounts/signup/").status_code == 404


# --- enrolment -----------------------------------------------------------------------------
def test_enrolment_shows_a_qr_code_and_activates_with_a_code_from_it(
    two_tenants, django_capture_on_commit_callbacks
):
    viewer = two_tenants["a_viewer"]
    client = Client()
    assert log_in(client, viewer).status_code == 302  # no factor yet: the password alone
    page = client.get(ACTIVATE)
    assert page.status_code == 200
    html = page.content.decode()
    assert "<svg" in html and "data:image" not in html  # an inline QR code, CSP-clean
    secret = re.search(r'id="authenticator_secret" value="([A-Z2-7]+)"', html).group(1)
    wrong = client.post(ACTIVATE, {"code": other_code(secret)})
    assert wrong.status_code == 200 and not mfa.has_factor(viewer)
    with django_capture_on_commit_callbacks(execute=True):  # allauth's signal: on commit
        done = client.post(ACTIVATE, {"code": totp_code(secret)})
    assert done.status_code == 302 and done["Location"] == "/accounts/2fa/recovery-codes/"
    assert mfa.has_factor(viewer) and secret_of(viewer) == secret
    codes = client.get(done["Location"])
    assert codes.status_code == 200 and recovery_codes(viewer)[0] in codes.content.decode()
    assert latest_session(viewer).second_factor_at is not None
    assert audit_rows("auth.mfa_enrolled", actor=viewer, tenant=two_tenants["a"])


def test_removing_the_factor_and_new_recovery_codes_are_audited(
    two_tenants, django_capture_on_commit_callbacks
):
    viewer = two_tenants["a_viewer"]
    enrol(viewer)
    client = Client()
    assert log_in(client, viewer).status_code == 302
    before = recovery_codes(viewer)
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post("/accounts/2fa/recovery-codes/generate/").status_code == 302
    assert recovery_codes(viewer) != before
    assert audit_rows("auth.recovery_codes_regenerated", actor=viewer)
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post("/accounts/2fa/totp/deactivate/").status_code == 302
    assert not mfa.has_factor(viewer)
    assert audit_rows("auth.mfa_removed", actor=viewer)


def test_removing_the_factor_needs_a_recent_code(two_tenants, settings):
    viewer = two_tenants["a_viewer"]
    enrol(viewer)
    client = Client()
    log_in(client, viewer)
    later = timezone.now() + timedelta(minutes=settings.STEP_UP_MINUTES + 1)
    with time_machine.travel(later):
        refused = client.post("/accounts/2fa/totp/deactivate/")
        assert refused.status_code == 302
        assert refused["Location"].startswith("/accounts/2fa/reauthenticate/")
        assert mfa.has_factor(viewer)


# --- who must ------------------------------------------------------------------------------
def test_mssp_staff_must_have_a_second_factor_customers_only_when_their_tenant_says(two_tenants):
    w = two_tenants
    assert mfa.must_have(w["analyst_a"]) and mfa.must_have(w["mssp_admin"])
    assert not mfa.must_have(w["a_viewer"])
    Tenant.objects.filter(pk=w["a"].pk).update(mfa_required=True)
    assert mfa.must_have(w["a_viewer"]) and mfa.must_have(w["a_admin"])
    assert not mfa.must_have(w["b_viewer"])


def test_an_analyst_without_a_device_is_held_at_enrolment(
    two_tenants, django_capture_on_commit_callbacks
):
    analyst = two_tenants["analyst_a"]
    client = Client()
    response = password_step(client, analyst)
    assert response.status_code == 302
    home = client.get(response["Location"])
    assert home.status_code == 302 and home["Location"].startswith(ACTIVATE)
    queue = client.get("/incidents/")
    assert queue.status_code == 302 and queue["Location"].startswith(ACTIVATE)
    api = client.get("/api/v1/incidents/")
    assert api.status_code == 403
    assert api.json()["error"] == "second_factor_required"
    assert ACTIVATE in api.json()["detail"]
    assert client.get(ACTIVATE).status_code == 200
    # once enrolled, the same session goes on
    secret = re.search(
        r'id="authenticator_secret" value="([A-Z2-7]+)"', client.get(ACTIVATE).content.decode()
    ).group(1)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(ACTIVATE, {"code": totp_code(secret)})
    assert client.get("/incidents/").status_code == 200
    assert client.get("/api/v1/incidents/").status_code == 200


@pytest.mark.password_only
def test_a_password_only_staff_session_reaches_no_page_and_no_api_route(two_tenants):
    """A session that never gave the second factor (here: one made without the login page)
    of an enrolled analyst: every API route answers 403, every page leads to the code page."""
    analyst = two_tenants["analyst_a"]
    enrol(analyst)
    client = Client()
    client.force_login(analyst)
    for route in api_routes():
        url = route.url(**{p: "x" for p in route.params})
        for method in set(route.methods) - {"HEAD", "OPTIONS"}:
            response = getattr(client, method.lower())(url)
            assert response.status_code == 403, (method, url)
            assert response["Content-Type"] == "application/json", (method, url)
            assert response.json()["error"] == "second_factor_required", url
    for page in ("/", "/incidents/", "/console/", "/settings/members/", "/admin/"):
        response = client.get(page)
        assert response.status_code == 302, page
        assert response["Location"].startswith("/accounts/2fa/reauthenticate/"), page
    # giving the code there lets the session in
    answer = client.post(
        "/accounts/2fa/reauthenticate/?next=/incidents/", {"code": fresh_code(analyst)}
    )
    assert answer.status_code == 302 and answer["Location"] == "/incidents/"
    assert client.get("/incidents/").status_code == 200


@pytest.mark.password_only
def test_the_django_admin_needs_a_second_factor_of_everyone(two_tenants):
    viewer = two_tenants["a_viewer"]  # a customer whose tenant does not require one
    client = Client()
    client.force_login(viewer)
    assert client.get("/account/sessions/").status_code == 200
    response = client.get("/admin/")
    assert response.status_code == 302 and response["Location"].startswith(ACTIVATE)


def test_a_tenant_requiring_a_second_factor_holds_its_users_only(two_tenants):
    w = two_tenants
    Tenant.objects.filter(pk=w["a"].pk).update(mfa_required=True)
    a_client, b_client = Client(), Client()
    password_step(a_client, w["a_viewer"])
    password_step(b_client, w["b_viewer"])
    held = a_client.get("/account/sessions/")
    assert held.status_code == 302 and held["Location"].startswith(ACTIVATE)
    assert b_client.get("/account/sessions/").status_code == 200


# --- a tenant's requirement: set from its settings page and the API, by its admins only --------
def test_a_customer_admin_requires_a_second_factor_for_their_own_tenant_only(two_tenants, api):
    w = two_tenants
    admin = api(w["a_admin"])
    url = "/api/v1/tenants/{}/second-factor/"
    assert admin.get(url.format("tenant-a")).json() == {"mfa_required": False}
    done = admin.patch(url.format("tenant-a"), {"mfa_required": True}, format="json")
    assert done.status_code == 200 and done.json() == {"mfa_required": True}
    assert Tenant.objects.get(pk=w["a"].pk).mfa_required
    assert audit_rows("tenant.mfa_required", tenant=w["a"], actor=w["a_admin"])
    # another tenant's is the same 404 as a missing one; a viewer is refused
    assert (
        admin.patch(url.format("tenant-b"), {"mfa_required": True}, format="json").status_code
        == 404
    )
    assert not Tenant.objects.get(pk=w["b"].pk).mfa_required
    viewer = api(w["a_viewer"])
    refused = viewer.patch(url.format("tenant-a"), {"mfa_required": False}, format="json")
    assert refused.status_code == 403
    assert Tenant.objects.get(pk=w["a"].pk).mfa_required
    empty = admin.patch(url.format("tenant-a"), {}, format="json")
    assert empty.status_code == 400 and "mfa_required" in empty.json()["fields"]
    bad = admin.patch(url.format("tenant-a"), {"mfa_required": "maybe"}, format="json")
    assert bad.status_code == 400 and "mfa_required" in bad.json()["detail"]


def test_the_sessions_page_sets_the_requirement_for_its_own_tenant(two_tenants):
    w = two_tenants
    client = Client()
    client.force_login(w["a_admin"])
    page = client.get("/settings/sessions/")
    assert page.status_code == 200 and b'name="mfa_required"' in page.content
    done = client.post("/settings/second-factor/", {"mfa_required": "on"}, follow=True)
    assert done.status_code == 200 and b"Every member now needs a second factor." in done.content
    assert Tenant.objects.get(pk=w["a"].pk).mfa_required
    # tenant B's page is not theirs to reach
    other = client.post("/settings/second-factor/?tenant=tenant-b", {"mfa_required": "on"})
    assert other.status_code in (403, 404)
    assert not Tenant.objects.get(pk=w["b"].pk).mfa_required
    viewer = Client()
    viewer.force_login(w["a_viewer"])
    assert viewer.post("/settings/second-factor/", {}).status_code == 403
    assert Tenant.objects.get(pk=w["a"].pk).mfa_required
    client.post("/settings/second-factor/", {})
    assert not Tenant.objects.get(pk=w["a"].pk).mfa_required


# --- the API's password login ------------------------------------------------------------------
def token_login(client: Client, user, **extra):
    body = {"username": user.username, "password": PASSWORD, **extra}
    return client.post("/api/v1/auth/token/", body, content_type="application/json")


def test_the_token_login_of_an_account_with_a_second_factor_needs_its_code(two_tenants):
    viewer = two_tenants["a_viewer"]
    secret = enrol(viewer)
    client = Client()
    missing = token_login(client, viewer)
    assert missing.status_code == 400 and missing.json()["error"] == "otp_required"
    assert "otp" in missing.json()["detail"]
    wrong = token_login(client, viewer, otp=other_code(secret))
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_otp"
    assert audit_rows("auth.login_failed", data__username=viewer.username)
    done = token_login(client, viewer, otp=totp_code(secret))
    assert done.status_code == 201 and done.json()["token"]
    # the same code again is refused: a code is good once
    assert token_login(client, viewer, otp=totp_code(secret)).status_code == 400


def test_the_token_login_takes_a_recovery_code_once(two_tenants):
    viewer = two_tenants["a_viewer"]
    enrol(viewer)
    code = recovery_codes(viewer)[0]
    client = Client()
    assert token_login(client, viewer, otp=code).status_code == 201
    assert token_login(client, viewer, otp=code).json()["error"] == "invalid_otp"
    assert audit_rows("auth.recovery_code_used", actor=viewer)


def test_wrong_codes_lock_the_token_login_out_like_wrong_passwords(two_tenants, settings):
    viewer = two_tenants["a_viewer"]
    secret = enrol(viewer)
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        token_login(client, viewer, otp=other_code(secret))
    locked = token_login(client, viewer, otp=totp_code(secret))
    assert locked.status_code == 429 and locked.json()["error"] == "locked_out"


def test_an_account_that_must_enrol_gets_no_token_until_it_has(two_tenants):
    analyst = two_tenants["analyst_a"]
    refused = token_login(Client(), analyst)
    assert refused.status_code == 403
    assert refused.json()["error"] == "second_factor_enrolment_required"
    assert "/login/" in refused.json()["detail"]
    secret = enrol(analyst)
    assert token_login(Client(), analyst, otp=totp_code(secret)).status_code == 201


def test_an_account_without_a_second_factor_still_logs_in_with_its_password(two_tenants):
    assert token_login(Client(), two_tenants["a_viewer"]).status_code == 201


# --- the demo --------------------------------------------------------------------------------
def test_the_demo_staff_get_the_printed_authenticator_secret(db, settings):
    import io

    from mssp.management.commands.seed_demo import DEMO_TOTP_SECRET, Command
    from tests.factories import StaffFactory

    analyst = StaffFactory(username="analyst1", staff_role="analyst_l1")
    own = StaffFactory(username="analyst2", staff_role="analyst_l2")
    own_secret = enrol(own)  # enrolled their own app: kept
    command = Command(stdout=io.StringIO())
    assert command._second_factors()
    assert secret_of(analyst) == DEMO_TOTP_SECRET and recovery_codes(analyst)
    assert secret_of(own) == own_secret
    command._print_second_factor(True)
    printed = command.stdout.getvalue()
    assert DEMO_TOTP_SECRET in printed and "oathtool --totp -b" in printed
    client = Client()
    client.post("/login/", {"username": "analyst1", "password": PASSWORD})
    done = client.post(AUTHENTICATE, {"code": totp_code(DEMO_TOTP_SECRET)})
    assert done.status_code == 302 and client.get("/account/sessions/").status_code == 200
