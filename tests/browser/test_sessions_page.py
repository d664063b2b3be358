"""The sessions page in a real browser (issue 13, "Sessions"): a user ends their session in
another browser from /account/sessions/; that browser's live stream stops at once and its next
page is the login page saying why. A customer admin sets a stricter idle limit."""

from __future__ import annotations

from urllib.parse import urlparse

from tests.browser.support import wait_live
from tests.browser.test_csp import visit, watch_csp


def test_ending_the_other_browsers_session_signs_it_out_and_stops_its_stream(
    personas, page_as, screenshot
):
    laptop = page_as(personas["a_viewer"])
    phone = page_as(personas["a_viewer"])
    wait_live(phone)

    console = watch_csp(laptop)
    problems: list[str] = []
    visit(laptop, "/account/sessions/", problems)
    rows = laptop.locator("tr[data-row]")
    assert rows.count() == 2
    assert laptop.locator(".badge", has_text="this session").count() == 1
    screenshot(laptop, "sessions-page")
    with laptop.expect_navigation():
        laptop.get_by_role("button", name="End all other sessions (1)").click()
    assert "1 other session ended." in laptop.locator(".messages").inner_text()
    assert laptop.locator("tr[data-row]").count() == 1

    phone.locator("[data-live-status]").filter(has_text="Signed out").wait_for(timeout=10_000)
    phone.reload()
    assert urlparse(phone.url).path == "/login/"
    assert "ended from your sessions page" in phone.locator(".messages").inner_text()
    screenshot(phone, "session-ended-elsewhere")
    assert not problems + console, "\n".join(problems + console)


def test_a_customer_admin_sets_a_stricter_idle_limit(personas, page_as, screenshot):
    page = page_as(personas["a_admin"])
    console = watch_csp(page)
    problems: list[str] = []
    visit(page, "/settings/sessions/", problems)
    page.get_by_label("Idle limit (minutes)").fill("15")
    with page.expect_navigation():
        page.get_by_role("button", name="Save limits").click()
    assert "Session limits saved." in page.locator(".messages").inner_text()
    assert page.get_by_label("Idle limit (minutes)").input_value() == "15"
    screenshot(page, "session-limits")
    assert not problems + console, "\n".join(problems + console)
