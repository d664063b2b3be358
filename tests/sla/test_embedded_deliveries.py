"""The embedded mode (no broker: Celery runs tasks in-process) sends notifications on a
delivery thread of its own, never on the thread that fired them: a customer's webhook that
takes ten seconds to answer, or a slow mail server, does not hold up the SLA sweep (which
beats the scheduler's heartbeat, and /healthz with it).

In-process (the sweep task as run_periodic runs it), on PostgreSQL: SQLite's in-memory test
database locks whole tables across threads. And end to end, as `make run` runs it: the real
`manage.py run_periodic` on an SQLite file (WAL), where the clocks must fire on time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core import mail
from django.core.mail.backends.locmem import EmailBackend
from django.core.management import call_command
from django.utils import timezone

from sla import delivery_thread
from sla.models import Notification, SlaClock
from sla.tasks import sweep_clocks
from tenants.models import Contact, Webhook
from tenants.rls import rls_bypass
from tests.conftest import ensure_default_contract
from tests.factories import IntakeSourceFactory, TenantFactory, ingest_alerts
from tests.live import ROOT

pytestmark = pytest.mark.django_db(transaction=True)

RECEIVER_SLEEP = 10.0
MAIL_SLEEP = 2.0


class SlowReceiver:
    """A customer's webhook endpoint that takes RECEIVER_SLEEP seconds to answer."""

    def __init__(self):
        self.arrived = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                self.rfile.read(int(self.headers["Content-Length"]))
                receiver.arrived.set()
                time.sleep(RECEIVER_SLEEP)
                try:
                    self.send_response(204)
                    self.end_headers()
                except OSError:  # the sender gave up waiting
                    pass

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class SlowMailServer(EmailBackend):
    """The test outbox, behind a mail server that takes MAIL_SLEEP seconds a message."""

    def send_messages(self, messages):
        time.sleep(MAIL_SLEEP)
        return super().send_messages(messages)


@pytest.fixture
def embedded(settings):
    """Deliveries as the embedded mode makes them: on the delivery thread."""
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.NOTIFICATIONS_BACKGROUND_THREAD = True
    settings.WEBHOOK_ALLOW_PRIVATE = True  # the receiver is on loopback
    settings.EMAIL_BACKEND = f"{__name__}.SlowMailServer"
    receiver = SlowReceiver()
    yield receiver
    # nothing of this test may still be writing when the tables are emptied
    assert delivery_thread.wait_idle(timeout=30)
    receiver.close()


def a_tenant_told_by_webhook_and_mail(receiver_url: str):
    ensure_default_contract()
    tenant = TenantFactory(slug="slow-co", name="Slow Co")
    source = IntakeSourceFactory(tenant=tenant)
    with rls_bypass("test fixture"):
        Webhook.objects.create(tenant=tenant, url=receiver_url, secret="s", events=["sla.breached"])
        Contact.objects.create(tenant=tenant, name="CISO", email="ciso@slow.example")
    ingest_alerts(source, 1)
    return tenant


def acknowledge_falls_due(tenant) -> int:
    """The incident's acknowledge clock past its deadline: the next sweep warns and breaches
    (two mails, one webhook)."""
    past = timezone.now() - timedelta(seconds=1)
    with rls_bypass("test"):
        return (
            SlaClock.objects.for_tenant(tenant)
            .filter(target="acknowledge", owner="mssp")
            .update(at_risk_at=past - timedelta(seconds=1), due_at=past)
        )


def outbox(tenant) -> list[Notification]:
    with rls_bypass("test"):
        return list(Notification.objects.for_tenant(tenant))


@pytest.mark.services("postgresql")
def test_a_webhook_that_sleeps_ten_seconds_does_not_delay_the_sweep(embedded):
    tenant = a_tenant_told_by_webhook_and_mail(embedded.url)
    # the sweep's normal time, with nothing to fire
    started = time.monotonic()
    sweep_clocks.apply()
    normal = time.monotonic() - started
    assert acknowledge_falls_due(tenant) == 1
    started = time.monotonic()
    sweep_clocks.apply()  # as run_periodic runs it: the firings' deliveries go on commit
    took = time.monotonic() - started
    notes = outbox(tenant)
    assert {n.channel for n in notes} == {"email", "webhook"}
    # the deliveries did start meanwhile, on the delivery thread
    assert embedded.arrived.wait(timeout=10)
    assert took < normal + 1.5, (normal, took)
    # and finish there: mail sent, the webhook given up on at its deadline and retried later
    assert delivery_thread.wait_idle(timeout=30)
    notes = outbox(tenant)
    assert [n.status for n in notes if n.channel == "email"] == ["sent", "sent"]
    (hook,) = [n for n in notes if n.channel == "webhook"]
    assert hook.status == "pending" and hook.attempts == 1 and "did not answer" in hook.last_error
    assert len(mail.outbox) == 2


