"""The SLA sweep has its own queue: with a backlog of notification deliveries that nobody is
consuming, a worker of the `sla` queue alone still fires a due breach at once."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
import redis
from django.utils import timezone

from sla.models import ClockState, SlaClock
from tenants.rls import rls_bypass
from tests.conftest import ensure_default_contract
from tests.factories import IntakeSourceFactory, TenantFactory, ingest_alerts
from tests.live import running_worker

pytestmark = [pytest.mark.services, pytest.mark.slow, pytest.mark.timeout(180)]

BACKLOG = 200


def test_routes_put_the_sweep_and_deliveries_on_their_own_queues():
    from mssp.celery import app

    router = app.amqp.router
    assert router.route({}, "sla.tasks.sweep_clocks")["queue"].name == "sla"
    assert router.route({}, "sla.tasks.deliver_notifications")["queue"].name == "notifications"
    assert router.route({}, "reports.tasks.generate_report")["queue"].name == "celery"
    # A worker started without -Q (make run's) consumes all three.
    assert {"celery", "sla", "notifications"} <= set(app.conf.task_queues)


@pytest.mark.django_db(transaction=True)
def test_a_due_breach_fires_while_deliveries_are_backed_up(tmp_path, broker_app):
    from sla.tasks import deliver_notifications, sweep_clocks

    ensure_default_contract()
    tenant = TenantFactory(slug="queues-tenant")
    ingest_alerts(IntakeSourceFactory(tenant=tenant), 1, title="Queue test")
    with rls_bypass("test: make the acknowledge clock due"):
        clocks = SlaClock.objects.dangerously_unscoped("test").filter(tenant=tenant)
        assert clocks.filter(target="acknowledge").exists()
        past = timezone.now() - timedelta(seconds=5)
        clocks.filter(target="acknowledge").update(
            due_at=past, at_risk_at=past - timedelta(seconds=1)
        )
    broker = broker_app.conf.broker_url
    client = redis.Redis.from_url(broker)
    client.delete("notifications", "sla")
    try:
        for _ in range(BACKLOG):
            deliver_notifications.delay()
        assert client.llen("notifications") == BACKLOG
        with running_worker(tmp_path, "sla", CELERY_BROKER_URL=broker, DB_POOL="1") as log:
            sweep_clocks.delay()
            deadline = time.monotonic() + 30
            while True:
                with rls_bypass("test: read the clock"):
                    state = clocks.get(target="acknowledge").state
                if state == ClockState.BREACHED:
                    break
                assert time.monotonic() < deadline, log.read_text(errors="replace")[-3000:]
                time.sleep(0.2)
        # The deliveries were left alone: another queue, another worker's work.
        assert client.llen("notifications") == BACKLOG
    finally:
        client.delete("notifications", "sla")
