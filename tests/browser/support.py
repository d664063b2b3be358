"""What the browser tests share besides fixtures: where Chromium is, the password every persona
has, logging in through the real form, reading the header, waiting for the live stream, and a
small Celery beat runner. Fixtures are in tests/browser/conftest.py."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.live import PYTHON, ROOT, _tail, running_process

PASSWORD = "correct-horse-battery"  # every persona's (tests.factories uses the same)
SCREENSHOTS = ROOT / "var" / "screenshots"
# one folder per pytest-xdist worker: each runs its own servers, and wipes its folder first
LOGS = ROOT / "var" / "browser-logs" / os.environ.get("PYTEST_XDIST_WORKER", "main")
TIMEOUT_MS = 15_000  # Playwright's default wait for any one action or expectation


def chromium_path() -> str | None:
    """Debian's Chromium (`apt-get install chromium`), or MSSP_CHROMIUM when set."""
    wanted = os.environ.get("MSSP_CHROMIUM")
    candidates = [wanted] if wanted else ["/usr/bin/chromium", shutil.which("chromium")]
    for candidate in candidates:
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def browser_missing() -> str:
    """Why the browser tests cannot run here ("" when they can)."""
    reasons = []
    if importlib.util.find_spec("playwright") is None:
        reasons.append("the playwright package is not installed (make install)")
    if chromium_path() is None:
        where = os.environ.get("MSSP_CHROMIUM") or "/usr/bin/chromium"
        reasons.append(f"no Chromium at {where} (apt-get install chromium)")
    return "; ".join(reasons)


