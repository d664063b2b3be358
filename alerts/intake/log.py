"""The durable intake log (INTAKE_MODE "log"): a request's alerts are parsed and validated in
the request, appended to the log in one statement and committed before the 202; drains run the
pipeline (alerts.ingest: dedup, grouping, correlation and suppression, SLA clocks, intel
matching, stream events) on them later, in batches that grow with the load.

Exactly once, by construction. A drain takes the oldest rows with FOR UPDATE SKIP LOCKED (two
drains never share a row), runs the pipeline for each source's rows under its tenant's
row-level-security scope, and deletes those rows in the same transaction, then commits. A
drain killed before its commit leaves nothing behind: its transaction aborts, its locks go,
and the next drain takes the same rows. Stream events and notifications go out after commit
(on_commit, the outbox), as in the direct mode. The alerts keep the ids the sender was given
at append; the insert is idempotent on id and dedup key all the same (alerts.ingest).

Ids at append: an alert already stored (a redelivery) is answered with its stored id and
counted as a duplicate, as the direct mode does. A redelivery that arrives while the first
copy still waits in the log cannot be known yet: it gets an id of its own, which stays unused
(the pipeline stores the alert once, under the first id).

Waking: on PostgreSQL the append's statement also NOTIFYs `mssp_intake_log` (delivered at
commit); `manage.py drain_intake` LISTENs and drains at once, and every FALLBACK_SECONDS
whatever it heard, so a missed notification never strands a row. In the embedded mode
(SQLite, one server process) a thread of that process drains, woken after each append's
commit. A row the pipeline fails on alone is tried MAX_ATTEMPTS times, then set aside
(`failed_at`): kept, counted on /healthz, never dropped.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any

from django.conf import settings
from django.db import DatabaseError, InterfaceError, close_old_connections, connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from tenants import rls
from tenants.models import new_public_id
from tenants.text import single_line

from .. import ingest
from ..models import Alert, IntakeLogEntry, IntakeSource
from .base import NormalizedAlert, Observable

logger = logging.getLogger("mssp.intake")

CHANNEL = "mssp_intake_log"
REASON = "intake log drain: every customer's accepted alerts"
FALLBACK_SECONDS = 1.0  # a drain looks at the log this often, notified or not
MAX_ATTEMPTS = 5  # a row the pipeline fails on alone, then set aside


def enabled() -> bool:
    return settings.INTAKE_MODE == "log"


# --- the alert as the log keeps it -----------------------------------------------------------
def to_record(alert: NormalizedAlert) -> dict[str, Any]:
    record = asdict(alert)
    for name in ("observed_at", "ends_at"):
        if record[name] is not None:
            record[name] = record[name].isoformat()
    return record


def from_record(record: dict[str, Any]) -> NormalizedAlert:
    values = dict(record)
    for name in ("observed_at", "ends_at"):
        if values.get(name):
            values[name] = parse_datetime(values[name])
    values["observables"] = [Observable(o["type"], o["value"]) for o in values["observables"]]
    return NormalizedAlert(**values)


# --- append ------------------------------------------------------------------------------------
APPEND_SQL = """
WITH appended AS (
    INSERT INTO {table} (tenant_id, source_id, received_at, alerts, attempts, last_error)
    VALUES (%s, %s, %s, %s::jsonb, 0, '') RETURNING id
)
SELECT pg_notify('{channel}', '') FROM appended
"""


@dataclass(frozen=True)
class Appended:
    alert_ids: list[str]  # per alert, in the batch's order
    duplicates: int  # alerts already stored (a redelivery), or twice in the batch


def append(source: IntakeSource, alerts: list[NormalizedAlert]) -> Appended:
    """Give each alert its id and append the batch to the log, in the caller's transaction
    (the request's, whose tenant context is the source's). Committed before the 202."""
    keys = [ingest.dedup_key_of(alert) for alert in alerts]
    stored = dict(
        Alert.objects.for_tenant(source.tenant_id)
        .filter(source=source, dedup_key__in=set(keys))
        .values_list("dedup_key", "pk")
    )
    given: dict[str, str] = {}
    ids, duplicates = [], 0
    for alert, key in zip(alerts, keys, strict=True):
        if key in stored:
            ids.append(str(stored[key]))
            resolves = alert.status == Alert.Status.RESOLVED and alert.source_ref
            duplicates += not resolves  # a resolution updates its alert: not a repeat
        elif key in given:
            ids.append(given[key])
            duplicates += 1
        else:
            given[key] = str(new_public_id())
            ids.append(given[key])
    document = [
        {"id": alert_id, "alert": to_record(alert)}
        for alert_id, alert in zip(ids, alerts, strict=True)
    ]
    now = timezone.now()
    if connection.vendor == "postgresql":
        sql = APPEND_SQL.format(
            table=connection.ops.quote_name(IntakeLogEntry._meta.db_table), channel=CHANNEL
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [source.tenant_id, source.pk, now, ingest._json_text(document)])
    else:
        IntakeLogEntry.objects.create(
            tenant_id=source.tenant_id, source_id=source.pk, received_at=now, alerts=document
        )
        embedded_drain.remember_loop()
        transaction.on_commit(embedded_drain.wake)
    return Appended(alert_ids=ids, duplicates=duplicates)


# --- drain -------------------------------------------------------------------------------------
def _pending() -> Any:
    return IntakeLogEntry.objects.dangerously_unscoped(REASON).filter(failed_at=None)


def drain_batch(limit: int | None = None) -> int:
    """Take up to `limit` (INTAKE_DRAIN_BATCH) of the oldest pending rows no other drain
    holds, run the pipeline on them and delete them, in one transaction. Returns the rows
    taken (0: nothing pending, or every pending row is another drain's)."""
    limit = limit or settings.INTAKE_DRAIN_BATCH
    with transaction.atomic():
        with rls.rls_bypass(REASON):
            entries = list(_pending().select_for_update(skip_locked=True).order_by("id")[:limit])
            if not entries:
                return 0
            source_ids = {entry.source_id for entry in entries}
            sources = {
                s.pk: s
                for s in IntakeSource.objects.dangerously_unscoped(REASON)
                .select_related("tenant")
                .filter(pk__in=source_ids)
            }
        by_source: dict[Any, list[IntakeLogEntry]] = {}
        for entry in entries:
            by_source.setdefault(entry.source_id, []).append(entry)
        failed: list[tuple[IntakeLogEntry, str]] = []
        for source_id, group in by_source.items():
            failed += _run_group(sources[source_id], group)
        if failed:
            _record_failures(failed)
        pause = settings.INTAKE_DRAIN_PAUSE_SECONDS
        if pause:  # the crash tests' window: pipeline run, nothing committed yet
            logger.warning(
                "intake drain %s: holding %d rows uncommitted", os.getpid(), len(entries)
            )
            time.sleep(pause)
    return len(entries)


def _run_group(source: IntakeSource, group: list[IntakeLogEntry]) -> list[tuple[Any, str]]:
    """The pipeline on one source's rows, as one batch; should it fail, on each row alone,
    so that one row the pipeline cannot take does not hold back the others. Returns the rows
    that failed alone, with why."""
    try:
        _ingest(source, group)
        return []
    except DatabaseError as exc:
        if not connection.is_usable():
            raise  # the connection is gone: the whole transaction is lost anyway
        if len(group) == 1:
            return [(group[0], str(exc))]
    except Exception as exc:  # a bug or a record the pipeline cannot take: retried alone
        if len(group) == 1:
            return [(group[0], f"{type(exc).__name__}: {exc}")]
    logger.warning("intake drain: a batch of %d rows of source %s failed", len(group), source.pk)
    failed = []
    for entry in group:
        try:
            _ingest(source, [entry])
        except Exception as exc:  # noqa: BLE001 - recorded on the row, which is kept
            if isinstance(exc, DatabaseError) and not connection.is_usable():
                raise
            logger.exception("intake drain: log row %s failed", entry.pk)
            failed.append((entry, f"{type(exc).__name__}: {exc}"))
    return failed


def _ingest(source: IntakeSource, group: list[IntakeLogEntry]) -> None:
    """One savepoint under the source's tenant scope: the pipeline, then the rows' removal."""
    alerts, ids = [], []
    for entry in group:
        for item in entry.alerts:
            alerts.append(from_record(item["alert"]))
            ids.append(item["id"])
    with rls.tenant_scope([source.tenant_id]):
        ingest.ingest(source, alerts, ids=ids, received_at=min(e.received_at for e in group))
        IntakeLogEntry.objects.for_tenant(source.tenant_id).filter(
            pk__in=[entry.pk for entry in group]
        ).delete()


def _record_failures(failed: list[tuple[IntakeLogEntry, str]]) -> None:
    now = timezone.now()
    with rls.rls_bypass(REASON):
        for entry, error in failed:
            attempts = entry.attempts + 1
            IntakeLogEntry.objects.dangerously_unscoped(REASON).filter(pk=entry.pk).update(
                attempts=attempts,
                last_error=single_line(error, 500),
                failed_at=now if attempts >= MAX_ATTEMPTS else None,
            )
            if attempts >= MAX_ATTEMPTS:
                logger.error("intake log row %s set aside after %d attempts", entry.pk, attempts)


def drain(max_seconds: float | None = None) -> int:
    """drain_batch() until nothing is left (or `max_seconds` have passed); the rows taken.
    Tests and the embedded thread call this; so does `drain_intake` between wake-ups."""
    deadline = None if max_seconds is None else time.monotonic() + max_seconds
    taken = 0
    while True:
        batch = drain_batch()
        taken += batch
        if batch == 0 or (deadline is not None and time.monotonic() >= deadline):
            return taken


# --- the backlog -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Backlog:
    requests: int  # rows waiting
    alerts: int  # alerts in them
    oldest_seconds: float  # age of the oldest waiting row (0 when none)
    set_aside: int  # rows the pipeline failed on MAX_ATTEMPTS times

    @property
    def degraded(self) -> bool:
        limit = settings.INTAKE_LOG_DEGRADED_SECONDS
        return self.set_aside > 0 or self.oldest_seconds > limit

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": "degraded" if self.degraded else "ok",
            "backlog": self.requests,
            "backlog_alerts": self.alerts,
            "oldest_seconds": round(self.oldest_seconds, 1),
            "set_aside": self.set_aside,
        }


