"""GET /healthz: each dependency's state, no authentication, no tenant data.

`scheduler` is the pulse of the SLA sweep (sla.heartbeat): when it stops, breaches stop firing,
so the portal is not healthy even though every server still answers.

`intake_log` is the backlog of the durable intake log (alerts.intake.log): requests accepted
and not yet through the pipeline, their alerts, the oldest one's age and the rows set aside.
Older than INTAKE_LOG_DEGRADED_SECONDS, or any set aside, it is "degraded": the answer stays
200 (every part is up and nothing accepted is lost; the drains are behind, or stopped), with
"status": "degraded", for a monitor to alert on."""

from __future__ import annotations

import logging
import uuid

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

logger = logging.getLogger("mssp.health")


def check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def check_channel_layer() -> None:
    layer = get_channel_layer()
    if layer is None:
        raise RuntimeError("no channel layer configured")

    async def round_trip() -> None:
        import asyncio

        channel = await layer.new_channel("healthz.")
        marker = uuid.uuid4().hex
        await layer.send(channel, {"type": "healthz", "marker": marker})
        message = await asyncio.wait_for(layer.receive(channel), timeout=2)
        if message.get("marker") != marker:
            raise RuntimeError("channel layer returned another message")

    async_to_sync(round_trip)()


def check_broker() -> None:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return  # embedded mode: tasks run in-process, there is no broker to be down
    from mssp.celery import app

    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)


def check_scheduler() -> None:
    from sla import heartbeat

    if not heartbeat.alive():
        raise RuntimeError(f"no SLA sweep for {heartbeat.seconds_since_beat()} s")


CHECKS = {
    "database": check_database,
    "channel_layer": check_channel_layer,
    "broker": check_broker,
    "scheduler": check_scheduler,
}


@never_cache
@require_GET
def healthz(request):
    body: dict[str, str] = {}
    for name, check in CHECKS.items():
        try:
            check()
            body[name] = "ok"
        except Exception as exc:  # a health check reports every failure, whatever it is
            logger.warning("healthz: %s is down: %s", name, exc)
            body[name] = "down"
    healthy = all(value == "ok" for value in body.values())
    status = "ok" if healthy else "down"
    extra: dict[str, object] = {}
    if healthy or body["database"] == "ok":
        try:
            from alerts.intake import log

            extra["intake_log"] = backlog = log.backlog().as_dict()
            if healthy and backlog["status"] == "degraded":
                status = "degraded"
        except Exception as exc:  # a health check reports every failure, whatever it is
            logger.warning("healthz: the intake log's backlog is unreadable: %s", exc)
    return JsonResponse({"status": status, **body, **extra}, status=200 if healthy else 503)
