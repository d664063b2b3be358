"""The staff sessions page (/staff/sessions/): an MSSP admin sees each staff member's live
sessions (device, address, signed in, last seen), ends one or all of them, and resets a staff
member's second factor; the staff API's actions do each change. Customers, analysts, leads
and managers never reach it. The API twin of ending one: DELETE /api/v1/staff/{id}/sessions/
{session id}/."""

from __future__ import annotations

import pytest
from django.test import Client

from tenants.models import AuditEvent, User, UserSession
from tenants.rls import rls_bypass
from tests.factories import StaffFactory
from tests.mfa import PASSWORD, log_in

pytestmark = pytest.mark.django_db

FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"
SAFARI_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)


def browser(user: User, agent: str = FIREFOX) -> Client:
    client = Client(HTTP_USER_AGENT=agent)
    assert log_in(client, user, PASSWORD).status_code == 302
    return client


def signed_in(client: Client) -> bool:
    return client.get("/account/sessions/").status_code == 200


def live(user: User) -> list[UserSession]:
    return list(UserSession.objects.filter(user=user, ended_at__isnull=True))


def test_mssp_admin_sees_and_ends_staff_sessions_from_the_page(two_tenants):
    admin, analyst = two_tenants["mssp_admin"], two_tenants["analyst_a"]
    desk, phone = browser(analyst), browser(analyst, SAFARI_IPHONE)
    page = browser(admin)
    health = page.get("/manager/").content.decode()
    assert 'href="/staff/sessions/"' in health  # linked from the staff list
    assert (
        'href="/staff/sessions/"' in page.get("/account/sessions/").content.decode()
    )  # and the menu

    html = page.get("/staff/sessions/").content.decode()
    assert analyst.username in html
    assert "Firefox 128 on Windows" in html and "Safari 17 on iPhone" in html
    assert "127.0.0.1" in html
    iphone = UserSession.objects.get(user=analyst, device="Safari 17 on iPhone")
    response = page.post(f"/staff/{analyst.pk}/sessions/{iphone.pk}/end/", follow=True)
    assert "was ended" in response.content.decode()
    assert not signed_in(phone) and signed_in(desk)

    browser(analyst, SAFARI_IPHONE)
    response = page.post(f"/staff/{analyst.pk}/sessions/end/", follow=True)
    assert "2 sessions ended." in response.content.decode()
    assert live(analyst) == [] and signed_in(page)
    with rls_bypass("test assertion"):
        rows = AuditEvent.objects.dangerously_unscoped("test").filter(
            action="auth.session_ended", actor=admin
        )
        assert rows.count() == 3 and {r.data["reason"] for r in rows} == {"admin"}


def test_a_session_of_someone_else_under_a_staff_members_path_is_404(two_tenants):
    admin, analyst, viewer = (
        two_tenants["mssp_admin"],
        two_tenants["analyst_a"],
        two_tenants["a_viewer"],
    )
    browser(analyst)
    customer_session = browser(viewer)
    (theirs,) = live(viewer)
    page = browser(admin)
    assert page.post(f"/staff/{analyst.pk}/sessions/{theirs.pk}/end/").status_code == 404
    assert page.post(f"/staff/{viewer.pk}/sessions/{theirs.pk}/end/").status_code == 404
    assert page.post(f"/staff/{viewer.pk}/sessions/end/").status_code == 404  # not staff
    assert signed_in(customer_session)


@pytest.mark.parametrize("who", ["a_admin", "a_viewer", "analyst_a", "lead", "manager"])
def test_only_mssp_admins_reach_the_staff_sessions_page(two_tenants, who):
    world = dict(two_tenants)
    world["lead"] = StaffFactory(staff_role="lead")
    world["manager"] = StaffFactory(staff_role="manager")
    analyst = world["analyst_b"]
    analysts_browser = browser(analyst)
    (record,) = live(analyst)
    client = browser(world[who])
    assert client.get("/staff/sessions/").status_code == 403
    assert b"/staff/sessions/" not in client.get("/account/sessions/").content  # not in the menu
    for path in (
        f"/staff/{analyst.pk}/sessions/end/",
        f"/staff/{analyst.pk}/sessions/{record.pk}/end/",
        f"/staff/{analyst.pk}/second-factor/reset/",
    ):
        assert client.post(path).status_code == 403
    assert signed_in(analysts_browser)


def test_the_api_ends_one_staff_session(two_tenants, api):
    admin, analyst = two_tenants["mssp_admin"], two_tenants["analyst_a"]
    desk, phone = browser(analyst), browser(analyst, SAFARI_IPHONE)
    iphone = UserSession.objects.get(user=analyst, device="Safari 17 on iPhone")
    path = f"/api/v1/staff/{analyst.pk}/sessions/{iphone.pk}/"
    assert api(StaffFactory(staff_role="manager")).delete(path).status_code == 403
    assert api(two_tenants["a_admin"]).delete(path).status_code == 403
    wrong_owner = f"/api/v1/staff/{admin.pk}/sessions/{iphone.pk}/"
    assert api(admin).delete(wrong_owner).status_code == 404
    assert api(admin).delete(path).status_code == 204
    assert api(admin).delete(path).status_code == 404  # ended: no longer a live session
    assert not signed_in(phone) and signed_in(desk)