BACKLOG_SQL = """
SELECT count(*) FILTER (WHERE failed_at IS NULL),
    coalesce(sum(jsonb_array_length(alerts)) FILTER (WHERE failed_at IS NULL), 0),
    min(received_at) FILTER (WHERE failed_at IS NULL),
    count(*) FILTER (WHERE failed_at IS NOT NULL)
FROM {table}
"""


def backlog() -> Backlog:
    """What waits in the log, across every customer (system health, no tenant data): one
    statement on PostgreSQL."""
    with rls.rls_bypass("intake log backlog (health)"):
        if connection.vendor == "postgresql":
            table = connection.ops.quote_name(IntakeLogEntry._meta.db_table)
            with connection.cursor() as cursor:
                cursor.execute(BACKLOG_SQL.format(table=table))
                requests, alerts, oldest, set_aside = cursor.fetchone()
        else:
            rows = list(
                IntakeLogEntry.objects.dangerously_unscoped("intake log backlog").values_list(
                    "alerts", "received_at", "failed_at"
                )
            )
            waiting = [(items, at) for items, at, failed in rows if failed is None]
            requests, set_aside = len(waiting), len(rows) - len(waiting)
            alerts = sum(len(items) for items, _ in waiting)
            oldest = min((at for _, at in waiting), default=None)
    age = (timezone.now() - oldest).total_seconds() if oldest else 0.0
    return Backlog(int(requests), int(alerts), max(age, 0.0), int(set_aside))


