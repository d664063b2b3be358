"""SLA firings notify the tenant's contacts by email and its webhooks with a signed POST,
once each, retried until delivered; webhooks cannot point into the MSSP's network."""

from __future__ import annotations

import hashlib
import hmac
import json
import smtplib
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.utils import timezone

from sla import escalation, services
from sla.models import Escalation, Notification, SlaClock
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


# --- hostile text and permanent failures (review issue 10) ------------------------------------
def expiring_handoff(world, title: str, team_email: str = "team@a.example") -> Escalation:
    """A hand-off of tenant A's incident (titled `title`) whose respond-by time has passed."""
    from alerts.models import Incident
    from tenants.models import Team

    ingest_alerts(world["a_source"], 1)
    with rls_bypass("test"):
        incident = Incident.objects.for_tenant(world["a"]).get()
        Incident.objects.for_tenant(world["a"]).filter(pk=incident.pk).update(title=title)
        team = Team.objects.create(
            tenant=world["a"], name="A team", kind="in_house", email=team_email
        )
        return Escalation.objects.create(
            tenant=world["a"],
            incident=incident,
            direction="to_customer",
            team=team,
            respond_by=timezone.now() - timedelta(seconds=1),
        )


def test_a_title_with_line_breaks_does_not_stop_the_escalation_mail(two_tenants):
    # an incident titled before intake made titles one line, or by any other path
    expiring_handoff(two_tenants, "Brute force\r\nBcc: attacker@evil.example\u2028x")
    assert escalation.sweep() == (1, 0)
    deliver_due()
    (note,) = [n for n in notifications(two_tenants["a"]) if n.key.startswith("escalation.")]
    assert note.status == "sent", note.last_error
    (message,) = [m for m in mail.outbox if m.to == ["team@a.example"]]
    assert message.subject == (
        "[Tenant A] escalation.expired: Brute force Bcc: attacker@evil.example x"
    )
    assert message.message()["Bcc"] is None and not message.bcc


def test_a_subject_with_a_newline_already_in_the_outbox_is_still_sent(two_tenants):
    ingest_alerts(two_tenants["a_source"], 1)
    with rls_bypass("test"):
        note = Notification.objects.create(
            tenant=two_tenants["a"],
            key="legacy:1",
            event_type="sla.breached",
            channel="email",
            recipient="ciso@a.example",
            subject="[Tenant A] line one\nline two",
            payload={"type": "sla.breached"},
        )
    assert deliver_due() == 1
    with rls_bypass("test"):
        note.refresh_from_db()
    assert note.status == "sent"
    assert mail.outbox[-1].subject == "[Tenant A] line one line two"


class RefusingBackend(BaseEmailBackend):
    """A mail server that refuses one address for good (550) and takes the others."""

    def send_messages(self, messages):
        for message in messages:
            if "nobody@a.example" in message.to:
                raise smtplib.SMTPRecipientsRefused({"nobody@a.example": (550, b"No such user")})
            mail.outbox.append(message)
        return len(messages)


def test_a_permanent_failure_is_given_up_at_once_and_the_rest_is_delivered(two_tenants, settings):
    settings.EMAIL_BACKEND = f"{__name__}.RefusingBackend"
    with rls_bypass("test"):
        for n, address in enumerate(["nobody@a.example", "ciso@a.example"]):
            Notification.objects.create(
                tenant=two_tenants["a"],
                key=f"test:{n}",
                event_type="sla.breached",
                channel="email",
                recipient=address,
                subject="[Tenant A] SLA breached",
                payload={"type": "sla.breached"},
                next_attempt_at=timezone.now() - timedelta(minutes=2 - n),
            )
    assert deliver_due() == 1
    refused, delivered = notifications(two_tenants["a"])
    assert refused.recipient == "nobody@a.example"
    assert refused.status == "failed" and refused.attempts == 1, refused.last_error
    assert "550" in refused.last_error
    assert delivered.status == "sent"
    assert [m.to for m in mail.outbox] == [["ciso@a.example"]]


def test_a_disabled_webhook_is_given_up_at_once(two_tenants):
    ingest_alerts(two_tenants["a_source"], 1)
    with rls_bypass("test"):
        hook = Webhook.objects.create(
            tenant=two_tenants["a"], url="https://hooks.example.com/x", secret="s"
        )
    breach_everything(two_tenants["a"])
    with rls_bypass("test"):
        Webhook.objects.for_tenant(two_tenants["a"]).filter(pk=hook.pk).update(is_active=False)
    deliver_due()
    hooks = [n for n in notifications(two_tenants["a"]) if n.channel == "webhook"]
    assert hooks and all(n.status == "failed" and n.attempts == 1 for n in hooks)


def test_an_error_text_the_database_cannot_store_does_not_block_the_outbox(
    two_tenants, monkeypatch
):
    from sla import notify

    real_send = notify._send

    def send(note):
        if note.recipient == "first@a.example":
            raise OSError("server said \x00\x01 go away")
        real_send(note)

    monkeypatch.setattr(notify, "_send", send)
    with rls_bypass("test"):
        for n, address in enumerate(["first@a.example", "second@a.example"]):
            Notification.objects.create(
                tenant=two_tenants["a"],
                key=f"test:{n}",
                event_type="sla.breached",
                channel="email",
                recipient=address,
                subject="[Tenant A] SLA breached",
                payload={"type": "sla.breached"},
                next_attempt_at=timezone.now() - timedelta(minutes=2 - n),
            )
    assert deliver_due() == 1
    first, second = notifications(two_tenants["a"])
    assert first.status == "pending" and first.attempts == 1
    assert "go away" in first.last_error and "\x00" not in first.last_error
    assert second.status == "sent"


def test_the_longest_names_titles_and_addresses_fit_the_outbox(two_tenants):
    """A tenant name of 200 characters, a contact address of 254, an incident title of 500:
    the outbox rows still fit their columns (on PostgreSQL a value too long for its column
    failed the whole sweep, every second, for every tenant)."""
    from tenants.models import Contact, Tenant

    long_address = f"{'x' * 64}@{'d' * 60}.{'e' * 60}.{'f' * 60}.example"[:254]
    assert len(long_address) == 254
    with rls_bypass("test"):
        Tenant.objects.filter(pk=two_tenants["a"].pk).update(name="N" * 200)
        Contact.objects.create(tenant=two_tenants["a"], name="Long", email=long_address)
    two_tenants["a"].refresh_from_db()
    expiring_handoff(two_tenants, "T" * 500, team_email=long_address)
    breach_everything(two_tenants["a"])  # the incident's clocks
    escalation.sweep()  # the hand-off's expiry
    notes = notifications(two_tenants["a"])
    assert {n.event_type for n in notes} >= {"sla.breached", "escalation.expired"}
    assert all(len(n.subject) <= 300 and len(n.key) <= 300 for n in notes)
    assert len({n.key for n in notes}) == len(notes)
    deliver_due()
    assert all(n.status == "sent" for n in notifications(two_tenants["a"]))
