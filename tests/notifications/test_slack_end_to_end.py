"""End to end with a real Celery worker, the portal served by daphne (HTTP and websockets) and
headless Chromium: an MSSP analyst hands a Globex incident off to Globex's in-house team from
the incident page; the worker delivers the hand-off to Globex's Slack app channel (the local
Slack) with Accept and Decline buttons; the test, acting as Slack, posts the signed "Accept"
interaction as Globex's responder to the portal; the hand-off is accepted exactly as in the
portal (its clock stops, the in-house team's clocks start) and the analyst's open page shows
"accepted" without a reload."""

from __future__ import annotations

import os
import time
from contextlib import ExitStack, contextmanager

import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher

from alerts.models import Incident
from notifications.models import Channel, ContactMethod, Delivery, Subscription
from sla import heartbeat
from sla.models import Escalation, SlaClock
from tenants.models import AuditEvent, Team, User
from tenants.rls import rls_bypass
from tenants.sealed import seal
from tests.browser import support
from tests.conftest import ensure_default_contract
from tests.factories import (
    IntakeSourceFactory,
    MembershipFactory,
    StaffFactory,
    TenantFactory,
    ingest_alerts,
)
from tests.live import running_daphne, running_worker
from tests.mfa import enrol
from tests.notifications.slack_receiver import BOT_TOKEN, SIGNING_SECRET, SlackApi, click

pytestmark = [
    pytest.mark.services,
    pytest.mark.slow,
    pytest.mark.timeout(300),
    pytest.mark.skipif(
        bool(support.browser_missing()),
        reason=f"needs Chromium and Playwright: {support.browser_missing()}",
    ),
]
LIVE_MS = 30_000
SLACK_USER = ("T0GLOBEX1", "U0BRESP01")


def wait_until(what: str, check, seconds: float = 60):
    deadline = time.monotonic() + seconds
    while not (found := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} after {seconds} s")
        time.sleep(0.3)
    return found


@pytest.fixture
def slack():
    api = SlackApi(channels={"C0GLOBEX1"}).start()
    yield api
    api.stop()


