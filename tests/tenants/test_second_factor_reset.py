"""An admin resets a member's second factor (a lost phone): a customer admin for the members of
their tenant, an MSSP admin for staff and any tenant's members. One action
(tenants.administration.SECOND_FACTOR_RESET) behind the Members page and the API: step-up,
audited as auth.mfa_reset in the member's tenant, every authenticator deleted, every session
ended (its sockets told), and where a second factor is mandatory the next login enrols again."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from allauth.mfa.models import Authenticator
from django.test import Client
from django.utils import timezone

from tenants import events
from tenants.models import AuditEvent, Membership, Tenant, User
from tenants.rls import rls_bypass
from tests.factories import StaffFactory
from tests.mfa import PASSWORD, add_security_key, enrol, log_in

pytestmark = pytest.mark.django_db

ACTIVATE = "/accounts/2fa/totp/activate/"


def browser(user: User) -> Client:
    client = Client()
    response = log_in(client, user, PASSWORD)
    assert response.status_code == 302
    return client


def signed_in(client: Client) -> bool:
    return client.get("/account/sessions/").status_code == 200


def membership_of(user: User) -> Membership:
    with rls_bypass("test fixture"):
        return Membership.objects.dangerously_unscoped("test fixture").get(user=user)


def resets() -> list[AuditEvent]:
    with rls_bypass("test assertion"):
        return list(AuditEvent.objects.dangerously_unscoped("test").filter(action="auth.mfa_reset"))


def factors(user: User) -> set[str]:
    return set(Authenticator.objects.filter(user=user).values_list("type", flat=True))


def member_path(slug: str, member: Membership) -> str:
    return f"/api/v1/tenants/{slug}/members/{member.pk}/second-factor/reset/"


def test_customer_admin_resets_a_members_second_factor_on_the_members_page(
    two_tenants, monkeypatch
):
    Tenant.objects.filter(pk=two_tenants["a"].pk).update(mfa_required=True)
    admin, viewer = two_tenants["a_admin"], two_tenants["a_viewer"]
    enrol(viewer)
    add_security_key(viewer)
    phone, laptop = browser(viewer), browser(viewer)
    closed: list[int] = []
    monkeypatch.setattr(events, "session_digest_ended", lambda user_id, _: closed.append(user_id))
    admin_browser = browser(admin)
    member = membership_of(viewer)
    page = admin_browser.get("/settings/members/").content.decode()
    assert f"Reset second factor of {viewer.username}" in page

    response = admin_browser.post(
        f"/settings/members/{member.pk}/second-factor/reset/", follow=True
    )
    assert f"The second factor of {viewer.username} was reset" in response.content.decode()
    assert factors(viewer) == set()
    assert closed == [viewer.pk, viewer.pk]  # each session's sockets are told to close
    assert not signed_in(phone) and not signed_in(laptop)
    (row,) = resets()
    assert row.tenant_id == two_tenants["a"].pk and row.actor_id == admin.pk
    assert row.data == {"removed": ["recovery_codes", "totp", "webauthn"], "sessions_ended": 2}
    # the tenant requires a second factor: the next login is taken to enrolment
    client = Client()
    client.post("/login/", {"username": viewer.username, "password": PASSWORD})
    assert client.get("/incidents/")["Location"].startswith(ACTIVATE)


def test_mssp_admin_resets_staff_and_any_tenants_member_through_the_api(two_tenants, api):
    mssp_admin, analyst, b_viewer = (
        two_tenants["mssp_admin"],
        two_tenants["analyst_a"],
        two_tenants["b_viewer"],
    )
    enrol(analyst)
    enrol(b_viewer)
    staff_browser = browser(analyst)
    client = api(mssp_admin)
    response = client.post(f"/api/v1/staff/{analyst.pk}/second-factor/reset/")
    assert response.status_code == 200
    assert response.json() == {"removed": ["recovery_codes", "totp"], "sessions_ended": 1}
    assert factors(analyst) == set() and not signed_in(staff_browser)
    response = client.post(member_path("tenant-b", membership_of(b_viewer)))
    assert response.status_code == 200 and factors(b_viewer) == set()
    staff_row, member_row = sorted(resets(), key=lambda r: r.at)
    assert staff_row.tenant_id is None and staff_row.actor_id == mssp_admin.pk
    assert member_row.tenant_id == two_tenants["b"].pk
    # staff must have a second factor: their next login enrols again
    fresh = Client()
    fresh.post("/login/", {"username": analyst.username, "password": PASSWORD})
    assert fresh.get("/incidents/")["Location"].startswith(ACTIVATE)


def test_another_tenants_admin_cannot_reset_a_member(two_tenants, api):
    victim = two_tenants["a_viewer"]
    enrol(victim)
    member = membership_of(victim)
    b_admin = two_tenants["b_admin"]
    for slug in ("tenant-a", "tenant-b"):
        assert api(b_admin).post(member_path(slug, member)).status_code == 404
    page = browser(b_admin)
    path = f"/settings/members/{member.pk}/second-factor/reset/"
    assert page.post(path).status_code == 404
    assert page.post(f"{path}?tenant=tenant-a").status_code == 404
    assert factors(victim) == {"totp", "recovery_codes"} and resets() == []


def test_customers_cannot_reset_staff_and_responders_reset_nobody(two_tenants, api):
    analyst, admin = two_tenants["analyst_a"], two_tenants["a_admin"]
    enrol(analyst)
    enrol(admin)
    assert api(admin).post(f"/api/v1/staff/{analyst.pk}/second-factor/reset/").status_code == 403
    assert browser(admin).post(f"/staff/{analyst.pk}/second-factor/reset/").status_code == 403
    member = membership_of(admin)
    for role in ("a_responder", "a_viewer"):
        assert api(two_tenants[role]).post(member_path("tenant-a", member)).status_code == 403
        page = browser(two_tenants[role])
        assert page.post(f"/settings/members/{member.pk}/second-factor/reset/").status_code == 403
    manager = StaffFactory(staff_role="manager")
    assert api(manager).post(f"/api/v1/staff/{analyst.pk}/second-factor/reset/").status_code == 403
    assert factors(analyst) and factors(admin) and resets() == []


def test_a_reset_needs_a_recent_second_factor_and_not_ones_own(two_tenants):
    admin, viewer = two_tenants["a_admin"], two_tenants["a_viewer"]
    enrol(viewer)
    client = browser(admin)
    member = membership_of(viewer)
    with time_machine.travel(timezone.now() + timedelta(minutes=11)):
        response = client.post(member_path("tenant-a", member))
        assert response.status_code == 403 and response.json()["error"] == "step_up_required"
        page = client.post(f"/settings/members/{member.pk}/second-factor/reset/")
        assert page.status_code == 302 and "reauthenticate" in page["Location"]
    assert factors(viewer) == {"totp", "recovery_codes"}
    own = client.post(member_path("tenant-a", membership_of(admin)))
    assert own.status_code == 400 and "your own second factor" in own.json()["detail"]
