"""Security keys (WebAuthn) in Chromium, with the browser's virtual authenticator (CDP
WebAuthn.addVirtualAuthenticator: CTAP2, internal, user verification on) standing in for a key
or a phone's passkey: an MSSP analyst held at enrolment adds a key by name on the page, logs
out, and signs in with the password and the key; the key is their only factor, and it passes
the mandatory second factor.

WebAuthn needs a secure context and refuses an IP address as the relying party: these pages
are opened at http://localhost:<port> (fido2 and Chromium take http on localhost, and nothing
else), not at the live portal's 127.0.0.1."""

from __future__ import annotations

from urllib.parse import urlparse

from tests.browser.support import header_user, log_out
from tests.browser.test_csp import collect, visit, watch_csp
from tests.browser.test_second_factor import ACTIVATE, AUTHENTICATE, password_step

ADD_KEY = "/accounts/2fa/webauthn/add/"


def localhost_page(pages, live_portal):
    """A fresh browser context at http://localhost:<port>, with a virtual authenticator."""
    before = pages.base_url
    pages.base_url = live_portal.url.replace("127.0.0.1", "localhost", 1)
    try:
        page = pages.open()
    finally:
        pages.base_url = before
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
            }
        },
    )
    return page


def test_an_analyst_enrols_a_key_and_signs_in_with_it(
    personas, _pages, live_portal, password_hash, screenshot
):
    from allauth.mfa.models import Authenticator

    from tests.browser.conftest import give_password

    user = personas["analyst_a"]  # MSSP staff: a second factor is mandatory, none yet
    give_password(user, password_hash)
    page = localhost_page(_pages, live_portal)
    console = watch_csp(page)
    problems: list[str] = []
    password_step(page, user.username)
    assert urlparse(page.url).path == ACTIVATE  # held at enrolment
    with page.expect_navigation():
        page.get_by_role("link", name="Use a security key or passkey instead").click()
    assert urlparse(page.url).path == ADD_KEY
    collect(page, problems)
    page.get_by_label("Name of the key").fill("Desk key")
    screenshot(page, "add-key")
    with page.expect_navigation():
        page.get_by_role("button", name="Add", exact=True).click()
    # the first factor brings recovery codes with it; the session has given its second factor
    assert urlparse(page.url).path == "/accounts/2fa/recovery-codes/"
    keys = Authenticator.objects.filter(user=user)
    assert {k.type for k in keys} == {"webauthn", "recovery_codes"}
    assert keys.get(type="webauthn").wrap().name == "Desk key"
    visit(page, "/accounts/2fa/", problems)
    assert "Desk key" in page.locator("[data-security-keys]").inner_text()
    page.goto("/incidents/")
    assert urlparse(page.url).path == "/incidents/"
    log_out(page)

    # password, then the key: the key is this account's only factor, and it is enough
    password_step(page, user.username)
    assert urlparse(page.url).path == AUTHENTICATE
    collect(page, problems)
    screenshot(page, "second-factor-step")
    with page.expect_navigation():
        page.get_by_role("button", name="Use a security key").click()
    assert urlparse(page.url).path not in ("/login/", AUTHENTICATE, ACTIVATE)
    assert header_user(page) == user.username
    page.goto("/incidents/")
    assert urlparse(page.url).path == "/incidents/"
    api = page.request.get("/api/v1/incidents/")
    assert api.status == 200
    assert not problems and not console, problems + console
    screenshot(page, "signed-in-with-key")