# --- the long-running drain (manage.py drain_intake) -------------------------------------------
def _listen_connection() -> Any:
    """A connection of its own (never the pool's) that LISTENs on the log's channel."""
    import psycopg

    params = connection.settings_dict
    options = {
        k: v
        for k, v in (params.get("OPTIONS") or {}).items()
        if k not in ("pool", "isolation_level", "server_side_binding", "assume_role")
    }
    listener = psycopg.connect(
        dbname=params["NAME"],
        user=params["USER"],
        password=params["PASSWORD"],
        host=params["HOST"] or None,
        port=params["PORT"] or None,
        autocommit=True,
        **options,
    )
    listener.execute(f"LISTEN {CHANNEL}")
    return listener


def _heard(listener: Any, timeout: float) -> bool:
    """Wait up to `timeout` for a notification; True if one came. Those already queued are
    taken with it: the drain that follows sees every row they announced."""
    heard = False
    for _ in listener.notifies(timeout=timeout, stop_after=1):
        heard = True
    while heard:
        more = list(listener.notifies(timeout=0.0, stop_after=100))
        if len(more) < 100:
            break
    return heard


def run_forever(stop: threading.Event, *, fallback: float = FALLBACK_SECONDS) -> None:
    """Drain until `stop` is set: at once after each notification (PostgreSQL), and every
    `fallback` seconds whatever was heard. A lost database connection (a restart, a killed
    backend) is logged and made again; the rows it held are taken again."""
    listener = None
    failures = 0
    while not stop.is_set():
        try:
            if listener is None and connection.vendor == "postgresql":
                listener = _listen_connection()
                logger.info("intake drain %s: listening on %s", os.getpid(), CHANNEL)
            taken = drain()
            if taken:
                logger.info("intake drain %s: %d requests through the pipeline", os.getpid(), taken)
            failures = 0
            if listener is not None:
                _heard(listener, fallback)
            else:
                stop.wait(fallback)
        except (DatabaseError, InterfaceError, OSError) as exc:
            failures += 1
            logger.warning(
                "intake drain %s: database connection lost (%s); again", os.getpid(), exc
            )
            listener = _close(listener)
            close_old_connections()
            connection.close()
            stop.wait(min(0.2 * 2**failures, 5.0))
        except Exception as exc:
            if type(exc).__module__.startswith("psycopg"):  # the listening connection's
                failures += 1
                logger.warning("intake drain %s: listener lost (%s); again", os.getpid(), exc)
                listener = _close(listener)
                stop.wait(min(0.2 * 2**failures, 5.0))
                continue
            raise
    _close(listener)


