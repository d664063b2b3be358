"""End-to-end tests in a real browser: Debian's Chromium, headless, driven by Playwright, against
the portal as it runs in production: a daphne process (HTTP and websockets, channels-redis), a
Celery worker and Celery beat, all on the test database as the application role (row-level
security applies) and the test run's Redis.

Every test here is marked `services` and `browser` and runs in a transactional database (what it
creates is committed, so the server sees it; the tables are emptied after each test). Without
Chromium or Playwright the tests are skipped with the reason, or fail under
MSSP_REQUIRE_SERVICES=1.

Fixtures (see each one's docstring):
- live_portal: the running portal (package scope: one daphne, worker and beat for all browser
  tests); .url, .ws_url, .logs, .mail_dir
- browser: one headless Chromium (package scope)
- personas: two tenants and a user of every kind (function scope, committed)
- page_as(user): a new browser context, logged in through the real login form; the page
- new_page(path): a new browser context, not logged in
- screenshot(page, name): a full-page PNG under var/screenshots/; every test takes at least one
Console errors, uncaught page errors and 5xx responses on any page fail the test.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests import services
from tests.browser import support
from tests.browser.support import LOGS, PASSWORD, SCREENSHOTS, TIMEOUT_MS

HERE = Path(__file__).resolve().parent
REPORTS = pytest.StashKey[dict]()


# --- collection: markers, and skipping without a browser -----------------------------------------
@pytest.hookimpl(tryfirst=True)  # before tests/conftest.py turns `services` into skips
def pytest_collection_modifyitems(config, items):
    # Browser tests run first, whatever the command line's order: their serialized rollback
    # loads the database's first state (content types included) into empty tables, and a
    # transactional test that ran before would have refilled them (post_migrate after its
    # flush): duplicate content types. After them, the database is as the migrations left it.
    items[:] = [i for i in items if HERE in i.path.parents] + [
        i for i in items if HERE not in i.path.parents
    ]
    why = None
    for item in items:
        if HERE not in item.path.parents:
            continue
        item.add_marker(pytest.mark.services)
        item.add_marker(pytest.mark.browser)
        item.add_marker(pytest.mark.django_db(transaction=True, serialized_rollback=True))
        if why is None:
            why = support.browser_missing()
        if not why:
            continue
        if services.REQUIRED:
            # tests/conftest.py reports this as a failure ("missing" in user_properties).
            item.add_marker(pytest.mark.xfail(reason=why, strict=True, run=False))
            item.user_properties.append(("missing", why))
        else:
            item.add_marker(pytest.mark.skip(reason=f"needs Chromium and Playwright: {why}"))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    item.stash.setdefault(REPORTS, {})[report.when] = report


def _failed(request) -> bool:
    reports = request.node.stash.get(REPORTS, {})
    return any(r.failed for r in reports.values())


# --- the live portal -----------------------------------------------------------------------------
@dataclass
class LivePortal:
    url: str  # http://127.0.0.1:<port>
    log_dir: Path
    mail_dir: Path  # the file email backend's folder: one file per message sent
    logs: dict[str, Path] = field(default_factory=dict)  # "daphne", "worker", "beat"

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://", 1)

    def log_tails(self, chars: int = 2500) -> str:
        return "\n".join(
            f"--- {name} ({path}) ---\n{support.tail(path, chars)}"
            for name, path in self.logs.items()
        )


def _fresh_log_dir() -> Path:
    LOGS.mkdir(parents=True, exist_ok=True)
    for old in LOGS.rglob("*"):
        if old.is_file():
            old.unlink()
    (LOGS / "mail").mkdir(exist_ok=True)
    return LOGS


def _drop_stale_tasks() -> None:
    """Tasks that earlier tests' servers left on the default queue (no worker ran then) name
    rows that are gone: drop them before this worker starts."""
    import redis
    from django.conf import settings

    client = redis.Redis.from_url(settings.REDIS_URL)
    stale = [key for key in client.scan_iter(match="celery*") if not key.startswith(b"celery-")]
    if stale:
        client.delete(*stale)


@pytest.fixture(scope="package")
def live_portal(django_db_setup, django_db_blocker):
    """The portal as in production, started once for all the browser tests: daphne (HTTP and
    websockets through channels-redis), a Celery worker on the default queue and Celery beat
    with the production schedule (SLA sweep each second), each connected to the test database
    as the application role. Mail goes to files in `.mail_dir`. Logs are in
    var/browser-logs/<worker>/ and their tails are printed when a test fails."""
    from contextlib import ExitStack

    from django.conf import settings

    from sla import heartbeat
    from tests.live import running_daphne, running_worker

    log_dir = _fresh_log_dir()
    mail_dir = log_dir / "mail"
    env = {
        "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "EMAIL_FILE_PATH": str(mail_dir),
        # The test process sets it while Playwright runs (see `browser`); the servers never.
        "DJANGO_ALLOW_ASYNC_UNSAFE": "",
    }
    _drop_stale_tasks()
    heartbeat.beat()  # /healthz must answer 200 before beat's first sweep has run
    with ExitStack() as stack:
        portal = LivePortal(url="", log_dir=log_dir, mail_dir=mail_dir)
        portal.logs["worker"] = stack.enter_context(running_worker(log_dir, "celery", **env))
        portal.logs["beat"] = stack.enter_context(support.running_beat(log_dir, **env))
        heartbeat.beat()
        portal.url = stack.enter_context(running_daphne(log_dir, **env))
        portal.logs["daphne"] = log_dir / f"daphne-{portal.url.rsplit(':', 1)[1]}.log"
        assert settings.CHANNELS_REDIS_PREFIX  # the servers share the test run's prefix
        yield portal


@pytest.fixture(scope="package", autouse=True)
def _database_restored_afterwards(django_db_setup, django_db_blocker):
    """The tests here flush with serialized rollback: the flush after the last one leaves the
    tables empty, content types and permissions included, for the next test to restore. Tests
    of other kinds follow; put back what the migrations made, as they expect."""
    yield
    from django.contrib.contenttypes.models import ContentType
    from django.db import connections

    with django_db_blocker.unblock():
        connection = connections["default"]
        serialized = getattr(connection, "_test_serialized_contents", None)
        if serialized and not ContentType.objects.exists():
            connection.creation.deserialize_db_from_string(serialized)
        ContentType.objects.clear_cache()


def _quiesce(timeout: float = 5) -> None:
    """Wait until no other session on the test database is running a statement or holding a
    transaction (the worker's sweep, a request still finishing), so that emptying the tables
    after the test does not deadlock with them."""
    from django.db import connection

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND backend_type = 'client backend' "
                "AND state IN ('active', 'idle in transaction', 'idle in transaction (aborted)')"
            )
            if cursor.fetchone()[0] == 0:
                return
        time.sleep(0.05)


@pytest.fixture(autouse=True)
def fresh_cache():
    """tests/conftest.py's fresh_cache empties the whole Redis db after each test; here that
    would also drop the broker's bindings and the channel layer under the running servers.
    Only the cache's own keys and the rate-limit windows are emptied."""
    import redis
    from django.conf import settings
    from django.core.cache import cache

    from sla import heartbeat
    from tenants import ratelimit

    heartbeat.beat()
    yield
    client = redis.Redis.from_url(settings.REDIS_URL)
    keep = cache.make_key(heartbeat.KEY).encode()
    stale = [key for key in client.scan_iter(match=cache.make_key("*")) if key != keep]
    if stale:
        client.delete(*stale)
    ratelimit.limiter().storage.reset()


@pytest.fixture(autouse=True)
def _live_test(transactional_db, live_portal, request):
    """Every browser test: committed data, the live portal, and on the way out a quiet database
    (and the servers' log tails when the test failed)."""
    yield live_portal
    if _failed(request):
        print(f"\nServer logs (tails; whole files in {live_portal.log_dir}):")
        print(live_portal.log_tails())
    _quiesce()


# --- the browser ---------------------------------------------------------------------------------
@pytest.fixture(scope="package")
def browser(live_portal):
    """One headless Chromium (Debian's, /usr/bin/chromium or MSSP_CHROMIUM) for all the browser
    tests.

    Playwright's sync API leaves its event loop marked as running in this thread between calls.
    Django then takes this thread for an async one: it refuses database access unless
    DJANGO_ALLOW_ASYNC_UNSAFE is set (the test process sets it; the servers, started before,
    never have it), and its connection handler hands out a per-context connection instead of
    the thread's. That connection is given the test database's serialized contents, so that
    the transactional tests here restore the content types and permissions with their original
    ids after each flush (the servers cache them: new ids would break guardian in daphne)."""
    from django.db import connections
    from playwright.sync_api import sync_playwright

    serialized = getattr(connections["default"], "_test_serialized_contents", None)
    before = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    args = ["--disable-dev-shm-usage", "--disable-gpu"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.append("--no-sandbox")  # Chromium refuses to run as root with its sandbox
    playwright = sync_playwright().start()
    try:
        if serialized is not None:
            connections["default"]._test_serialized_contents = serialized
        chromium = playwright.chromium.launch(
            executable_path=support.chromium_path(), headless=True, args=args
        )
        try:
            yield chromium
        finally:
            chromium.close()
    finally:
        connections.close_all()  # the per-context connection, while it is still reachable
        playwright.stop()
        if before is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = before


@dataclass
class PageWatch:
    """What went wrong on one page: console errors, uncaught exceptions, 5xx responses.
    support.allow_console_errors(page, ...) names the ones a test expects."""

    errors: list[str] = field(default_factory=list)
    allowed: list[str] = field(default_factory=list)  # substrings of errors a test expects

    def unexpected(self) -> list[str]:
        return [e for e in self.errors if not any(a in e for a in self.allowed)]


def _is_favicon(message) -> bool:
    """Chromium asks for /favicon.ico by itself; its 404 is no page's error."""
    return (message.location or {}).get("url", "").endswith("/favicon.ico")


class Pages:
    """The browser contexts one test opened; closed, and checked, when it ends."""

    def __init__(self, browser, base_url: str):
        self.browser = browser
        self.base_url = base_url
        self.opened: list = []  # (page, watch)
        self.screenshots = 0

    def open(self, viewport: dict | None = None):
        context = self.browser.new_context(
            base_url=self.base_url, viewport=viewport or {"width": 1280, "height": 800}
        )
        context.set_default_timeout(TIMEOUT_MS)
        page = context.new_page()
        watch = PageWatch()
        page.on(
            "console",
            lambda msg: (
                watch.errors.append(f"console.error: {msg.text} at {page.url}")
                if msg.type == "error" and not _is_favicon(msg)
                else None
            ),
        )
        page.on("pageerror", lambda exc: watch.errors.append(f"uncaught: {exc} at {page.url}"))
        page.on(
            "response",
            lambda r: (
                watch.errors.append(f"HTTP {r.status} from {r.request.method} {r.url}")
                if r.status >= 500
                else None
            ),
        )
        page.mssp_watch = watch
        self.opened.append((page, watch))
        return page

    def check(self) -> None:
        problems = [f"{p.url}: {e}" for p, w in self.opened for e in w.unexpected()]
        if problems:
            raise AssertionError("errors in the browser:\n" + "\n".join(problems))

    def close(self) -> None:
        for page, _ in self.opened:
            with contextlib.suppress(Exception):  # a crashed context is closed already
                page.context.close()


def _screenshot_path(request, name: str) -> Path:
    folder = SCREENSHOTS / Path(str(request.node.path)).stem
    return folder / f"{support.safe_name(request.node.name)}--{support.safe_name(name)}.png"


@pytest.fixture
def _pages(browser, live_portal, request):
    folder = _screenshot_path(request, "any").parent
    for old in folder.glob(f"{support.safe_name(request.node.name)}--*.png"):
        old.unlink()  # this test's screenshots of an earlier run
    pages = Pages(browser, live_portal.url)
    yield pages
    try:
        if _failed(request):
            for n, (page, _) in enumerate(pages.opened):
                with contextlib.suppress(Exception):  # a page that is gone has no picture
                    _save(request, page, f"FAILED-{n}")
        else:
            pages.check()
            if pages.opened and not pages.screenshots:
                raise AssertionError("a browser test saves a screenshot of each page it shows")
    finally:
        pages.close()


def _save(request, page, name: str) -> Path:
    path = _screenshot_path(request, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=True)
    return path


@pytest.fixture
def screenshot(_pages, request):
    """screenshot(page, name) -> Path: a full-page PNG in var/screenshots/<module>/
    <test>--<name>.png. Also fails the test if the page has had a console error, an uncaught
    exception or a 5xx response so far (the screenshot is saved first)."""

    def take(page, name: str) -> Path:
        path = _save(request, page, name)
        _pages.screenshots += 1
        _pages.check()
        return path

    return take


@pytest.fixture
def new_page(_pages):
    """new_page(path="/login/", viewport=None) -> a page in a fresh browser context (no
    session), opened at `path` of the live portal."""

    def open_page(path: str = "/login/", *, viewport: dict | None = None):
        page = _pages.open(viewport)
        page.goto(path)
        return page

    return open_page


@pytest.fixture(scope="package")
def password_hash():
    """PASSWORD hashed as the server checks it (the test settings hash with MD5, which the
    production settings daphne runs do not accept); computed once."""
    from django.contrib.auth.hashers import PBKDF2PasswordHasher

    hasher = PBKDF2PasswordHasher()
    return hasher.encode(PASSWORD, hasher.salt())


def give_password(user, password_hash: str) -> None:
    from tenants.models import User

    if user.password != password_hash:
        User.objects.filter(pk=user.pk).update(password=password_hash)
        user.password = password_hash


@pytest.fixture
def page_as(_pages, password_hash):
    """page_as(user, viewport=None) -> a page in a fresh browser context, logged in as `user`
    through the login form at /login/ (username and support.PASSWORD, which the user is given
    first, then the code of its authenticator app: an account that must have one is enrolled
    first), on the landing page the portal chose. Any user works, personas' or one a test made
    with the factories."""

    def open_as(user, *, viewport: dict | None = None):
        from tenants import mfa
        from tests.mfa import enrol

        give_password(user, password_hash)
        if mfa.must_have(user) and not mfa.has_factor(user):
            enrol(user)  # MSSP staff sign in with their second factor (support.log_in)
        page = _pages.open(viewport)
        return support.log_in(page, user.username)

    return open_as


# --- the people ----------------------------------------------------------------------------------
@pytest.fixture
def personas(two_tenants, password_hash):
    """tests/conftest.py's two_tenants, made into the portal's personas, all committed:

    - "a": Tenant A (slug tenant-a), hybrid, with an in-house team "a_team" whose member is
      "a_responder"; "b": Tenant B (slug tenant-b), outsourced
    - customers: "a_admin", "a_responder", "a_viewer", "b_admin", "b_responder", "b_viewer"
    - MSSP staff: "analyst_a" (L1, works only A), "analyst_b" (L2, only B), "lead" (works and
      leads A and B), "manager" (sees every tenant), "mssp_admin", "outsider" (no tenant)
    - "tier_l2": the MSSP's L2 tier (a team of no tenant, for escalations to a tier)
    - "a_source" / "b_source": a generic intake source of each tenant; "a_key" / "b_key" their
      intake keys (POST /api/v1/intake/generic/ with Authorization: Bearer <key>)

    Each user's username is its key with "-" for "_" (analyst-a, a-admin, ...), its password
    support.PASSWORD."""
    from guardian.shortcuts import assign_perm

    from alerts.models import SourceKind
    from tenants.models import StaffRole, Team, Tenant, User
    from tenants.rls import rls_bypass
    from tests.factories import StaffFactory

    world = dict(two_tenants)
    a, b = world["a"], world["b"]
    Tenant.objects.filter(pk=b.pk).update(service_model=Tenant.ServiceModel.OUTSOURCED)
    b.refresh_from_db()
    assert a.service_model == Tenant.ServiceModel.HYBRID
    world["lead"] = StaffFactory(staff_role=StaffRole.LEAD, tenants=[a, b])
    for tenant in (a, b):
        assign_perm("tenants.lead_tenant", world["lead"], tenant)
    world["manager"] = StaffFactory(staff_role=StaffRole.MANAGER)
    with rls_bypass("browser test fixture: personas of two tenants"):
        team = Team.objects.create(tenant=a, name="Tenant A security team", kind=Team.Kind.IN_HOUSE)
        team.members.add(world["a_responder"])
        world["a_team"] = team
        world["tier_l2"] = Team.objects.create(name="SOC L2", kind=Team.Kind.MSSP_TIER)
        for key in ("a", "b"):
            source = world[f"{key}_source"]
            source.kind = SourceKind.GENERIC
            source.name = f"{world[key].name} sensor"
            world[f"{key}_key"] = source.set_new_key()
            source.save()
    for name, user in world.items():
        if isinstance(user, User):  # named after their persona, as screenshots show them
            user.username = name.replace("_", "-")
            user.password = password_hash
            User.objects.filter(pk=user.pk).update(username=user.username, password=password_hash)
    return world
