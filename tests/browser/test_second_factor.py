"""The second factor in Chromium: enrolling with the QR code's secret, signing in with a TOTP
code and with a recovery code (once), and an MSSP analyst without a device held at enrolment."""

from __future__ import annotations

from urllib.parse import urlparse

from tests.browser.support import PASSWORD, give_code, log_in, log_out
from tests.browser.test_csp import collect, visit, watch_csp
from tests.mfa import enrol, recovery_codes, totp_code

AUTHENTICATE = "/accounts/2fa/authenticate/"
ACTIVATE = "/accounts/2fa/totp/activate/"


def password_step(page, username: str) -> None:
    page.goto("/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Log in").click()


def test_enrolment_reads_the_secret_of_the_qr_code_and_confirms_a_code(
    personas, page_as, screenshot
):
    user = personas["a_viewer"]  # a customer whose tenant does not require one: opts in
    page = page_as(user)
    problems: list[str] = []
    console = watch_csp(page)
    for path in ("/accounts/2fa/", ACTIVATE):  # the portal's CSP holds on these pages too
        visit(page, path, problems)
    assert page.locator(".qr svg").is_visible()
    secret = page.locator("#authenticator_secret").input_value()
    assert len(secret) >= 16
    screenshot(page, "totp-enrolment")
    page.get_by_label("Code from the app").fill(totp_code(secret))
    with page.expect_navigation():
        page.get_by_role("button", name="Activate").click()
    assert urlparse(page.url).path == "/accounts/2fa/recovery-codes/"
    shown = page.locator("[data-recovery-codes] code").all_inner_texts()
    assert shown and set(shown) == set(recovery_codes(user))
    collect(page, problems)
    assert not problems and not console, problems + console
    screenshot(page, "recovery-codes")
    log_out(page)
    # the next sign-in asks for the code of the app just set up
    log_in(page, user.username)
    assert urlparse(page.url).path not in ("/login/", AUTHENTICATE)
    assert page.locator("header details.menu > summary").inner_text().strip() == user.username


def test_login_with_a_totp_code(personas, new_page, screenshot):
    user = personas["analyst_a"]
    enrol(user)
    page = new_page("/login/")
    password_step(page, user.username)
    assert urlparse(page.url).path == AUTHENTICATE
    assert page.locator("header details.menu").count() == 0  # not signed in yet
    screenshot(page, "second-factor-step")
    give_code(page, user.username, button="Verify")
    assert urlparse(page.url).path not in ("/login/", AUTHENTICATE)
    assert page.locator("header details.menu > summary").inner_text().strip() == user.username


def test_a_recovery_code_signs_in_once(personas, new_page, screenshot):
    user = personas["a_responder"]
    enrol(user)
    code = recovery_codes(user)[0]
    page = new_page("/login/")
    password_step(page, user.username)
    page.get_by_label("Code").fill(code)
    with page.expect_navigation():
        page.get_by_role("button", name="Verify").click()
    assert urlparse(page.url).path != AUTHENTICATE
    log_out(page)
    password_step(page, user.username)
    page.get_by_label("Code").fill(code)
    with page.expect_navigation():
        page.get_by_role("button", name="Verify").click()
    assert urlparse(page.url).path == AUTHENTICATE
    assert "Incorrect code" in page.get_by_role("alert").inner_text()
    assert page.locator("header details.menu").count() == 0
    screenshot(page, "recovery-code-reused")


def test_an_analyst_without_a_device_is_held_at_enrolment(personas, new_page, screenshot):
    user = personas["analyst_a"]
    page = new_page("/login/")
    password_step(page, user.username)
    assert urlparse(page.url).path == ACTIVATE
    page.goto("/incidents/")  # the queue
    assert urlparse(page.url).path == ACTIVATE
    assert "second factor" in page.locator("main").inner_text().lower()
    api = page.request.get("/api/v1/incidents/")
    assert api.status == 403 and api.json()["error"] == "second_factor_required"
    screenshot(page, "enrolment-required")
    # setting it up lets the same session in
    secret = page.locator("#authenticator_secret").input_value()
    page.get_by_label("Code from the app").fill(totp_code(secret))
    with page.expect_navigation():
        page.get_by_role("button", name="Activate").click()
    page.goto("/incidents/")
    assert urlparse(page.url).path == "/incidents/"
