"""The outbox: messages written in the transaction that decides to send them, delivered after
commit, retried from the table. One kit for every kind of outgoing message (SLA notices to
contacts and webhooks in sla.notify, channel deliveries in notifications.delivery).

A row is claimed in a short transaction of its own (SKIP LOCKED: two workers never share one;
the claim moves it `lease` ahead and counts the attempt), sent with no transaction open (a
slow receiver would hold its locks: with SQLite, every writer's), and its outcome recorded in
another. A worker killed mid-send leaves the row to come due again when the lease lapses; the
counted attempts bound how often that can happen. Delivery is therefore at least once, and
every row carries an id its receiver can drop repeats by."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar, TypeVar

from django.db import models, transaction
from django.db.models import F
from django.utils import timezone

from .models import TenantOwnedModel
from .rls import rls_bypass
from .text import single_line

logger = logging.getLogger("mssp.notify")
BATCH = 50  # rows one delivery task sends at most


class PermanentFailure(Exception):
    """A delivery that retrying cannot make succeed: given up at once."""


class RetryLater(Exception):
    """The receiver asked to be tried again later (429, 503 with Retry-After)."""

    def __init__(self, message: str, after_seconds: float | None = None) -> None:
        super().__init__(message)
        self.after_seconds = after_seconds


class OutboxRow(TenantOwnedModel):
    """The columns every outbox row has; a concrete outbox adds what it sends."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed (gave up)"

    MAX_ATTEMPTS: ClassVar[int] = 8

    key = models.CharField(max_length=300)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        abstract = True


Row = TypeVar("Row", bound=OutboxRow)


@dataclass(frozen=True)
class Outbox:
    """How to deliver one outbox model: `send(row)` sends it or raises; `sent(row, answer)`
    gives extra columns to record with a success (what the receiver said)."""

    model: type[OutboxRow]
    send: Callable[[Any], Any]
    reason: str  # why delivery reads every tenant's rows (rls_bypass's log line)
    lease: timedelta = timedelta(seconds=30)
    related: tuple[str, ...] = ()  # select_related() for what send() reads
    permanent: tuple[type[BaseException], ...] = (PermanentFailure,)
    sent: Callable[[Any, Any], dict[str, Any]] | None = None
    failed: Callable[[Any, BaseException], dict[str, Any]] | None = None

    def due(self) -> models.QuerySet[Any]:
        return self.model.objects.dangerously_unscoped(self.reason).filter(  # type: ignore[no-any-return]
            status=OutboxRow.Status.PENDING
        )

    def deliver_batch(self, now: datetime | None = None, batch: int = BATCH) -> tuple[int, int]:
        """(rows taken, rows sent): up to `batch` due rows, one at a time."""
        now = now or timezone.now()
        taken = sent = 0
        for _ in range(batch):
            row = self.claim(now)
            if row is None:
                break
            taken += 1
            if row.attempts > self.model.MAX_ATTEMPTS:  # interrupted every time it was sent
                self.record(row, now, PermanentFailure(f"interrupted {row.attempts - 1} times"))
                continue
            try:
                answer = self.send(row)
            except Exception as exc:  # any delivery failure is recorded; the batch goes on
                self.record(row, now, exc)
            else:
                self.record(row, now, None, answer)
                sent += 1
        return taken, sent

    def claim(self, now: datetime) -> Any:
        with transaction.atomic(), rls_bypass(self.reason):
            row = (
                self.due()
                .filter(next_attempt_at__lte=now)
                .select_for_update(skip_locked=True, of=("self",))
                .select_related(*self.related)
                .order_by("next_attempt_at")
                .first()
            )
            if row is None:
                return None
            row.attempts += 1
            row.next_attempt_at = now + self.lease
            self.due().filter(pk=row.pk).update(
                attempts=F("attempts") + 1, next_attempt_at=row.next_attempt_at
            )
            return row

    def record(
        self, row: Any, now: datetime, failure: BaseException | None, answer: Any = None
    ) -> None:
        with transaction.atomic(), rls_bypass(self.reason):
            current = self.due().filter(pk=row.pk)
            if failure is None:
                extra = self.sent(row, answer) if self.sent else {}
                current.update(
                    status=OutboxRow.Status.SENT, sent_at=timezone.now(), last_error="", **extra
                )
                return
            # what any server or library said, made storable (no NUL) and one line
            error = single_line(failure, 500) or type(failure).__name__
            extra = self.failed(row, failure) if self.failed else {}
            # only while the claim is still this worker's (a lapsed lease may have passed it on)
            current = current.filter(attempts=row.attempts)
            if isinstance(failure, self.permanent) or row.attempts >= self.model.MAX_ATTEMPTS:
                logger.warning("giving up on %s %s: %s", self.model.__name__, row.pk, error)
                current.update(status=OutboxRow.Status.FAILED, last_error=error, **extra)
                return
            after = backoff(row.attempts)
            if isinstance(failure, RetryLater) and failure.after_seconds is not None:
                after = max(after, timedelta(seconds=min(failure.after_seconds, 3600)))
            current.update(last_error=error, next_attempt_at=now + after, **extra)


def backoff(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min, ... after the attempts so far."""
    return timedelta(seconds=30 * 2**attempts)


_registered: list[Outbox] = []


def register(outbox: Outbox) -> Outbox:
    """Make an outbox one that the embedded mode's delivery thread drains (sla.delivery_thread)."""
    if outbox not in _registered:
        _registered.append(outbox)
    return outbox


def registered() -> tuple[Outbox, ...]:
    return tuple(_registered)
