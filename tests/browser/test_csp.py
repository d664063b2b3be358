"""The pages work under the Content-Security-Policy (mssp/settings.py), in Chromium: the login
page, the incident page, the API docs (Swagger UI) and the Django admin load with no
`securitypolicyviolation` event and no CSP message in the console, and what depends on script
still works: htmx swaps a live refresh in, the websocket connects (connect-src), Swagger UI
renders the schema. Every page each persona is offered is checked the same way by the tour
(test_scenarios.test_every_offered_page_renders_for_each_persona), which visits them anyway."""

from __future__ import annotations

from tests.browser.support import collect_csp as collect
from tests.browser.support import wait_live, watch_csp
from tests.browser.test_scenarios import LIVE_MS, _post_alert


def visit(page, path: str, problems: list[str]) -> None:
    response = page.goto(path)
    assert response is not None and response.status == 200, (
        f"{path}: {response and response.status}"
    )
    assert "default-src 'none'" in response.headers.get("content-security-policy", ""), path
    page.wait_for_load_state("networkidle")
    collect(page, problems)


def test_login_page_works_under_the_policy(new_page, screenshot):
    page = new_page("/login/")
    console = watch_csp(page)
    problems: list[str] = []
    visit(page, "/login/", problems)
    assert page.evaluate("() => typeof window.htmx") == "object"
    screenshot(page, "login")
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
