"""The periodic clean-up of sessions (tenants.tasks.sweep_sessions, each minute).

A session past its idle or absolute limit is signed out at its next request (tenants.sessions
.check_request) and its sockets at their next re-check; one that never makes another request
would otherwise stay "open" on the sessions pages and in no audit entry. The sweep ends those
(audited as a timeout, sockets told at once), deletes Django's expired session rows, and
forgets the records of sessions that ended more than SESSION_HISTORY_DAYS ago (the audit log
keeps their sign-in and end).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib import import_module

from django.conf import settings
from django.utils import timezone

from .models import UserSession
from .rls import rls_bypass
from .sessions import end, timed_out

BATCH = 500  # sessions ended per run at most; the next run takes the rest
SHORTEST_LIMIT = timedelta(minutes=1)  # no limit is shorter (tenants.api.serializers)


@dataclass(frozen=True)
class SweepResult:
    timed_out: int
    expired_rows_cleared: bool
    forgotten: int


def end_timed_out(now: datetime, batch: int = BATCH) -> int:
    """End the open sessions past a limit, oldest activity first: how many ended."""
    candidates = (
        UserSession.objects.filter(ended_at__isnull=True, last_seen_at__lt=now - SHORTEST_LIMIT)
        .select_related("user")
        .order_by("last_seen_at")
    )
    ended = 0
    for record in candidates.iterator(chunk_size=200):
        reason = timed_out(record, now)
        if reason and end(record, reason):
            ended += 1
            if ended >= batch:
                break
    return ended


def clear_expired_rows() -> bool:
    """Django's own expired session rows (what `manage.py clearsessions` does). False when the
    session engine keeps none to clear (signed cookies)."""
    engine = import_module(settings.SESSION_ENGINE)
    try:
        engine.SessionStore.clear_expired()
    except NotImplementedError:
        return False
    return True


def forget_old(now: datetime) -> int:
    """Delete the records of sessions that ended before the history window."""
    cutoff = now - timedelta(days=settings.SESSION_HISTORY_DAYS)
    deleted, _ = UserSession.objects.filter(ended_at__lt=cutoff).delete()
    return deleted


def sweep(now: datetime | None = None) -> SweepResult:
    now = now or timezone.now()
    # Sessions are people's, of every tenant and of the MSSP; each end is audited in its
    # user's tenant (tenants.sessions.end).
    with rls_bypass("sessions sweep: timed-out and old sessions of every user"):
        return SweepResult(
            timed_out=end_timed_out(now),
            expired_rows_cleared=clear_expired_rows(),
            forgotten=forget_old(now),
        )
