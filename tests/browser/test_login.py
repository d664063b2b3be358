"""Logging in and out in a real browser: each persona through the login form lands on its first
page with its own name in the header and only the navigation its role allows; a wrong password
gets an error and no session; logging out ends the session; the live stream connects and
delivers the tenant's events."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from tests.browser.support import (
    PASSWORD,
    expected_nav,
    header_user,
    landing_path,
    log_in,
    log_out,
    nav_labels,
    record_stream_events,
    wait_for_stream_event,
    wait_live,
)

# Entries a persona must never be offered, whatever pages exist (what each persona is offered is
# also exactly what mssp/navigation.py decides for it, which changes as pages are added): the
# MSSP's own pages are not for customers, the in-house inbox is for customers' responders and
# admins, a tenant's administration is for its admins (customer or MSSP).
MSSP_ONLY = {"Queue", "SLA health"}
ADMIN_ONLY = {"Members", "Intake sources", "Audit log"}
NEVER = {  # persona: (labels it must not see, whether it has the Django admin link)
    "analyst_a": ({"Inbox", "SLA health"} | ADMIN_ONLY, False),
    "outsider": ({"Inbox", "SLA health"} | ADMIN_ONLY, False),
    "lead": ({"Inbox"} | ADMIN_ONLY, False),
    "manager": ({"Inbox"} | ADMIN_ONLY, False),
    "mssp_admin": ({"Inbox"}, True),
    "a_admin": (MSSP_ONLY, False),
    "a_responder": (MSSP_ONLY | ADMIN_ONLY, False),
    "a_viewer": (MSSP_ONLY | ADMIN_ONLY | {"Inbox"}, False),
    "b_admin": (MSSP_ONLY, False),
    "b_viewer": (MSSP_ONLY | ADMIN_ONLY | {"Inbox"}, False),
}


def _session_cookie(page) -> str | None:
    return next((c["value"] for c in page.context.cookies() if c["name"] == "sessionid"), None)


@pytest.mark.parametrize("persona", list(NEVER))
def test_persona_logs_in_through_the_form_and_sees_only_its_navigation(
    persona, personas, page_as, screenshot
):
    user = personas[persona]
    page = page_as(user)

    assert urlparse(page.url).path == landing_path(user)
    assert header_user(page) == user.username
    assert _session_cookie(page)

    never, django_admin = NEVER[persona]
    offered = expected_nav(user)
    shown_main, shown_settings = nav_labels(page, "main"), nav_labels(page, "settings")
    assert shown_main == [entry["label"] for entry in offered["main"]]
    assert shown_settings == [entry["label"] for entry in offered["settings"]]
    wrong = (set(shown_main) | set(shown_settings)) & never
    assert not wrong, f"{persona} is offered {wrong}"
    admin_links = page.locator('header details.menu a[href="/admin/"]')
    assert admin_links.count() == (1 if django_admin else 0)

    page.locator("header details.menu > summary").click()  # the account menu, opened
    screenshot(page, f"{persona}-landing")


def test_wrong_password_shows_an_error_and_opens_no_session(personas, new_page, screenshot):
    page = new_page("/login/")
    screenshot(page, "login-form")
    log_in(page, personas["a_viewer"].username, "not-the-password", expect_success=False)

    assert urlparse(page.url).path == "/login/"
    error = page.get_by_role("alert")
    assert error.is_visible() and "username" in error.inner_text().lower()
    assert page.get_by_label("Username").input_value() == personas["a_viewer"].username
    assert page.get_by_label("Password").input_value() == ""
    assert _session_cookie(page) is None
    assert page.locator("header details.menu").count() == 0  # no account menu: nobody
    screenshot(page, "wrong-password")

    page.goto("/")  # and the portal still asks who you are
    assert urlparse(page.url).path == "/login/"


def test_logout_ends_the_session(personas, page_as, screenshot):
    from django.contrib.sessions.models import Session

    user = personas["analyst_a"]
    page = page_as(user)
    session_key = _session_cookie(page)
    assert Session.objects.filter(session_key=session_key).exists()

    log_out(page)

    assert urlparse(page.url).path == "/login/"
    assert page.locator("header details.menu").count() == 0
    assert not Session.objects.filter(session_key=session_key).exists()
    screenshot(page, "logged-out")
    landing = landing_path(user)
    page.goto(landing)  # the page it was on now wants a login
    assert urlparse(page.url).path == "/login/"
    assert parse_qs(urlparse(page.url).query)["next"] == [landing]


def test_login_returns_to_the_page_asked_for(personas, new_page, screenshot):
    user = personas["a_admin"]
    page = new_page("/password/")
    assert urlparse(page.url).path == "/login/"
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Log in").click()
    assert urlparse(page.url).path == "/password/"
    assert header_user(page) == user.username
    screenshot(page, "password-page-after-login")


def test_live_stream_connects_and_delivers_the_tenants_events(
    personas, page_as, screenshot, live_portal
):
    page = page_as(personas["a_viewer"])
    wait_live(page)
    status = page.locator("[data-live-status]")
    assert status.is_visible() and status.inner_text() == "Live"
    record_stream_events(page)

    response = httpx.post(
        f"{live_portal.url}/api/v1/intake/generic/",
        json={"title": "Browser test: ransomware note", "severity": "critical"},
        headers={"Authorization": f"Bearer {personas['a_key']}"},
        timeout=10,
    )
    assert response.status_code == 202, response.text
    alert_id = response.json()["alerts"][0]

    event = wait_for_stream_event(page, "alert.created", id=alert_id)
    assert event["tenant"] == personas["a"].slug
    screenshot(page, "live")


def test_logging_out_in_another_tab_ends_the_live_stream_and_says_so(personas, page_as, screenshot):
    """The socket closes with 4401 when its session ends; the page stops reconnecting and
    says it is signed out rather than "Reconnecting…" forever."""
    page = page_as(personas["a_viewer"])
    wait_live(page)
    other = page.context.new_page()
    other.goto(page.url)
    log_out(other)
    status = page.locator("[data-live-status]")
    status.filter(has_text="Signed out").wait_for(timeout=10_000)
    assert page.get_attribute("body", "data-live-ready") is None
    screenshot(page, "signed-out-elsewhere")
