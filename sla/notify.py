"""Notifications of SLA firings: email to the tenant's contacts and signed POSTs to its
webhooks. Written to the outbox (Notification) in the firing's transaction, delivered after
commit, retried with backoff from the table, so a lost task or a dead worker loses nothing
and nothing is queued twice. Delivery is at least once: a worker killed between sending and
recording it sends again on retry, so webhooks carry X-MSSP-Delivery (the notification id)
for the receiver to drop repeats."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections import defaultdict
from datetime import datetime, timedelta

import httpx
from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from tenants.models import Contact, Webhook
from tenants.rls import rls_bypass
from tenants.webhooks import check_destination

from . import bulk
from .models import Notification, SlaClock

logger = logging.getLogger("mssp.notify")
WEBHOOK_TIMEOUT = 5.0
DELIVERY_BATCH = 50  # notifications one delivery task sends at most


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
            "subject": f"[{tenant.name}] {summary}",
            "payload": {"type": event_type, "tenant": tenant.slug, **data},
        }
        rows += [
            Notification(
                **common,
                channel=Notification.Channel.EMAIL,
                recipient=contact.email,
                key=f"{event_type}:{firing_id}:email:{contact.email}",
            )
            for contact in contacts[tenant.pk]
        ]
        rows += [
            Notification(
                **common,
                channel=Notification.Channel.WEBHOOK,
                recipient=hook.url,
                webhook=hook,
                key=f"{event_type}:{firing_id}:webhook:{hook.pk}",
            )
            for hook in hooks[tenant.pk]
        ]
    if rows:
        bulk.insert(Notification, rows, ignore_conflicts=True)
        from .tasks import deliver_notifications

        for _ in range(-(-len(rows) // DELIVERY_BATCH)):
            deliver_notifications.delay_on_commit()
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
            key=f"{event_type}:{esc.pk}:email:{email}",
            subject=f"[{incident.tenant.name}] {event_type}: {incident.title}",
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
        from .tasks import deliver_notifications

        deliver_notifications.delay_on_commit()
    return len(rows)


def deliver_due(now: datetime | None = None, batch: int = DELIVERY_BATCH) -> int:
    """Send what is due; each row is claimed with SKIP LOCKED so workers never share one, and
    sent and recorded in a transaction of its own: a worker killed mid-batch sends again only
    the one it was sending, not every row of the batch it had sent but not yet committed."""
    now = now or timezone.now()
    sent = 0
    for _ in range(batch):
        with transaction.atomic(), rls_bypass("notification delivery for every tenant"):
            note = (
                Notification.objects.dangerously_unscoped("notification delivery")
                .filter(status=Notification.Status.PENDING, next_attempt_at__lte=now)
                .select_for_update(skip_locked=True, of=("self",))
                .select_related("webhook")
                .order_by("next_attempt_at")
                .first()
            )
            if note is None:
                break
            try:
                _send(note)
            except Exception as exc:  # any delivery failure is retried, then given up on
                note.attempts += 1
                note.last_error = str(exc)[:500]
                if note.attempts >= Notification.MAX_ATTEMPTS:
                    note.status = Notification.Status.FAILED
                    logger.warning("giving up on notification %s: %s", note.pk, exc)
                else:
                    note.next_attempt_at = now + timedelta(seconds=30 * 2**note.attempts)
            else:
                note.status, note.sent_at, note.attempts = (
                    Notification.Status.SENT,
                    timezone.now(),
                    note.attempts + 1,
                )
                sent += 1
            note.save(
                update_fields=["status", "sent_at", "attempts", "last_error", "next_attempt_at"]
            )
    return sent


def _send(note: Notification) -> None:
    if note.channel == Notification.Channel.EMAIL:
        body = "\n".join(f"{key}: {value}" for key, value in note.payload.items())
        send_mail(note.subject, body, settings.DEFAULT_FROM_EMAIL, [note.recipient])
        return
    hook = note.webhook
    if hook is None or not hook.is_active:
        raise RuntimeError("the webhook was removed or disabled")
    check_destination(hook.url)
    body = json.dumps(note.payload, separators=(",", ":")).encode()
    timestamp = str(int(time.time()))
    signature = hmac.new(
        hook.secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256
    ).hexdigest()
    response = httpx.post(
        hook.url,
        content=body,
        timeout=WEBHOOK_TIMEOUT,
        headers={
            "Content-Type": "application/json",
            "X-MSSP-Event": note.event_type,
            "X-MSSP-Delivery": str(note.pk),
            "X-MSSP-Timestamp": timestamp,
            "X-MSSP-Signature": f"sha256={signature}",
        },
    )
    if not 200 <= response.status_code < 300:
        raise RuntimeError(f"webhook answered {response.status_code}")
