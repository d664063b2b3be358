"""GET /healthz: each dependency's state, 503 naming the one that is down; no authentication,
no tenant data. (200 with everything "ok" is tests/mssp/test_smoke.py.)"""

from __future__ import annotations

import socket

import pytest
from channels.layers import channel_layers, get_channel_layer

from tests.factories import IntakeSourceFactory, MembershipFactory, TenantFactory

pytestmark = pytest.mark.django_db

PARTS = {"status", "database", "channel_layer", "broker", "scheduler", "intake_log"}
# The intake log's backlog (alerts.intake.log) when nothing waits: counts, no tenant's data.
IDLE_LOG = {"status": "ok", "backlog": 0, "backlog_alerts": 0, "oldest_seconds": 0, "set_aside": 0}


@pytest.fixture
def closed_port():
    """A local port that refuses connections: bound (so nothing else takes it), not listening."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@pytest.fixture
def broker_at(settings, monkeypatch):
    """Point the Celery app at another broker (and stop running tasks in-process, so that the
    health check has a broker to check); everything is restored afterwards."""
    from mssp.celery import app

    settings.CELERY_TASK_ALWAYS_EAGER = False
    previous = app.conf.broker_url

    def point(url: str) -> None:
        monkeypatch.setenv("CELERY_BROKER_URL", url)  # Celery reads the environment first
        monkeypatch.delenv("CELERY_BROKER_WRITE_URL", raising=False)
        app.conf.broker_url = url

    try:
        yield point
    finally:
        app.conf.broker_url = previous


def test_healthz_answers_anonymous_callers_without_tenant_data(client):
    tenant = TenantFactory(slug="healthz-secret-tenant", name="Healthz Secret Customer")
    MembershipFactory(tenant=tenant, role="admin")
    IntakeSourceFactory(tenant=tenant, name="healthz-secret-sensor")

    response = client.get("/healthz")

    assert response.status_code == 200
    body = response.json()
    assert set(body) == PARTS
    assert body.pop("intake_log") == IDLE_LOG
    assert set(body.values()) == {"ok"}
    text = response.content.decode()
    for secret in ("healthz-secret", "Healthz Secret", str(tenant.pk)):
        assert secret not in text
    assert "sessionid" not in response.cookies  # no session was started for it
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.services("redis")
def test_healthz_names_the_broker_when_it_is_unreachable(client, broker_at, closed_port):
    assert client.get("/healthz").json()["broker"] == "ok"  # the real broker first

    broker_at(f"redis://127.0.0.1:{closed_port}/0")
    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json() == {
        "status": "down",
        "database": "ok",
        "channel_layer": "ok",
        "broker": "down",
        "scheduler": "ok",
        "intake_log": IDLE_LOG,
    }
    assert str(closed_port) not in response.content.decode()  # says what, not where or why


def test_healthz_names_the_channel_layer_when_it_is_down(client, settings, closed_port):
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [f"redis://127.0.0.1:{closed_port}/0"], "prefix": "healthz"},
        }
    }
    # channels caches layer instances; the settings change must have dropped the old one.
    channel_layers.backends.clear()
    assert get_channel_layer().__class__.__name__ == "RedisChannelLayer"

    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json() == {
        "status": "down",
        "database": "ok",
        "channel_layer": "down",
        "broker": "ok",
        "scheduler": "ok",
        "intake_log": IDLE_LOG,
    }
    assert str(closed_port) not in response.content.decode()


def test_healthz_is_healthy_again_once_the_channel_layer_is_back(client, settings, closed_port):
    original = settings.CHANNEL_LAYERS
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [f"redis://127.0.0.1:{closed_port}/0"]},
        }
    }
    channel_layers.backends.clear()
    assert client.get("/healthz").status_code == 503

    settings.CHANNEL_LAYERS = original
    channel_layers.backends.clear()
    assert client.get("/healthz").status_code == 200


def test_healthz_turns_red_when_the_scheduler_stops(client):
    from django.core.cache import cache

    from sla import heartbeat
    from sla.tasks import sweep_clocks

    cache.delete(heartbeat.KEY)
    response = client.get("/healthz")
    assert response.status_code == 503 and response.json()["scheduler"] == "down"
    sweep_clocks.apply()  # one sweep is a pulse
    assert client.get("/healthz").json()["scheduler"] == "ok"
    cache.set(heartbeat.KEY, 0)  # a pulse from long ago
    assert client.get("/healthz").json()["scheduler"] == "down"