def _close(listener: Any) -> None:
    if listener is not None:
        try:
            listener.close()
        except Exception:  # noqa: BLE001, S110 - closing a connection that is already gone
            pass


# --- the embedded mode's drain thread ----------------------------------------------------------
class EmbeddedDrain:
    """One thread of the server process (SQLite has neither SKIP LOCKED nor LISTEN; the
    embedded mode is one process): woken after each append's commit, and every
    FALLBACK_SECONDS. Its stream events are published on the server's event loop, where the
    in-memory channel layer's sockets are, as a request's are."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: Any = None
        self._stop = threading.Event()

    def remember_loop(self) -> None:
        from asgiref.sync import SyncToAsync

        local = SyncToAsync.threadlocal
        if getattr(local, "main_event_loop_pid", None) == os.getpid():
            self._loop = getattr(local, "main_event_loop", None)

    def wake(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._stop.clear()
                self._thread = threading.Thread(target=self._run, name="intake-drain", daemon=True)
                self._thread.start()
        self._wake.set()

    def _run(self) -> None:
        from asgiref.sync import SyncToAsync

        while not self._stop.is_set():
            self._wake.wait(FALLBACK_SECONDS)
            self._wake.clear()
            if self._stop.is_set():
                break
            if self._loop is not None:
                SyncToAsync.threadlocal.main_event_loop = self._loop
                SyncToAsync.threadlocal.main_event_loop_pid = os.getpid()
            try:
                drain()
            except Exception:  # the rows stay in the log; the next wake-up takes them
                logger.exception("intake drain thread: drain failed")
            finally:
                close_old_connections()

    def stop(self) -> None:
        """Stop the thread (tests; the server's process simply exits)."""
        with self._lock:
            thread, self._thread = self._thread, None
        self._stop.set()
        self._wake.set()
        if thread is not None:
            thread.join(timeout=10)


embedded_drain = EmbeddedDrain()


def waiting_ids() -> list[str]:
    """The alert ids of every row still in the log (the crash tests' checks)."""
    with rls.rls_bypass("intake log: waiting alert ids"):
        rows = IntakeLogEntry.objects.dangerously_unscoped("waiting").values_list(
            "alerts", flat=True
        )
        return [item["id"] for alerts in rows for item in alerts]