# --- in the page ---------------------------------------------------------------------------------
def log_in(page, username: str, password: str = PASSWORD, *, expect_success: bool = True):
    """Fill and submit the real login form at /login/, then, when the account has a second
    factor, the code of its authenticator app (computed from its secret as the app would).
    On success, waits until the browser has left the login pages (the landing page the portal
    chose) and returns the page."""
    page.goto("/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    with page.expect_navigation():
        page.get_by_role("button", name="Log in").click()
    if "/accounts/2fa/authenticate/" in page.url:
        give_code(page, username, button="Verify")
    if expect_success:
        if "/login/" in page.url or "/accounts/2fa/authenticate/" in page.url:
            errors = page.locator("ul.errors").all_inner_texts()
            raise AssertionError(f"login of {username} failed: {errors or page.url}")
        page.wait_for_load_state("load")
    return page


_USED_CODES: set[tuple[str, int]] = set()  # a code is accepted once: (username, time step)


def totp_code_for(username: str) -> str:
    """A code of the user's authenticator app that this test run has not given yet: the
    current one, or (the portal accepts one step either side) the next or the previous; when
    all three were used, the one of the next time step, once it comes. The previous one only
    with time to spare: it stops being accepted when this step ends, and a loaded machine can
    take seconds between choosing a code and the portal checking it."""
    import time

    from django.conf import settings

    from tenants.models import User
    from tests.mfa import secret_of, totp_code

    secret = secret_of(User.objects.get(username=username))
    period = settings.MFA_TOTP_PERIOD
    while True:
        now = int(time.time())
        steps = [now // period, now // period + 1]
        if period - now % period > 10:
            steps.append(now // period - 1)
        for step in steps:
            if (username, step) not in _USED_CODES:
                _USED_CODES.add((username, step))
                return totp_code(secret, step * period)
        time.sleep(period - now % period + 0.5)


def give_code(page, username: str, *, button: str) -> None:
    """Enter the code of the user's authenticator app on a second-factor page."""
    page.get_by_label("Code").fill(totp_code_for(username))
    with page.expect_navigation():
        page.get_by_role("button", name=button).click()


def log_out(page) -> None:
    """Through the account menu, as a person would."""
    page.locator("header details.menu > summary").click()
    with page.expect_navigation():
        page.get_by_role("button", name="Log out").click()


def header_user(page) -> str:
    """The user name the header's account menu shows."""
    return page.locator("header details.menu > summary").inner_text().strip()


def navigation_urls() -> set[str]:
    """The URL of every page mssp.navigation knows of and the URL conf has."""
    from django.urls import NoReverseMatch, reverse

    from mssp.navigation import PAGES

    urls = set()
    for entry in PAGES:
        try:
            urls.add(reverse(entry.url_name))
        except NoReverseMatch:
            continue
    return urls


def nav_labels(page, group: str = "main") -> list[str]:
    """Labels of the navigation entries on the page: "main" is the top bar, "settings" the
    account menu's links to pages of mssp.navigation (not its fixed links: password, API
    documentation, log out ...)."""
    if group == "main":
        return [t.strip() for t in page.locator('nav[aria-label="Main"] a').all_text_contents()]
    known = navigation_urls()
    links = page.locator("header details.menu .menu-body a")
    return [
        link.text_content().strip()
        for link in links.all()
        if (link.get_attribute("href") or "").split("?")[0] in known
    ]


def expected_nav(user) -> dict[str, list[dict]]:
    """What mssp.navigation offers `user`, computed in the test process from the same code and
    database as the server: {"main": [{"label", "url", ...}], "settings": [...]}."""
    from mssp.navigation import pages_for
    from tenants.access import access_for

    return pages_for(access_for(user))


def landing_path(user) -> str:
    """Where mssp.views.home sends `user`: the first main page, or the home page itself."""
    from tenants.access import access_for

    access = access_for(user)
    pages = expected_nav(user)["main"]
    return pages[0]["url"] if pages and access.tenant_ids else "/"


def allow_console_errors(page, *substrings: str) -> None:
    """A test that expects some errors on `page` (say, the 404 of a page it may not open) names
    them: errors containing one of `substrings` do not fail it."""
    page.mssp_watch.allowed.extend(substrings)


def wait_live(page, timeout: float = TIMEOUT_MS) -> None:
    """Until portal.js's websocket has had the stream's "ready" (body[data-live-ready="1"])."""
    page.wait_for_selector('body[data-live-ready="1"]', state="attached", timeout=timeout)


def record_stream_events(page) -> None:
    """From now on, every stream message portal.js dispatches is kept in window.streamEvents
    (see stream_events)."""
    page.evaluate(
        """() => {
            if (window.streamEvents) return;
            window.streamEvents = [];
            document.body.addEventListener(
                "portal:event", (e) => window.streamEvents.push(e.detail)
            );
        }"""
    )


def stream_events(page) -> list[dict]:
    return page.evaluate("() => window.streamEvents || []")


def wait_for_stream_event(page, type_: str, timeout: float = TIMEOUT_MS, **fields) -> dict:
    """The first recorded stream message of `type_` whose top-level fields equal `fields`
    (record_stream_events must have been called on the page before the event happened)."""
    page.wait_for_function(
        """([type, fields]) => (window.streamEvents || []).some((m) => m.type === type &&
            Object.entries(fields).every(([k, v]) => m[k] === v))""",
        arg=[type_, fields],
        timeout=timeout,
    )
    return next(
        m
        for m in stream_events(page)
        if m.get("type") == type_ and all(m.get(k) == v for k, v in fields.items())
    )


def safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")[:120] or "page"


# --- Celery beat ---------------------------------------------------------------------------------
@contextmanager
def running_beat(log_dir: Path, *, timeout: float = 60, **env: str) -> Iterator[Path]:
    """`celery beat` with the production schedule (the SLA sweep every second) against the test
    run's broker; yields its log once it has sent its first sweep."""
    log = log_dir / "beat.log"
    command = [
        PYTHON,
        "-m",
        "celery",
        "-A",
        "mssp",
        "beat",
        "--schedule",
        str(log_dir / "beat-schedule"),
        "--pidfile",
        "",
        "--loglevel",
        "INFO",
    ]
    with running_process(
        command, log, "Sending due task sla-sweep", "beat", timeout=timeout, **env
    ):
        yield log


def tail(path: Path, chars: int = 3000) -> str:
    return _tail(path, chars)


# --- the Content-Security-Policy, as Chromium enforces it ---------------------------------------
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


def collect_csp(page, problems: list[str]) -> None:
    found = page.evaluate("() => window.cspViolations || null")
    assert found is not None, f"{page.url}: the violation listener is not installed"
    problems.extend(f"{page.url}: {v}" for v in found)
