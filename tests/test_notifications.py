"""SLA firings notify the tenant's contacts by email and its webhooks with a signed POST,
once each, retried until delivered; webhooks cannot point into the MSSP's network."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core import mail

from sla import services
from sla.models import Notification, SlaClock
from sla.notify import deliver_due
from tenants.models import Webhook
from tenants.rls import rls_bypass
from tests.factories import ingest_alerts

pytestmark = pytest.mark.django_db


class Receiver:
    """A webhook endpoint on 127.0.0.1 that records what it gets and answers `status`."""

    def __init__(self):
        self.requests, self.status = [], 200
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((dict(self.headers), body))
                self.send_response(receiver.status)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver(settings):
    settings.WEBHOOK_ALLOW_PRIVATE = True
    receiver = Receiver()
    yield receiver
    receiver.server.shutdown()


def notifications(tenant):
    with rls_bypass("test"):
        return list(Notification.objects.for_tenant(tenant).order_by("created_at"))


def breach_everything(tenant):
    with rls_bypass("test"):
        clock = SlaClock.objects.for_tenant(tenant).order_by("due_at").first()
    return services.sweep(clock.due_at + timedelta(seconds=1))


def test_contacts_and_webhooks_are_told_of_a_breach_once(
    api, two_tenants, receiver, django_capture_on_commit_callbacks
):
    admin = api(two_tenants["a_admin"])
    assert (
        admin.post(
            "/api/v1/tenants/tenant-a/contacts/",
            {"name": "CISO", "email": "ciso@a.example"},
            format="json",
        ).status_code
        == 201
    )
    created = admin.post(
        "/api/v1/tenants/tenant-a/webhooks/",
        {"url": receiver.url, "events": ["sla.breached"]},
        format="json",
    )
    assert created.status_code == 201
    secret = created.json()["secret"]
    assert (
        "secret"
        not in admin.get(f"/api/v1/tenants/tenant-a/webhooks/{created.json()['id']}/").json()
    )
    ingest_alerts(two_tenants["a_source"], 1)
    with django_capture_on_commit_callbacks(execute=True):
        breach_everything(two_tenants["a"])
        breach_everything(two_tenants["a"])  # nothing new: each clock fires once
    notes = notifications(two_tenants["a"])
    assert {n.channel for n in notes} == {"email", "webhook"}
    assert all(n.status == "sent" for n in notes)
    breached = [n for n in notes if n.event_type == "sla.breached"]
    assert len({n.key for n in notes}) == len(notes)
    assert any(m.to == ["ciso@a.example"] and "breached" in m.subject for m in mail.outbox)
    # the webhook got only breaches, each signed
    assert len(receiver.requests) == len([n for n in breached if n.channel == "webhook"]) >= 1
    headers, body = receiver.requests[0]
    expected = hmac.new(
        secret.encode(), headers["X-MSSP-Timestamp"].encode() + b"." + body, hashlib.sha256
    ).hexdigest()
    assert headers["X-MSSP-Signature"] == f"sha256={expected}"
    assert json.loads(body)["tenant"] == "tenant-a" and headers["X-MSSP-Delivery"]
    assert notifications(two_tenants["b"]) == []


def test_failed_webhook_is_retried_until_delivered(api, two_tenants, receiver):
    with rls_bypass("test"):
        Webhook.objects.create(tenant=two_tenants["a"], url=receiver.url, secret="s")
    ingest_alerts(two_tenants["a_source"], 1)
    receiver.status = 500
    breach_everything(two_tenants["a"])
    deliver_due()
    (note, *_) = [n for n in notifications(two_tenants["a"]) if n.channel == "webhook"]
    assert note.status == "pending" and note.attempts == 1 and "500" in note.last_error
    receiver.status = 204
    deliver_due(note.next_attempt_at + timedelta(seconds=1))
    with rls_bypass("test"):
        note.refresh_from_db()
    assert note.status == "sent"


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/admin",
        "http://10.0.0.5/hook",
        "ftp://example.com/x",
        "http://169.254.169.254/latest",
    ],
)
def test_webhooks_cannot_point_into_the_mssp_network(api, two_tenants, url):
    response = api(two_tenants["a_admin"]).post(
        "/api/v1/tenants/tenant-a/webhooks/", {"url": url}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["detail"].startswith("url:")


def test_only_admins_manage_contacts(api, two_tenants):
    body = {"name": "x", "email": "x@a.example"}
    assert (
        api(two_tenants["a_responder"])
        .post("/api/v1/tenants/tenant-a/contacts/", body, format="json")
        .status_code
        == 403
    )
    assert (
        api(two_tenants["analyst_a"])
        .post("/api/v1/tenants/tenant-a/contacts/", body, format="json")
        .status_code
        == 403
    )
    assert (
        api(two_tenants["analyst_a"]).get("/api/v1/tenants/tenant-a/contacts/").status_code == 200
    )
