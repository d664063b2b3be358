"""Signed-in sessions (issue 13, "Sessions"): each user sees and ends their own; admins end their
members' (never another tenant's); idle and absolute timeouts, a tenant's stricter ones; the
audit log; e-mails about sign-ins from new devices. The sockets' side: test_session_sockets."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.test import Client
from django.utils import timezone

from tenants import sessions
from tenants.models import AuditEvent, KnownDevice, Membership, User, UserSession
from tenants.rls import rls_bypass
from tenants.useragent import describe
from tests.factories import StaffFactory
from tests.mfa import log_in

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery"  # tests.factories.UserFactory
FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"
SAFARI_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)
CHROME_LINUX = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36"
)


def browser(user: User, agent: str = FIREFOX, *, device_of: Client | None = None) -> Client:
    """A browser signed in through the real login page (device_of: the same browser as that
    one, as far as its device cookie goes)."""
    client = Client(HTTP_USER_AGENT=agent)
    if device_of is not None and "mssp_device" in device_of.cookies:
        client.cookies["mssp_device"] = device_of.cookies["mssp_device"].value
    response = log_in(client, user, PASSWORD)  # with the second factor when it has one
    assert response.status_code == 302, response.content[:500]
    return client


def signed_in(client: Client) -> bool:
    response = client.get("/account/sessions/")
    return response.status_code == 200


def audit_rows(action: str, **filters) -> list[AuditEvent]:
    with rls_bypass("test assertion"):
        return list(
            AuditEvent.objects.dangerously_unscoped("test assertion").filter(
                action=action, **filters
            )
        )


def records(user: User) -> list[UserSession]:
    return list(UserSession.objects.filter(user=user).order_by("signed_in_at"))


def membership_of(user: User) -> Membership:
    with rls_bypass("test fixture"):
        return Membership.objects.dangerously_unscoped("test fixture").get(user=user)


# --- the device --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("agent", "label"),
    [
        (FIREFOX, "Firefox 128 on Windows"),
        (SAFARI_IPHONE, "Safari 17 on iPhone"),
        (CHROME_LINUX, "Chrome 126 on Linux"),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like "
            "Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.2592.87",
            "Edge 126 on macOS",
        ),
        (
            "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/126.0.6478.71 Mobile Safari/537.36",
            "Chrome 126 on Android",
        ),
        ("curl/8.5.0", "curl 8"),
        ("", "Unknown device"),
        ("something else entirely", "Unknown browser"),
    ],
)
def test_a_user_agent_reads_as_a_device(agent, label):
    assert describe(agent) == label


# --- listing ---------------------------------------------------------------------------------
def test_each_user_sees_their_own_sessions_with_device_address_and_times(two_tenants):
    viewer = two_tenants["a_viewer"]
    laptop = browser(viewer, FIREFOX)
    browser(viewer, SAFARI_IPHONE)
    browser(two_tenants["b_viewer"], CHROME_LINUX)  # someone else's

    page = laptop.get("/account/sessions/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "Firefox 128 on Windows" in text and "Safari 17 on iPhone" in text
    assert "Chrome 126" not in text
    assert "this session" in text and "127.0.0.1" in text

    listed = laptop.get("/api/v1/me/sessions/").json()["results"]
    assert [row["device"] for row in listed if row["current"]] == ["Firefox 128 on Windows"]
    assert {row["device"] for row in listed} == {"Firefox 128 on Windows", "Safari 17 on iPhone"}
    assert all(row["ip"] == "127.0.0.1" and row["signed_in_at"] for row in listed)
    assert "key" not in str(listed).lower().replace("key_digest", "")


def test_session_keys_are_never_stored(two_tenants):
    viewer = two_tenants["a_viewer"]
    client = browser(viewer)
    key = client.cookies["sessionid"].value
    (record,) = records(viewer)
    assert record.key_digest != key and key not in record.key_digest
    assert len(record.key_digest) == 64


def test_last_seen_is_written_at_most_once_a_minute(two_tenants):
    viewer = two_tenants["a_viewer"]
    with time_machine.travel(timezone.now(), tick=False) as clock:
        client = browser(viewer)
        (record,) = records(viewer)
        first = record.last_seen_at
        clock.shift(timedelta(seconds=30))
        assert signed_in(client)
        record.refresh_from_db()
        assert record.last_seen_at == first
        clock.shift(timedelta(seconds=40))
        assert signed_in(client)
        record.refresh_from_db()
        assert record.last_seen_at == first + timedelta(seconds=70)


# --- ending one's own --------------------------------------------------------------------------
def test_ending_another_of_my_sessions_signs_it_out_at_its_next_request(two_tenants):
    viewer = two_tenants["a_viewer"]
    laptop, phone = browser(viewer, FIREFOX), browser(viewer, SAFARI_IPHONE)
    phone_record = records(viewer)[1]

    response = laptop.post(f"/account/sessions/{phone_record.pk}/end/")
    assert response.status_code == 302
    assert signed_in(laptop)

    answer = phone.get("/incidents/")
    assert answer.status_code == 302 and answer["Location"].startswith("/login/?next=")
    login_page = phone.get(answer["Location"])
    assert "ended from your sessions page" in login_page.content.decode()
    assert not signed_in(phone)

    (row,) = audit_rows("auth.session_ended")
    assert row.actor_id == viewer.pk and row.data["reason"] == "user"
    assert row.data["device"] == "Safari 17 on iPhone" and row.ip == "127.0.0.1"
    assert row.tenant_id == two_tenants["a"].pk


def test_ending_this_session_signs_me_out(two_tenants):
    viewer = two_tenants["a_viewer"]
    laptop = browser(viewer)
    (record,) = records(viewer)
    laptop.post(f"/account/sessions/{record.pk}/end/")
    assert not signed_in(laptop)


def test_end_all_others_keeps_this_one(two_tenants):
    viewer = two_tenants["a_viewer"]
    laptop, phone, tablet = (browser(viewer, agent) for agent in (FIREFOX, SAFARI_IPHONE, ""))
    other_user = browser(two_tenants["a_admin"])

    response = laptop.post("/account/sessions/others/end/", follow=True)
    assert "2 other sessions ended." in response.content.decode()
    assert signed_in(laptop) and signed_in(other_user)
    assert not signed_in(phone) and not signed_in(tablet)
    assert len(audit_rows("auth.session_ended", actor=viewer)) == 2


def test_api_lists_and_ends_my_sessions(two_tenants):
    viewer = two_tenants["a_viewer"]
    laptop, phone, tablet = (browser(viewer, agent) for agent in (FIREFOX, SAFARI_IPHONE, ""))
    phone_id = str(records(viewer)[1].pk)

    assert laptop.delete(f"/api/v1/me/sessions/{phone_id}/").status_code == 204
    assert not signed_in(phone)
    again = laptop.delete(f"/api/v1/me/sessions/{phone_id}/")
    assert again.status_code == 404  # ended: no longer listed
    assert len(laptop.get("/api/v1/me/sessions/").json()["results"]) == 2

    assert laptop.delete("/api/v1/me/sessions/others/").json() == {"ended": 1}
    assert not signed_in(tablet) and signed_in(laptop)
    assert [row["current"] for row in laptop.get("/api/v1/me/sessions/").json()["results"]] == [
        True
    ]


def test_a_session_signed_out_answers_the_api_401(two_tenants):
    viewer = two_tenants["a_viewer"]
    laptop, phone = browser(viewer), browser(viewer, SAFARI_IPHONE)
    laptop.delete("/api/v1/me/sessions/others/")
    answer = phone.get("/api/v1/me/")
    assert answer.status_code == 401 and answer.json()["error"] == "session_ended"


def test_nobody_ends_or_sees_someone_elses_session_as_their_own(two_tenants):
    viewer, other = two_tenants["a_viewer"], two_tenants["b_viewer"]
    mine = browser(viewer)
    theirs = browser(other)
    (their_record,) = records(other)

    assert mine.delete(f"/api/v1/me/sessions/{their_record.pk}/").status_code == 404
    assert mine.get(f"/api/v1/me/sessions/{their_record.pk}/").status_code == 404
    assert mine.post(f"/account/sessions/{their_record.pk}/end/").status_code == 404
    assert mine.delete("/api/v1/me/sessions/not-a-uuid/").status_code == 404
    assert signed_in(theirs)


# --- administrators --------------------------------------------------------------------------
def test_customer_admin_ends_a_members_sessions_page_and_api(two_tenants):
    admin, viewer = two_tenants["a_admin"], two_tenants["a_viewer"]
    admin_browser = browser(admin)
    first, second = browser(viewer), browser(viewer, SAFARI_IPHONE)
    member = membership_of(viewer)

    listed = admin_browser.get(f"/api/v1/tenants/tenant-a/members/{member.pk}/sessions/")
    assert listed.status_code == 200 and len(listed.json()) == 2

    response = admin_browser.post(f"/settings/members/{member.pk}/sessions/end/", follow=True)
    assert "2 sessions ended." in response.content.decode()
    assert not signed_in(first) and not signed_in(second)
    rows = audit_rows("auth.session_ended", actor=admin)
    assert len(rows) == 2 and {row.data["reason"] for row in rows} == {"admin"}

    third = browser(viewer)
    deleted = admin_browser.delete(f"/api/v1/tenants/tenant-a/members/{member.pk}/sessions/")
    assert deleted.status_code == 200 and deleted.json() == {"ended": 1}
    assert not signed_in(third)
    assert signed_in(admin_browser)


def test_customer_admin_cannot_reach_another_tenants_members_or_staff_sessions(two_tenants):
    admin = browser(two_tenants["a_admin"])
    b_viewer, analyst = two_tenants["b_viewer"], two_tenants["analyst_a"]
    theirs, staff = browser(b_viewer), browser(analyst)
    b_member = membership_of(b_viewer)

    for path in (
        f"/api/v1/tenants/tenant-b/members/{b_member.pk}/sessions/",
        f"/api/v1/tenants/tenant-a/members/{b_member.pk}/sessions/",
    ):
        assert admin.get(path).status_code == 404
        assert admin.delete(path).status_code == 404
    assert admin.post(f"/settings/members/{b_member.pk}/sessions/end/").status_code == 404
    assert (
        admin.post(f"/settings/members/{b_member.pk}/sessions/end/?tenant=tenant-b").status_code
        == 404
    )
    assert admin.delete(f"/api/v1/staff/{analyst.pk}/sessions/").status_code == 403
    assert admin.get(f"/api/v1/staff/{analyst.pk}/sessions/").status_code == 403
    assert signed_in(theirs) and signed_in(staff)
    assert audit_rows("auth.session_ended") == []


def test_viewers_and_responders_cannot_end_others_sessions(two_tenants):
    victim = two_tenants["a_admin"]
    victims_browser = browser(victim)
    member = membership_of(victim)
    for role in ("a_viewer", "a_responder"):
        client = browser(two_tenants[role])
        path = f"/api/v1/tenants/tenant-a/members/{member.pk}/sessions/"
        assert client.delete(path).status_code == 403
        assert client.get(path).status_code == 403
        assert client.post(f"/settings/members/{member.pk}/sessions/end/").status_code == 403
    assert signed_in(victims_browser)


def test_mssp_admin_ends_staff_and_member_sessions_a_manager_does_not(two_tenants):
    mssp_admin = browser(two_tenants["mssp_admin"])
    manager = browser(StaffFactory(staff_role="manager"))
    analyst = two_tenants["analyst_a"]
    staff_browser = browser(analyst)

    assert manager.delete(f"/api/v1/staff/{analyst.pk}/sessions/").status_code == 403
    assert signed_in(staff_browser)
    listed = mssp_admin.get(f"/api/v1/staff/{analyst.pk}/sessions/")
    assert listed.status_code == 200 and listed.json()[0]["device"] == "Firefox 128 on Windows"
    assert mssp_admin.delete(f"/api/v1/staff/{analyst.pk}/sessions/").json() == {"ended": 1}
    assert not signed_in(staff_browser)

    viewer_browser = browser(two_tenants["b_viewer"])
    member = membership_of(two_tenants["b_viewer"])
    path = f"/api/v1/tenants/tenant-b/members/{member.pk}/sessions/"
    assert mssp_admin.delete(path).status_code == 200
    assert not signed_in(viewer_browser)
    (row,) = audit_rows("auth.session_ended", tenant=two_tenants["b"])
    assert row.actor_id == two_tenants["mssp_admin"].pk


def test_a_token_needs_the_admin_scope_to_end_sessions(two_tenants, api):
    viewer = two_tenants["a_viewer"]
    browser(viewer)
    reader = api(two_tenants["a_admin"], scopes=["read"])
    member = membership_of(viewer)
    path = f"/api/v1/tenants/tenant-a/members/{member.pk}/sessions/"
    assert reader.get(path).status_code == 200
    assert reader.delete(path).status_code == 403
    assert api(two_tenants["a_admin"]).delete(path).status_code == 200


# --- timeouts --------------------------------------------------------------------------------
def test_idle_timeout_signs_out_with_a_message_and_an_audit_entry(two_tenants, settings):
    settings.SESSION_IDLE_MINUTES = 30
    viewer = two_tenants["a_viewer"]
    with time_machine.travel(timezone.now(), tick=False) as clock:
        client = browser(viewer)
        clock.shift(timedelta(minutes=29))
        assert signed_in(client)  # activity: the idle clock starts again
        clock.shift(timedelta(minutes=29))
        assert signed_in(client)
        clock.shift(timedelta(minutes=31))
        answer = client.get("/incidents/", follow=True)
    text = answer.content.decode()
    assert answer.redirect_chain[0][0].startswith("/login/")
    assert "signed out after a period of inactivity" in text
    (row,) = audit_rows("auth.session_timeout")
    assert row.data["reason"] == "idle" and row.tenant_id == two_tenants["a"].pk
    assert records(viewer)[0].end_reason == "idle"
    assert audit_rows("auth.logout") == []  # not the user's own logout


def test_absolute_timeout_ends_even_a_busy_session(two_tenants, settings):
    settings.SESSION_IDLE_MINUTES = 30
    settings.SESSION_ABSOLUTE_MINUTES = 120
    staff = two_tenants["analyst_a"]
    with time_machine.travel(timezone.now(), tick=False) as clock:
        client = browser(staff)
        for _ in range(5):  # 100 minutes, never idle
            clock.shift(timedelta(minutes=20))
            assert signed_in(client)
        clock.shift(timedelta(minutes=21))
        answer = client.get("/account/sessions/", follow=True)
    assert "reached its maximum length" in answer.content.decode()
    (row,) = audit_rows("auth.session_timeout")
    assert row.data["reason"] == "absolute" and row.tenant_id is None


def test_a_tenant_sets_stricter_limits_for_its_users_only(two_tenants, settings):
    settings.SESSION_IDLE_MINUTES = 60
    admin, viewer, analyst = (two_tenants[k] for k in ("a_admin", "a_viewer", "analyst_a"))
    with time_machine.travel(timezone.now(), tick=False) as clock:
        admin_browser = browser(admin)
        already = browser(viewer)  # signed in before the change: follows it too
        staff = browser(analyst)
        response = admin_browser.post(
            "/settings/sessions/",
            {"session_idle_minutes": "10", "session_absolute_minutes": ""},
            follow=True,
        )
        assert "Session limits saved." in response.content.decode()
        later = browser(two_tenants["a_responder"])
        other_tenant = browser(two_tenants["b_viewer"])
        clock.shift(timedelta(minutes=11))
        assert not signed_in(already) and not signed_in(later)
        assert signed_in(staff) and signed_in(other_tenant)
    (row,) = audit_rows("tenant.session_limits")
    assert row.data["session_idle_minutes"] == {"from": None, "to": 10}


def test_a_tenant_cannot_set_looser_limits_than_the_mssps(two_tenants, settings):
    settings.SESSION_IDLE_MINUTES = 60
    settings.SESSION_ABSOLUTE_MINUTES = 600
    admin = browser(two_tenants["a_admin"])
    page = admin.post("/settings/sessions/", {"session_idle_minutes": "61"})
    assert page.status_code == 400 and "At most 60 minutes" in page.content.decode()
    path = "/api/v1/tenants/tenant-a/session-limits/"
    for body in (
        {"session_absolute_minutes": 601},
        {"session_idle_minutes": 0},
        {"session_idle_minutes": "soon"},
        {"session_idle_minutes": 10**20},
    ):
        answer = admin.patch(path, body, content_type="application/json")
        assert answer.status_code == 400, body
        assert answer.json()["error"]
    ok = admin.patch(path, {"session_absolute_minutes": 600}, content_type="application/json")
    assert ok.status_code == 200 and ok.json()["session_absolute_minutes"] == 600
    assert ok.json()["mssp_idle_minutes"] == 60
    cleared = admin.patch(path, {"session_absolute_minutes": None}, content_type="application/json")
    assert cleared.json()["session_absolute_minutes"] is None


def test_only_a_tenants_admins_set_its_limits(two_tenants):
    path_b = "/api/v1/tenants/tenant-b/session-limits/"
    a_admin = browser(two_tenants["a_admin"])
    assert a_admin.get(path_b).status_code == 404
    assert (
        a_admin.patch(
            path_b, {"session_idle_minutes": 5}, content_type="application/json"
        ).status_code
        == 404
    )
    viewer = browser(two_tenants["a_viewer"])
    path_a = "/api/v1/tenants/tenant-a/session-limits/"
    assert viewer.get(path_a).status_code == 200
    refused = viewer.patch(path_a, {"session_idle_minutes": 5}, content_type="application/json")
    assert refused.status_code == 403
    assert viewer.post("/settings/sessions/", {"session_idle_minutes": "5"}).status_code == 403
    analyst = browser(two_tenants["analyst_a"])
    assert (
        analyst.patch(
            path_a, {"session_idle_minutes": 5}, content_type="application/json"
        ).status_code
        == 403
    )
    mssp_admin = browser(two_tenants["mssp_admin"])
    done = mssp_admin.patch(path_b, {"session_idle_minutes": 5}, content_type="application/json")
    assert done.status_code == 200


# --- the audit log ---------------------------------------------------------------------------
def test_login_logout_failure_and_password_change_are_audited_with_address_and_device(
    two_tenants,
):
    viewer = two_tenants["a_viewer"]
    client = Client(HTTP_USER_AGENT=FIREFOX)
    client.post("/login/", {"username": viewer.username, "password": "wrong"})
    client.post("/login/", {"username": viewer.username, "password": PASSWORD})
    client.post(
        "/password/",
        {
            "old_password": PASSWORD,
            "new_password1": "another-Long-passphrase-7",
            "new_password2": "another-Long-passphrase-7",
        },
    )
    assert signed_in(client)  # the key rotated; the record followed it
    client.post("/logout/")
    for action in ("auth.login_failed", "auth.login", "auth.password_changed", "auth.logout"):
        (row,) = audit_rows(action)
        assert row.ip == "127.0.0.1" and row.data["device"] == "Firefox 128 on Windows", action
        assert row.tenant_id == two_tenants["a"].pk
    (record,) = records(viewer)
    assert record.end_reason == "logout" and record.ended_at is not None
    assert audit_rows("auth.session_ended") == []


# --- new devices -----------------------------------------------------------------------------
@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """Call, then run what it left for after its commit (the e-mail's task)."""

    def call(function, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return function(*args, **kwargs)

    return call


def test_new_device_email_once_per_new_device(two_tenants, committed):
    viewer = two_tenants["a_viewer"]
    laptop = committed(browser, viewer, FIREFOX)
    assert mail.outbox == []  # the first device of all: nothing to compare with
    assert laptop.cookies["mssp_device"]["httponly"]

    phone = committed(browser, viewer, SAFARI_IPHONE)
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [viewer.email]
    assert "Safari 17 on iPhone" in message.body and "127.0.0.1" in message.body
    assert "/account/sessions/" in message.body

    committed(browser, viewer, SAFARI_IPHONE, device_of=phone)  # the same phone again
    committed(browser, viewer, FIREFOX, device_of=laptop)
    assert len(mail.outbox) == 1
    assert KnownDevice.objects.filter(user=viewer).count() == 2
    # The cookie is the browser's: another user on the laptop is new to *them*.
    committed(browser, two_tenants["a_admin"], FIREFOX, device_of=laptop)
    assert len(mail.outbox) == 1  # ... but their first device ever


def test_new_device_emails_can_be_switched_off(two_tenants, committed):
    viewer = two_tenants["a_viewer"]
    laptop = committed(browser, viewer)
    page = laptop.get("/account/sessions/")
    assert 'name="notify_new_device"' in page.content.decode()
    assert "checked" in page.content.decode()
    laptop.post("/account/sessions/", {})  # the box unticked
    viewer.refresh_from_db()
    assert viewer.notify_new_device is False
    committed(browser, viewer, SAFARI_IPHONE)
    assert mail.outbox == []
    (row,) = audit_rows("auth.new_device_notices")
    assert row.data == {"notify_new_device": False}

    laptop.post("/account/sessions/", {"notify_new_device": "on"})
    committed(browser, viewer, CHROME_LINUX)
    assert len(mail.outbox) == 1


def test_a_forged_device_cookie_is_a_new_device(two_tenants, committed):
    viewer = two_tenants["a_viewer"]
    committed(browser, viewer)
    forged = Client(HTTP_USER_AGENT=FIREFOX)
    forged.cookies["mssp_device"] = "x" * 43
    committed(forged.post, "/login/", {"username": viewer.username, "password": PASSWORD})
    assert len(mail.outbox) == 1


# --- the parts that must hold ----------------------------------------------------------------
def test_a_session_without_a_record_gets_one(two_tenants, django_capture_on_commit_callbacks):
    """Signed in before sessions had records: its next request makes one (and, no sign-in
    having happened there, sends no new-device e-mail)."""
    viewer = two_tenants["a_viewer"]
    browser(viewer)
    client = browser(viewer, SAFARI_IPHONE)
    session = client.session
    del session[sessions.SESSION_RECORD]
    session.save()
    UserSession.objects.all().delete()
    KnownDevice.objects.filter(user=viewer).delete()
    KnownDevice.objects.create(user=viewer, digest="0" * 64)  # another browser, known
    with django_capture_on_commit_callbacks(execute=True):
        assert signed_in(client)
    assert len(records(viewer)) == 1
    assert mail.outbox == []


def test_removing_a_member_still_signs_them_out(two_tenants):
    viewer = two_tenants["a_viewer"]
    client = browser(viewer)
    admin = browser(two_tenants["a_admin"])
    admin.post(f"/settings/members/{membership_of(viewer).pk}/remove/")
    assert not signed_in(client)
    assert [record.end_reason for record in records(viewer)] == ["admin"]


def test_a_signed_in_request_reads_its_session_row_once_and_writes_it_once_a_minute(two_tenants):
    """The cost of sessions on every request: one small read by primary key; an update at most
    once a minute per session (last seen)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    table = UserSession._meta.db_table

    def session_queries(client: Client) -> list[str]:
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/account/sessions/").status_code == 200
        return [q["sql"].split()[0] for q in captured if table in q["sql"]]

    with time_machine.travel(timezone.now(), tick=False) as clock:
        client = browser(two_tenants["a_viewer"])
        # the middleware's read, and the page's own list of the user's sessions
        assert session_queries(client) == ["SELECT", "SELECT"]
        clock.shift(timedelta(seconds=61))
        assert session_queries(client) == ["SELECT", "UPDATE", "SELECT"]
        clock.shift(timedelta(seconds=30))
        assert session_queries(client) == ["SELECT", "SELECT"]
