"""Sending deliveries (tenants.outbox does the claiming, retrying and dead-lettering): each row
is rendered for its channel's kind and sent with the channel's unsealed secrets, which exist
in memory only for the send. Staff can put a dead-lettered delivery back in the queue."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from tenants import webhooks
from tenants.jobs import enqueue
from tenants.outbox import Outbox, OutboxRow, PermanentFailure, register
from tenants.sealed import SecretsUnreadable, unseal
from tenants.text import single_line

from .message import Message
from .models import Channel, ContactMethod, Delivery, TeamChannel

if TYPE_CHECKING:
    from .senders import Answer

# A claimed row is due again after this long if its worker never records the outcome: longer
# than a delivery can take (webhooks.DEADLINE, EMAIL_TIMEOUT a step).
CLAIM_LEASE = timedelta(seconds=30)


def send(delivery: Delivery) -> Answer:
    from . import senders  # its failures are tenants.outbox's: permanent, or retry later

    destination = _destination(delivery)
    try:
        secrets = unseal(destination.sealed_secrets) if destination is not None else {}
    except SecretsUnreadable as exc:
        raise PermanentFailure(str(exc)) from None
    from .links import links_for

    answers = links_for(delivery)  # signed now, never stored
    message = Message(**{**delivery.message, "delivery_id": str(delivery.pk), "links": answers})
    target = destination.target if destination is not None else delivery.recipient
    return senders.send(delivery.kind, target, secrets, message)


def _destination(delivery: Delivery) -> Channel | TeamChannel | ContactMethod | None:
    """Where a delivery goes: its channel (a tenant's, or an MSSP team's), the paged person's
    contact method, or (a page to someone without rules) nothing but the `recipient`
    address."""
    if delivery.page_id is not None:
        if delivery.contact_method is None and not delivery.recipient:
            raise PermanentFailure("the contact method was removed")
        return delivery.contact_method
    if delivery.team_channel_id is not None or (
        delivery.channel_id is None and delivery.staff_only
    ):
        # an MSSP team's channel (SET_NULL when removed: staff_only and no channel left)
        if delivery.team_channel is None or not delivery.team_channel.is_active:
            raise PermanentFailure("the team channel was removed or disabled")
        return delivery.team_channel
    if delivery.channel is None or not delivery.channel.is_active:
        raise PermanentFailure("the channel was removed or disabled")
    return delivery.channel


def _sent(_delivery: Delivery, answer: Answer) -> dict[str, Any]:
    return {"answer": single_line(answer.detail, 200)}


def _failed(_delivery: Delivery, failure: BaseException) -> dict[str, Any]:
    return {"answer": single_line(failure, 200) or type(failure).__name__}


OUTBOX = register(
    Outbox(
        model=Delivery,
        send=lambda delivery: send(delivery),  # looked up at each call, so it can be replaced
        reason="channel deliveries of every tenant",
        lease=CLAIM_LEASE,
        related=("channel", "team_channel", "contact_method"),
        permanent=(PermanentFailure, webhooks.DestinationRefused),
        sent=_sent,
        failed=_failed,
        # sent this many at once, tenants taking turns (read at each call: a setting)
        concurrency=lambda: settings.NOTIFICATIONS_CONCURRENCY,
        # one customer's flood waits for its next minute; pages (people woken) never do
        rate_per_minute=lambda: settings.NOTIFICATIONS_TENANT_RATE_PER_MINUTE,
        unlimited=lambda delivery: delivery.event_type == "page",
    )
)


def deliver_batch() -> tuple[int, int]:
    return OUTBOX.deliver_batch()


def drain() -> tuple[int, int]:
    """(rows taken, rows sent): what is due, until nothing is left or the outbox's time is up."""
    return OUTBOX.drain()


def retry(delivery: Delivery) -> None:
    """A dead-lettered (or waiting) delivery, due again at once with a fresh set of attempts."""
    with transaction.atomic():
        Delivery.objects.for_tenant(delivery.tenant_id).filter(
            pk=delivery.pk, status__in=[OutboxRow.Status.FAILED, OutboxRow.Status.PENDING]
        ).update(status=OutboxRow.Status.PENDING, attempts=0, next_attempt_at=timezone.now())
        enqueue("notifications.tasks.deliver_deliveries")