@pytest.mark.services("postgresql")
def test_the_embedded_scheduler_hands_deliveries_to_the_delivery_thread(embedded):
    tenant = a_tenant_told_by_webhook_and_mail(embedded.url)
    acknowledge_falls_due(tenant)
    started = time.monotonic()
    call_command("run_periodic", "--once")  # the sweep, and the 10-second delivery entry
    took = time.monotonic() - started
    assert embedded.arrived.wait(timeout=10)
    assert took < 3, took


# --- end to end: `manage.py run_periodic` on an SQLite file ------------------------------------
SETUP = """
import os
from datetime import timedelta
from django.utils import timezone
from sla.models import SlaClock
from tenants.models import Contact, Webhook
from tenants.rls import rls_bypass
from tests.factories import IntakeSourceFactory, TenantFactory, ingest_alerts

tenant = TenantFactory(slug="slow-co", name="Slow Co")
source = IntakeSourceFactory(tenant=tenant)
with rls_bypass("test fixture"):
    Webhook.objects.create(tenant=tenant, url=os.environ["RECEIVER_URL"], secret="s")
    Contact.objects.create(tenant=tenant, name="CISO", email="ciso@slow.example")
ingest_alerts(source, 2)
first = timezone.now() + timedelta(seconds=3)
with rls_bypass("test fixture"):
    clocks = SlaClock.objects.for_tenant(tenant).filter(owner="mssp")
    for n, pk in enumerate(clocks.order_by("incident_id", "target").values_list("pk", flat=True)):
        due = first + timedelta(seconds=n)
        clocks.filter(pk=pk).update(due_at=due, at_risk_at=due - timedelta(seconds=0.5))
print("CLOCKS", clocks.count())
"""

LAGS = """
import json
from sla.models import Notification, SlaClock
from tenants.rls import rls_bypass

with rls_bypass("test"):
    clocks = SlaClock.objects.dangerously_unscoped("test").filter(owner="mssp")
    lags = [
        (fired - due).total_seconds() if fired else None
        for c in clocks
        for fired, due in ((c.at_risk_fired_at, c.at_risk_at), (c.breach_fired_at, c.due_at))
    ]
    notes = Notification.objects.dangerously_unscoped("test")
    print("RESULT", json.dumps({
        "lags": lags,
        "webhooks": notes.filter(channel="webhook").count(),
        "mails_sent": notes.filter(channel="email", status="sent").count(),
    }))
"""


def _embedded_env(tmp_path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(
            ("DATABASE_", "REDIS_", "CELERY_", "EMAIL_", "PYTEST", "DJANGO_SETTINGS", "MSSP_")
        )
    }
    env.update(
        DATABASE_URL=f"sqlite:///{tmp_path / 'embedded.sqlite3'}",
        DJANGO_SETTINGS_MODULE="mssp.settings",
        DEBUG="1",
        LOG_LEVEL="INFO",
        PYTHONUNBUFFERED="1",
        WEBHOOK_ALLOW_PRIVATE="1",
        EMAIL_BACKEND="django.core.mail.backends.filebased.EmailBackend",
        EMAIL_FILE_PATH=str(tmp_path / "mail"),
        REPORTS_BACKGROUND_THREAD="1",
        **extra,
    )
    return env


def _manage(env, *args: str, timeout: float = 120) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.mark.slow
def test_the_embedded_scheduler_fires_on_time_while_a_webhook_sleeps(tmp_path):
    receiver = SlowReceiver()
    env = _embedded_env(tmp_path, RECEIVER_URL=receiver.url)
    log = tmp_path / "run_periodic.log"
    try:
        _manage(env, "migrate", "-v0")
        with log.open("wb") as out:
            scheduler = subprocess.Popen(
                [sys.executable, "manage.py", "run_periodic"],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            deadline = time.monotonic() + 60
            while "periodic tasks in-process" not in log.read_text(errors="replace"):
                assert scheduler.poll() is None, log.read_text(errors="replace")[-3000:]
                assert time.monotonic() < deadline, log.read_text(errors="replace")[-3000:]
                time.sleep(0.2)
            assert "CLOCKS 8" in _manage(env, "shell", "-c", SETUP)
            # 8 clocks due a second apart from 3 s on, each warned half a second before:
            # 16 firings, each a mail and a webhook to a receiver that sleeps 10 s
            time.sleep(3 + 8 + 3)
            assert scheduler.poll() is None, log.read_text(errors="replace")[-3000:]
        finally:
            scheduler.terminate()
            scheduler.wait(timeout=20)
        (line,) = [x for x in _manage(env, "shell", "-c", LAGS).splitlines() if "RESULT" in x]
        result = json.loads(line.split(" ", 1)[1])
    finally:
        receiver.close()
    assert result["webhooks"] == 16 and receiver.arrived.is_set()
    assert result["mails_sent"] >= 1  # the mails went out meanwhile, beside the webhooks
    lags = result["lags"]
    assert None not in lags, lags  # every firing happened
    # on time: within the sweep's second (and some slack for a busy machine), not behind
    # a webhook's five-second timeout
    assert max(lags) < 3, lags
