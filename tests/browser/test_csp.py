"""The pages work under the Content-Security-Policy (mssp/settings.py), in Chromium: every page
each persona is offered, the login page, the incident page, the API docs (Swagger UI) and the
Django admin load with no `securitypolicyviolation` event and no CSP message in the console, and
what depends on script still works: htmx swaps a live refresh in, the websocket connects
(connect-src), Swagger UI renders the schema."""

from __future__ import annotations

import pytest

from tests.browser.support import expected_nav, wait_live
from tests.browser.test_scenarios import LIVE_MS, _post_alert

# Runs before any script of each document (Playwright's init scripts are not subject to the
# page's policy) and keeps every violation the document reports.
LISTEN = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.cspViolations.push(
    `${e.effectiveDirective} refused ${e.blockedURI || "inline"} (${e.sample || ""}) ` +
    `at ${e.sourceFile || e.documentURI}:${e.lineNumber}`
  );
});
"""


def watch_csp(page) -> list[str]:
    """From the next navigation on, violations of `page`'s documents; console messages about
    the policy (of any level) go to the returned list at once."""
    console: list[str] = []
    page.context.add_init_script(LISTEN)
    page.on(
        "console",
        lambda msg: (
            console.append(f"console.{msg.type}: {msg.text} at {page.url}")
            if "Content Security Policy" in msg.text or "Content-Security-Policy" in msg.text
            else None
        ),
    )
    return console


def visit(page, path: str, problems: list[str]) -> None:
    response = page.goto(path)
    assert response is not None and response.status == 200, (
        f"{path}: {response and response.status}"
    )
    assert "default-src 'none'" in response.headers.get("content-security-policy", ""), path
    page.wait_for_load_state("networkidle")
    collect(page, problems)


def collect(page, problems: list[str]) -> None:
    found = page.evaluate("() => window.cspViolations || null")
    assert found is not None, f"{page.url}: the violation listener is not installed"
    problems.extend(f"{page.url}: {v}" for v in found)


def test_login_page_works_under_the_policy(new_page, screenshot):
    page = new_page("/login/")
    console = watch_csp(page)
    problems: list[str] = []
    visit(page, "/login/", problems)
    assert page.evaluate("() => typeof window.htmx") == "object"
    screenshot(page, "login")
    assert not problems + console, "\n".join(problems + console)


@pytest.mark.parametrize("persona", ["analyst_a", "manager", "a_admin", "a_viewer"])
def test_every_offered_page_works_under_the_policy(
    persona, personas, page_as, screenshot, live_portal
):
    user = personas[persona]
    page = page_as(user)
    console = watch_csp(page)
    problems: list[str] = []
    nav = expected_nav(user)
    for entry in nav["main"] + nav["settings"]:
        visit(page, entry["url"], problems)
    visit(page, "/password/", problems)
    screenshot(page, "password")
    assert not problems + console, "\n".join(problems + console)


def test_live_updates_and_htmx_work_under_the_policy(personas, page_as, screenshot, live_portal):
    """The websocket connects (connect-src 'self' covers ws://), a stream event makes htmx
    fetch and swap the queue's rows in, and the incident page it links to loads clean."""
    page = page_as(personas["analyst_a"])
    console = watch_csp(page)
    problems: list[str] = []
    visit(page, "/console/", problems)
    wait_live(page)
    title = "CSP: live row"
    _post_alert(live_portal, personas["a_key"], title)
    row = page.locator("#incident-rows").get_by_text(title)
    row.wait_for(timeout=LIVE_MS)
    collect(page, problems)
    screenshot(page, "console-live-row")
    with page.expect_navigation():
        row.click()
    page.wait_for_load_state("networkidle")
    assert "/incidents/" in page.url
    collect(page, problems)
    screenshot(page, "incident")
    assert not problems + console, "\n".join(problems + console)


def test_api_docs_and_admin_work_under_the_policy(personas, page_as, screenshot, live_portal):
    page = page_as(personas["mssp_admin"])
    console = watch_csp(page)
    problems: list[str] = []
    visit(page, "/api/docs/", problems)
    # Swagger UI rendered the schema it fetched: the title and the operations.
    page.get_by_text("MSSP portal API").first.wait_for()
    page.locator(".opblock").first.wait_for()
    collect(page, problems)
    screenshot(page, "api-docs")
    for path in ("/admin/", "/admin/tenants/tenant/", "/admin/tenants/tenant/add/"):
        visit(page, path, problems)
        screenshot(page, path.strip("/").replace("/", "-"))
    assert not problems + console, "\n".join(problems + console)