@contextmanager
def chromium():
    """One headless Chromium (tests/browser's settings), for this test alone. Started once the
    test's data is made: Playwright's sync API leaves an event loop marked running in this
    thread, after which Django takes it for an async one (see tests/browser/conftest.py's
    `browser`): database reads need DJANGO_ALLOW_ASYNC_UNSAFE, and the stream's publishing from
    this process would fail."""
    from django.db import connections
    from playwright.sync_api import sync_playwright

    before = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    args = ["--disable-dev-shm-usage", "--disable-gpu"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.append("--no-sandbox")  # Chromium refuses to run as root with its sandbox
    playwright = sync_playwright().start()
    try:
        browser = playwright.chromium.launch(
            executable_path=support.chromium_path(), headless=True, args=args
        )
        try:
            yield browser
        finally:
            browser.close()
    finally:
        connections.close_all()  # the per-context connection, while it is still reachable
        playwright.stop()
        if before is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = before


@pytest.mark.django_db(transaction=True)
def test_a_hand_off_paged_to_slack_is_accepted_from_slack_and_the_analyst_sees_it_live(
    tmp_path, broker_app, slack
):
    ensure_default_contract()
    globex = TenantFactory(slug="globex", name="Globex")  # hybrid
    analyst = StaffFactory(staff_role="analyst_l2", tenants=[globex], username="analyst-globex")
    responder = MembershipFactory(tenant=globex, role="responder").user
    # the password as daphne (the production settings: PBKDF2) checks it
    hasher = PBKDF2PasswordHasher()
    User.objects.filter(pk=analyst.pk).update(
        password=hasher.encode(support.PASSWORD, hasher.salt())
    )
    enrol(analyst)  # MSSP staff sign in with their second factor (support.log_in gives it)
    with rls_bypass("test fixture"):
        team = Team.objects.create(tenant=globex, name="Globex security", kind="in_house")
        team.members.add(responder)
        channel = Channel.objects.create(
            tenant=globex,
            name="Slack #globex-soc",
            kind="slack_app",
            target="C0GLOBEX1",
            sealed_secrets=seal({"bot_token": BOT_TOKEN, "signing_secret": SIGNING_SECRET}),
        )
        Subscription.objects.create(tenant=globex, channel=channel, events=["escalation.requested"])
    ContactMethod.objects.create(
        user=responder, label="Slack", kind="slack_app", target="/".join(SLACK_USER)
    )
    ingest_alerts(IntakeSourceFactory(tenant=globex), title="Beaconing from build-07")
    with rls_bypass("test"):
        incident = Incident.objects.for_tenant(globex).get()

    env = {
        "CELERY_BROKER_URL": broker_app.conf.broker_url,
        "WEBHOOK_ALLOW_PRIVATE": "1",  # the local Slack is on loopback
        "SLACK_API_URL": slack.api_url,
        "SLACK_RESPONSE_URL_HOSTS": "127.0.0.1",
        "PORTAL_BASE_URL": "http://testserver",
        "DJANGO_ALLOW_ASYNC_UNSAFE": "",
    }
    with ExitStack() as stack:
        stack.enter_context(running_worker(tmp_path, "sla,notifications,celery", **env))
        heartbeat.beat()  # /healthz answers 200 only while the SLA sweep seems alive
        portal = stack.enter_context(running_daphne(tmp_path, **env))
        browser = stack.enter_context(chromium())
        page = browser.new_context(base_url=portal).new_page()
        page.set_default_timeout(LIVE_MS)
        support.log_in(page, analyst.username)
        page.goto(f"/incidents/{incident.pk}/")
        support.wait_live(page)

        # the analyst hands the incident off to Globex's in-house team, from the page
        page.get_by_label("To", exact=True).select_option("in_house")
        page.get_by_label("Note", exact=True).fill("Is build-07 yours? Please take it.")
        page.get_by_role("button", name="Escalate").click()
        page.locator('[data-escalation][data-status="pending"]').wait_for()
        support.wait_live(page)  # the form's POST reloaded the page: its socket again

        # the worker delivers it to Globex's Slack channel with the answer buttons
        wait_until("Slack message", lambda: slack.messages)
        (posted,) = slack.messages
        assert posted.json()["channel"] == "C0GLOBEX1"
        assert posted.headers["authorization"] == f"Bearer {BOT_TOKEN}"
        buttons = slack.buttons()
        assert {"accept", "decline"} <= set(buttons)
        assert "Globex" in posted.body.decode()

        # Slack posts the responder's click on "Accept", signed with the app's secret
        team_id, user_id = SLACK_USER
        payload = slack.payload("accept", buttons["accept"]["value"], user=user_id, team=team_id)
        response = click(portal, payload)
        assert response.status_code == 200, response.text

        # the analyst's open page shows it accepted, without a reload
        page.locator('[data-escalation][data-status="accepted"]').wait_for()
        assert page.locator('[data-escalation][data-status="pending"]').count() == 0
        wait_until("reply to Slack", lambda: slack.replies)
        page.close()

        # read while the browser runs (this thread's connection is Playwright's context's)
        with rls_bypass("test"):
            esc = (
                Escalation.objects.for_tenant(globex)
                .select_related("responded_by")
                .get(incident=incident)
            )
            incident.refresh_from_db()
            row = (
                Delivery.objects.for_tenant(globex).select_related("acted_by").get(channel=channel)
            )
            customer_clocks = list(
                SlaClock.objects.for_tenant(globex).filter(
                    incident=incident, owner=SlaClock.Owner.CUSTOMER
                )
            )
            audited = AuditEvent.objects.for_tenant(globex).get(action="delivery.accept")
    # exactly as an accept in the portal: answered, owned by the responder's team, its
    # clocks started; and the answer recorded on the delivery, once, with the way it came
    assert esc.status == Escalation.Status.ACCEPTED and esc.responded_by == responder
    assert esc.responded_at is not None
    assert incident.owner_id == responder.pk and incident.owner_team_id == team.pk
    assert customer_clocks
    assert row.status == "sent" and row.acted == "accept" and row.acted_by == responder
    assert audited.data["via"] == "slack"
    updated = slack.replies[-1].json()
    assert updated["replace_original"] is True and "Accepted" in str(updated["blocks"])
