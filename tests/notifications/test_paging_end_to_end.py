"""End to end with a real Celery worker: an alert opens an incident, its escalation policy's
tier step pages the tier's on-call analyst on two channels (e-mail and Slack), the analyst
acknowledges from the e-mail's link, the SLA acknowledge target is met and the paging stops."""

from __future__ import annotations

import json
import re
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from alerts.models import Incident
from notifications.models import ContactMethod, Delivery, NotificationRule, Page
from oncall.models import Layer, Schedule
from sla.models import EscalationPolicy, SlaClock
from tenants.models import Team
from tenants.rls import rls_bypass
from tenants.sealed import seal
from tests.conftest import ensure_default_contract
from tests.factories import IntakeSourceFactory, StaffFactory, TenantFactory, ingest_alerts
from tests.live import running_worker
from tests.notifications.test_senders import Receiver

pytestmark = [pytest.mark.services, pytest.mark.slow, pytest.mark.timeout(180)]
ANSWER = re.compile(r"Acknowledge: \S+?(/answer/[^/\s]+/)")


def wait_until(what: str, check, seconds: float = 60):
    deadline = time.monotonic() + seconds
    while not (found := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} after {seconds} s")
        time.sleep(0.3)
    return found


@pytest.mark.django_db(transaction=True)
def test_the_on_call_is_paged_on_two_channels_and_acknowledges_from_the_message(
    tmp_path, broker_app, client
):
    from sla.tasks import sweep_clocks

    ensure_default_contract()
    tenant = TenantFactory(slug="paged-tenant", name="Paged Tenant")
    analyst = StaffFactory(staff_role="analyst_l2", tenants=[tenant], email="oncall@mssp.example")
    bystander = StaffFactory(staff_role="analyst_l2", tenants=[tenant], email="off@mssp.example")
    team = Team.objects.create(name="SOC L2 (end to end)", kind="mssp_tier")
    team.members.add(analyst, bystander)
    schedule = Schedule.objects.create(team=team, name="L2 this week", time_zone="UTC")
    Layer.objects.create(
        schedule=schedule,
        position=0,
        participants=[analyst.pk],
        rotation="weekly",
        rotation_start=timezone.now() - timedelta(days=1),
    )
    slack = Receiver()
    for label, kind, target, secrets in (
        ("Work mail", "email", analyst.email, {}),
        ("Slack DM", "slack", "", {"url": f"{slack.base}/services/T/B/x"}),
    ):
        method = ContactMethod.objects.create(
            user=analyst, label=label, kind=kind, target=target, sealed_secrets=seal(secrets)
        )
        NotificationRule.objects.create(user=analyst, contact_method=method, delay_minutes=0)
    with rls_bypass("test fixture"):
        EscalationPolicy.objects.create(
            tenant=tenant,
            name="Tier first",
            # the step names the schedule: whoever is on call on it is paged
            steps=[{"action": "notify_tier", "schedule": str(schedule.pk), "wait_minutes": 0}],
        )
    mail_dir = tmp_path / "mail"
    mail_dir.mkdir()
    env = {
        "CELERY_BROKER_URL": broker_app.conf.broker_url,
        "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "EMAIL_FILE_PATH": str(mail_dir),
        "WEBHOOK_ALLOW_PRIVATE": "1",
        "PORTAL_BASE_URL": "http://testserver",
        "DB_POOL": "1",
    }
    with running_worker(tmp_path, "sla,notifications,celery", **env):
        ingest_alerts(IntakeSourceFactory(tenant=tenant), title="Ransomware note on fs-01")

        def mailed() -> str:
            sweep_clocks.delay()  # what beat does every second
            texts = [p.read_text() for p in Path(mail_dir).glob("*.log")]
            return next((t for t in texts if "Acknowledge: " in t), "")

        text = wait_until("page by e-mail", mailed)
        wait_until("page on Slack", lambda: slack.requests)
    with rls_bypass("test"):
        incident = Incident.objects.for_tenant(tenant).get()
        (page,) = Page.objects.for_tenant(tenant).all()
        sent = {d.kind: d.status for d in Delivery.objects.for_tenant(tenant)}
    assert page.user == analyst and sent == {"email": "sent", "slack": "sent"}
    blocks = json.dumps(json.loads(slack.requests[0].body)["blocks"])
    assert "Acknowledge" in blocks and "/answer/" in blocks and "Paged Tenant" in blocks
    assert "To: oncall@mssp.example" in text and "off@mssp.example" not in text

    client.force_login(analyst)
    (link,) = ANSWER.findall(text)
    assert client.post(link).status_code == 302
    with rls_bypass("test"):
        incident.refresh_from_db()
        page.refresh_from_db()
        acknowledge = SlaClock.objects.for_tenant(tenant).get(
            incident=incident, target="acknowledge", owner="mssp"
        )
    assert incident.status == "acknowledged"
    assert acknowledge.state == "met"
    assert page.status == "answered"
