"""The outbox: messages written in the transaction that decides to send them, delivered after
commit, retried from the table. One kit for every kind of outgoing message (SLA notices to
contacts and webhooks in sla.notify, channel deliveries in notifications.delivery).

Rows are claimed in a short transaction of their own (SKIP LOCKED: two workers never share
one; the claim moves each `lease` ahead and counts the attempt), sent with no transaction open
(a slow receiver would hold its locks: with SQLite, every writer's), and their outcomes
recorded in another. A worker killed mid-send leaves its rows to come due again when the lease
lapses; the counted attempts bound how often that can happen. Delivery is therefore at least
once, and every row carries an id its receiver can drop repeats by.

An outbox with `concurrency` 1 sends one row at a time. With more, it keeps that many sends
going at once on a pool of threads (the senders block on their receivers; they read nothing
from the database): the calling thread claims as many rows as it has idle threads, in one
transaction, and records the outcomes as they come in, together with its next claim (at most
RECORD_DELAY later), so a slow receiver holds up one thread, not the batch. A worker killed
meanwhile sends again what it had in flight or not yet recorded, once their lease lapses.
Tenants take turns: each one's oldest due row goes before any tenant's second, at most
`per_tenant` of a tenant's rows are claimed at once, and a tenant with that many in flight
waits for one of them, so one customer's backlog (or its receiver that takes ten seconds to
answer) cannot hold every thread while another customer's page waits."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Collection
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from queue import Empty, SimpleQueue
from typing import Any, ClassVar, TypeVar

from django.db import DatabaseError, connections, models, transaction
from django.db.models import F
from django.utils import timezone

from . import ratelimit
from .models import TenantOwnedModel
from .rls import rls_bypass
from .text import single_line

logger = logging.getLogger("mssp.notify")
BATCH = 50  # rows one delivery task sends at most
PER_TENANT = 8  # rows of one tenant a worker claims, and has in flight, at most at once
DRAIN_SECONDS = 30.0  # how long drain() goes on claiming before it leaves the rest
RECORD_DELAY = 0.2  # seconds an outcome may wait to be recorded with the next claim


class PermanentFailure(Exception):
    """A delivery that retrying cannot make succeed: given up at once."""


class RetryLater(Exception):
    """The receiver asked to be tried again later (429, 503 with Retry-After)."""

    def __init__(self, message: str, after_seconds: float | None = None) -> None:
        super().__init__(message)
        self.after_seconds = after_seconds


class OverRate(RetryLater):
    """The row's tenant has used its sends for this minute: due again when the window resets,
    its attempt given back (a noisy customer's messages wait; they are never given up)."""


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
# (row, the claim's `now`, the failure or None, what send() answered)
Outcome = tuple[Any, datetime, BaseException | None, Any]


@dataclass(frozen=True)
class Outbox:
    """How to deliver one outbox model: `send(row)` sends it or raises; `sent(row, answer)`
    gives extra columns to record with a success (what the receiver said). `concurrency` is
    how many rows are sent at once: a number, or a function read at each call (a setting)."""

    model: type[OutboxRow]
    send: Callable[[Any], Any]
    reason: str  # why delivery reads every tenant's rows (rls_bypass's log line)
    lease: timedelta = timedelta(seconds=30)
    related: tuple[str, ...] = ()  # select_related() for what send() reads
    permanent: tuple[type[BaseException], ...] = (PermanentFailure,)
    sent: Callable[[Any, Any], dict[str, Any]] | None = None
    failed: Callable[[Any, BaseException], dict[str, Any]] | None = None
    concurrency: int | Callable[[], int] = 1
    per_tenant: int = PER_TENANT
    # Sends per tenant per minute, across every worker (tenants.ratelimit); 0 or None: no
    # limit. Rows for which `unlimited(row)` holds are neither counted nor held back.
    rate_per_minute: int | Callable[[], int] | None = None
    unlimited: Callable[[Any], bool] | None = None

    def due(self) -> models.QuerySet[Any]:
        return self.model.objects.dangerously_unscoped(self.reason).filter(  # type: ignore[no-any-return]
            status=OutboxRow.Status.PENDING
        )

    def workers(self) -> int:
        """How many rows are sent at once."""
        value = self.concurrency() if callable(self.concurrency) else self.concurrency
        return max(1, int(value))

    def over_rate(self, row: Any, now: datetime) -> OverRate | None:
        """Why `row` must wait for its tenant's next window (and counts it if not)."""
        limit = self.rate_per_minute() if callable(self.rate_per_minute) else self.rate_per_minute
        if not limit or (self.unlimited is not None and self.unlimited(row)):
            return None
        wait = ratelimit.take(self.model._meta.label_lower, str(row.tenant_id), int(limit))
        if not wait:
            return None
        return OverRate(f"this customer's {limit} messages a minute are used up", wait)

    def deliver_batch(self, now: datetime | None = None, batch: int = BATCH) -> tuple[int, int]:
        """(rows taken, rows sent): up to `batch` due rows, one at a time or, with
        `concurrency`, that many at once."""
        if self.workers() > 1:
            return self._deliver_concurrently(now, batch, None)
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
            waits = self.over_rate(row, now)
            if waits is not None:
                self.record(row, now, waits)
                continue
            try:
                answer = self.send(row)
            except Exception as exc:  # any delivery failure is recorded; the batch goes on
                self.record(row, now, exc)
            else:
                self.record(row, now, None, answer)
                sent += 1
        return taken, sent

    def drain(
        self, now: datetime | None = None, max_seconds: float = DRAIN_SECONDS
    ) -> tuple[int, int]:
        """(rows taken, rows sent): what is due, until nothing is left or `max_seconds` have
        passed (then the next task or beat goes on). Without `now`, each claim takes what is
        due when it is made."""
        deadline = time.monotonic() + max_seconds
        if self.workers() > 1:
            return self._deliver_concurrently(now, None, deadline)
        taken = sent = 0
        while True:
            batch = self.deliver_batch(now)
            taken, sent = taken + batch[0], sent + batch[1]
            if batch[0] < BATCH or time.monotonic() >= deadline:
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

    def claim_batch(
        self, now: datetime, limit: int, skip_tenants: Collection[int] = ()
    ) -> list[Any]:
        """Up to `limit` due rows in one transaction, each claimed as claim() claims one.
        Tenants take turns: every tenant's oldest due row before any tenant's second, and at
        most `per_tenant` of one tenant's; none of the `skip_tenants` (they have enough in
        flight). Rows another worker holds are skipped, and the next ones in turn taken."""
        with transaction.atomic(), rls_bypass(self.reason):
            return self._claim(now, limit, skip_tenants)

    def _claim(self, now: datetime, limit: int, skip_tenants: Collection[int]) -> list[Any]:
        ids = self._fair_share(now, limit, skip_tenants)
        if not ids:
            return []
        rows = list(self.due().filter(pk__in=ids).select_related(*self.related).order_by())
        lease_end = now + self.lease
        self.due().filter(pk__in=ids).update(attempts=F("attempts") + 1, next_attempt_at=lease_end)
        for row in rows:
            row.attempts += 1
            row.next_attempt_at = lease_end
        return rows

    def _fair_share(self, now: datetime, limit: int, skip_tenants: Collection[int]) -> list[Any]:
        """The ids claim_batch() takes, locked (PostgreSQL) until the transaction ends.

        SQL of its own: each due row's turn is its place among its tenant's (a window), and
        the rows are locked in turn order with SKIP LOCKED under the LIMIT, so that a second
        worker claiming at the same moment takes the next rows in turn instead of finding the
        same ones locked (a window and FOR UPDATE cannot share a query level, nor can the
        ORM join a subquery). The rows are read through rls_bypass as every claim's are.

        On PostgreSQL the due rows are read through the partial due index entry by entry (no
        bitmap, no sequential scan): every claim and every outcome leaves a dead entry in it,
        until VACUUM, and a plain index scan marks those it meets as dead, so that the next
        claim skips them; a bitmap scan visits all of them in the table every time (190 ms a
        claim after a storm of 30,000 deliveries with no VACUUM in between, 2.5 ms so)."""
        connection = transaction.get_connection()
        meta, quote = self.model._meta, connection.ops.quote_name
        table, pk = quote(meta.db_table), quote(meta.pk.column)
        tenant = quote(meta.get_field("tenant").column)
        status = quote(meta.get_field("status").column)
        due_at = quote(meta.get_field("next_attempt_at").column)
        moment = connection.ops.adapt_datetimefield_value(now)
        params: list[Any] = [OutboxRow.Status.PENDING, moment]
        skipped = ""
        if skip_tenants:
            skipped = f" AND {tenant} NOT IN ({', '.join(['%s'] * len(skip_tenants))})"
            params += list(skip_tenants)
        params += [self.per_tenant, OutboxRow.Status.PENDING, moment, limit]
        lock = " FOR UPDATE OF d SKIP LOCKED" if connection.features.has_select_for_update else ""
        # names from the model's meta, quoted; every value bound
        sql = (
            f"SELECT d.{pk} FROM {table} d JOIN ("  # noqa: S608
            f"SELECT {pk} AS id, ROW_NUMBER() OVER "
            f"(PARTITION BY {tenant} ORDER BY {due_at}, {pk}) AS turn "
            f"FROM {table} WHERE {status} = %s AND {due_at} <= %s{skipped}"
            f") r ON r.id = d.{pk} "
            f"WHERE r.turn <= %s AND d.{status} = %s AND d.{due_at} <= %s "
            f"ORDER BY r.turn, d.{due_at}, d.{pk} LIMIT %s{lock}"
        )
        with connection.cursor() as cursor:
            walk = connection.vendor == "postgresql"
            if walk:  # the due index, entry by entry: see below
                cursor.execute("SET LOCAL enable_bitmapscan = off; SET LOCAL enable_seqscan = off")
            cursor.execute(sql, params)
            ids = [row[0] for row in cursor.fetchall()]
            if walk:
                cursor.execute("RESET enable_bitmapscan; RESET enable_seqscan")
            return ids

    def record(
        self, row: Any, now: datetime, failure: BaseException | None, answer: Any = None
    ) -> None:
        with transaction.atomic(), rls_bypass(self.reason):
            self._record(row, now, failure, answer)

    def _record(self, row: Any, now: datetime, failure: BaseException | None, answer: Any) -> None:
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
        if isinstance(failure, OverRate):  # not an attempt: the claim's count is given back
            wait = timedelta(seconds=failure.after_seconds or 60)
            current.update(attempts=F("attempts") - 1, next_attempt_at=now + wait, last_error=error)
            return
        if isinstance(failure, self.permanent) or row.attempts >= self.model.MAX_ATTEMPTS:
            logger.warning("giving up on %s %s: %s", self.model.__name__, row.pk, error)
            current.update(status=OutboxRow.Status.FAILED, last_error=error, **extra)
            return
        after = backoff(row.attempts)
        if isinstance(failure, RetryLater) and failure.after_seconds is not None:
            after = max(after, timedelta(seconds=min(failure.after_seconds, 3600)))
        current.update(last_error=error, next_attempt_at=now + after, **extra)

    def _record_together(self, outcomes: list[Outcome]) -> None:
        """Outcomes that came in together, in the open transaction: the successes that record
        the same columns in one UPDATE, each failure as record() records it."""
        sent: dict[str, tuple[dict[str, Any], list[Any]]] = {}
        for row, now, failure, answer in outcomes:
            if failure is not None:
                self._record(row, now, failure, answer)
                continue
            extra = self.sent(row, answer) if self.sent else {}
            sent.setdefault(repr(sorted(extra.items())), (extra, []))[1].append(row.pk)
        for extra, pks in sent.values():
            self.due().filter(pk__in=pks).update(
                status=OutboxRow.Status.SENT, sent_at=timezone.now(), last_error="", **extra
            )

    def _record_all(self, outcomes: list[Outcome]) -> None:
        """_record_together() in a transaction of its own; should that fail, each outcome in
        its own, so that one row the database refuses does not lose the others' outcomes
        (that row comes due again when its lease lapses)."""
        if not outcomes:
            return
        try:
            with transaction.atomic(), rls_bypass(self.reason):
                self._record_together(outcomes)
            return
        except DatabaseError:
            logger.warning("recording %d outcomes one by one", len(outcomes))
        for outcome in outcomes:
            try:
                self.record(*outcome)
            except DatabaseError:
                logger.exception("could not record the outcome of %s", outcome[0].pk)

    def _record_and_claim(
        self, outcomes: list[Outcome], now: datetime, limit: int, skip_tenants: Collection[int]
    ) -> list[Any]:
        """The outcomes so far recorded and the next rows claimed in one short transaction
        (each costs a few statements of its own: the bypass's among them)."""
        if outcomes:
            try:
                with transaction.atomic(), rls_bypass(self.reason):
                    self._record_together(outcomes)
                    return self._claim(now, limit, skip_tenants)
            except DatabaseError:
                self._record_all(outcomes)
        return self.claim_batch(now, limit, skip_tenants)

    def _send_in_thread(self, row: Any) -> tuple[Any, Exception | None]:
        """On a pool thread: (answer, None) or (None, the failure)."""
        try:
            return self.send(row), None
        except Exception as exc:  # any delivery failure is recorded; the others go on
            return None, exc
        finally:
            connections.close_all()  # this thread's own, should send() have read the database

    def _deliver_concurrently(
        self, now: datetime | None, limit: int | None, deadline: float | None
    ) -> tuple[int, int]:
        """Up to `limit` rows (None: no limit) claimed until `deadline` (time.monotonic();
        None: none), `workers()` of them sent at once; (rows taken, rows sent). Outcomes are
        recorded with the next claim, or RECORD_DELAY after the first of them came in."""
        workers = self.workers()
        refill = max(1, workers // 4)  # idle threads worth a claim while others still send
        taken = sent = 0
        flying: dict[Future[tuple[Any, Exception | None]], tuple[Any, datetime]] = {}
        finished: SimpleQueue[Future[tuple[Any, Exception | None]]] = SimpleQueue()
        per_tenant: Counter[int] = Counter()
        outcomes: list[Outcome] = []  # not recorded yet
        since = 0.0  # when the first of them came in
        name = f"outbox-{self.model._meta.label_lower}"
        with ThreadPoolExecutor(workers, thread_name_prefix=name) as pool:
            while True:
                idle = workers - len(flying)
                if limit is not None:
                    idle = min(idle, limit - taken)
                claimed = 0
                if (
                    idle > 0
                    and (idle >= refill or not flying)
                    and (deadline is None or time.monotonic() < deadline)
                ):
                    moment = now or timezone.now()
                    busy = [t for t, count in per_tenant.items() if count >= self.per_tenant]
                    rows = self._record_and_claim(outcomes, moment, idle, busy)
                    outcomes = []
                    claimed = len(rows)
                    for row in rows:
                        taken += 1
                        if row.attempts > self.model.MAX_ATTEMPTS:  # interrupted every time
                            interrupted = f"interrupted {row.attempts - 1} times"
                            outcomes.append((row, moment, PermanentFailure(interrupted), None))
                            since = since if len(outcomes) > 1 else time.monotonic()
                            continue
                        waits = self.over_rate(row, moment)
                        if waits is not None:
                            outcomes.append((row, moment, waits, None))
                            since = since if len(outcomes) > 1 else time.monotonic()
                            continue
                        per_tenant[row.tenant_id] += 1
                        future = pool.submit(self._send_in_thread, row)
                        flying[future] = (row, moment)
                        future.add_done_callback(finished.put)
                if not flying:
                    self._record_all(outcomes)
                    outcomes = []
                    if claimed:  # each row it claimed was given up at once: claim again
                        continue
                    return taken, sent
                if outcomes and time.monotonic() - since >= RECORD_DELAY:
                    self._record_all(outcomes)
                    outcomes = []
                # what has finished: at least one (or, with outcomes waiting, the delay is up)
                try:
                    wait = RECORD_DELAY - (time.monotonic() - since) if outcomes else None
                    done = [finished.get(timeout=None if wait is None else max(wait, 0.0))]
                except Empty:
                    continue
                while not finished.empty():
                    done.append(finished.get())
                if not outcomes:
                    since = time.monotonic()
                for future in done:
                    row, moment = flying.pop(future)
                    per_tenant[row.tenant_id] -= 1
                    answer, failure = future.result()
                    outcomes.append((row, moment, failure, answer))
                    sent += failure is None


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
