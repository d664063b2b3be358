"""Notifications of SLA firings: email to the tenant's contacts and signed POSTs to its
webhooks. Written to the outbox (Notification) in the firing's transaction, delivered after
commit, retried with backoff from the table, so a lost task or a dead worker loses nothing
and nothing is queued twice. Delivery is at least once: a worker killed between sending and
recording it sends again once its claim lapses, so webhooks carry X-MSSP-Delivery (the
notification id) for the receiver to drop repeats.

Nothing in a message can make it unsendable: subjects are one line (tenants.mail), and a
delivery that fails for good (refused address, a message that cannot be built, a webhook
removed) is given up at once instead of being retried, and never holds up the rows behind it.
No database transaction stays open while a message is sent (a slow receiver would hold its
locks: with SQLite, every writer's)."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections import defaultdict
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import send_mail

from tenants import mail, webhooks
from tenants.jobs import enqueue
from tenants.models import Contact, Webhook
from tenants.outbox import BATCH, Outbox, PermanentFailure, register

from . import bulk
from .models import Notification, SlaClock

logger = logging.getLogger("mssp.notify")
DELIVERY_BATCH = BATCH  # notifications one delivery task sends at most
# A claimed row is due again after this long if its worker never records the outcome (it
# died mid-send): longer than a delivery takes (webhooks.DEADLINE, EMAIL_TIMEOUT a step).
CLAIM_LEASE = timedelta(seconds=30)
KEY_MAX = Notification._meta.get_field("key").max_length
SUBJECT_MAX = Notification._meta.get_field("subject").max_length


def _key(*parts: str) -> str:
    """The row's idempotency key; a recipient too long for the column is keyed by digest."""
    key = ":".join(parts)
    if len(key) <= KEY_MAX:
        return key
    digest = hashlib.sha256(parts[-1].encode()).hexdigest()
    return ":".join([*parts[:-1], f"sha256={digest}"])[:KEY_MAX]


def _subject(text: str) -> str:
    return mail.subject(text)[:SUBJECT_MAX]


def queue_for_firing(clock: SlaClock, event_type: str, summary: str, data: dict) -> int:
    """Outbox rows for everyone this tenant wants told; call inside the firing transaction."""
    return queue_for_firings([(clock, summary, data)], event_type)


def queue_for_firings(firings: list[tuple[SlaClock, str, dict]], event_type: str) -> int:
    """queue_for_firing() of a batch of (clock, summary, data), as the sweep fires them."""
    notices = []
    for clock, summary, data in firings:
        incident = clock.incident
        payload = {
            "incident": str(incident.pk),
            "title": incident.title,
            "severity": incident.severity,
            **data,
        }
        notices.append((clock.tenant, clock.pk, summary, payload, incident))
    return queue_for_notices(notices, event_type)


def queue_for_notices(notices: list[tuple], event_type: str) -> int:
    """Outbox rows for firings: [(tenant, firing id, summary, payload[, incident]), ...] (an
    incident's clock, or a finding's remediation clock swept in the same pass), each told to
    the tenant's SLA contacts and webhooks. The contacts and webhooks of the batch's tenants
    are read once, every row is written in one INSERT, and enough delivery tasks are queued
    after commit for all of them (deliver_due sends up to DELIVERY_BATCH a task). The firing
    id keys the rows, so a second firing of the same thing is never notified twice."""
    tenant_ids = sorted({notice[0].pk for notice in notices})
    contacts: dict[int, list[Contact]] = defaultdict(list)
    for contact in Contact.objects.for_tenants(tenant_ids).filter(notify_sla=True):
        contacts[contact.tenant_id].append(contact)
    hooks: dict[int, list[Webhook]] = defaultdict(list)
    for hook in Webhook.objects.for_tenants(tenant_ids).filter(is_active=True):
        if hook.wants(event_type):
            hooks[hook.tenant_id].append(hook)
    rows = []
    for tenant, firing_id, summary, data, *incident in notices:
        common = {
            "tenant_id": tenant.pk,
            "incident": incident[0] if incident else None,
            "event_type": event_type,
            "subject": _subject(f"[{tenant.name}] {summary}"),
            "payload": {"type": event_type, "tenant": tenant.slug, **data},
        }
        rows += [
            Notification(
                **common,
                channel=Notification.Channel.EMAIL,
                recipient=contact.email,
                key=_key(event_type, str(firing_id), "email", contact.email),
            )
            for contact in contacts[tenant.pk]
        ]
        rows += [
            Notification(
                **common,
                channel=Notification.Channel.WEBHOOK,
                recipient=hook.url,
                webhook=hook,
                key=_key(event_type, str(firing_id), "webhook", str(hook.pk)),
            )
            for hook in hooks[tenant.pk]
        ]
    if rows:
        bulk.insert(Notification, rows, ignore_conflicts=True)
        for _ in range(-(-len(rows) // DELIVERY_BATCH)):
            enqueue("sla.tasks.deliver_notifications")
    return len(rows)


def queue_for_escalation(esc, event_type: str, emails: list[str]) -> int:
    """Email the people an escalation concerns (its team, or the leads); once per address."""
    recipients = set(filter(None, emails))
    if esc.team_id:
        from tenants.models import Team

        team = (
            Team.objects.dangerously_unscoped("the escalation's team")
            .filter(pk=esc.team_id)
            .prefetch_related("members")
            .first()
        )
        if team is not None:
            recipients |= {team.email} | {m.email for m in team.members.all()}
    recipients.discard("")
    incident = esc.incident
    rows = [
        Notification(
            tenant_id=esc.tenant_id,
            incident=incident,
            event_type=event_type,
            channel=Notification.Channel.EMAIL,
            recipient=email,
            key=_key(event_type, str(esc.pk), "email", email),
            subject=_subject(f"[{incident.tenant.name}] {event_type}: {incident.title}"),
            payload={
                "type": event_type,
                "escalation": str(esc.pk),
                "incident": str(incident.pk),
                "title": incident.title,
                "direction": esc.direction,
                "status": esc.status,
            },
        )
        for email in sorted(recipients)
    ]
    if rows:
        Notification.objects.bulk_create(rows, ignore_conflicts=True)
        enqueue("sla.tasks.deliver_notifications")
    return len(rows)


def deliver_due(now: datetime | None = None, batch: int = DELIVERY_BATCH) -> int:
    """Send what is due, up to `batch` rows; the number sent."""
    return deliver_batch(now, batch)[1]


def deliver_batch(now: datetime | None = None, batch: int = DELIVERY_BATCH) -> tuple[int, int]:
    """(rows taken, rows sent): tenants.outbox claims, sends and records each row."""
    return OUTBOX.deliver_batch(now, batch)


def _send(note: Notification) -> None:
    if note.channel == Notification.Channel.EMAIL:
        _send_email(note)
    else:
        _send_webhook(note)


def _send_email(note: Notification) -> None:
    body = "\n".join(f"{key}: {value}" for key, value in note.payload.items())
    try:
        # the subject again: a row queued before subjects were made one line
        send_mail(mail.subject(note.subject), body, settings.DEFAULT_FROM_EMAIL, [note.recipient])
    except Exception as exc:
        if mail.refused_for_good(exc):
            raise PermanentFailure(f"{type(exc).__name__}: {exc}") from exc
        raise


def _send_webhook(note: Notification) -> None:
    hook = note.webhook
    if hook is None or not hook.is_active:
        raise PermanentFailure("the webhook was removed or disabled")
    body = json.dumps(note.payload, separators=(",", ":")).encode()
    timestamp = str(int(time.time()))
    signature = hmac.new(
        hook.secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256
    ).hexdigest()
    status = webhooks.post(
        hook.url,
        body,
        {
            "Content-Type": "application/json",
            "X-MSSP-Event": note.event_type,
            "X-MSSP-Delivery": str(note.pk),
            "X-MSSP-Timestamp": timestamp,
            "X-MSSP-Signature": f"sha256={signature}",
        },
    )
    if 300 <= status < 400:  # redirects are not followed: where to would be unchecked
        raise PermanentFailure(f"webhook answered {status} (redirects are not followed)")
    if not 200 <= status < 300:
        raise RuntimeError(f"webhook answered {status}")


OUTBOX = register(
    Outbox(
        model=Notification,
        send=lambda note: _send(note),  # looked up at each call, so that it can be replaced
        reason="notification delivery for every tenant",
        lease=CLAIM_LEASE,
        related=("webhook",),
        permanent=(PermanentFailure, webhooks.DestinationRefused),
    )
)
