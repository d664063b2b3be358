"""What every intake request looks up, kept in each process's memory: the source an intake key
unlocks (with its tenant: suspended or not, its quota) and the tenant's active rules. A cache
hit saves the key lookup's statements and the two rule queries (docs/PERFORMANCE.md).

Correctness before speed:
- **Invalidation.** One generation, a random token in the shared cache (Redis), stands for
  "everything cached so far". Saving or deleting an intake source, a tenant or a rule gives it
  a new value at once and again when the transaction commits (a process that read the old rows
  in between drops them then), so a rotated or disabled key, a suspended tenant, a new quota or
  an edited rule takes effect at the next request in every process. Each request reads the
  generation (one Redis GET) before anything else, and an entry is used only under the
  generation it was loaded under.
- **Only committed rows.** A lookup is remembered when the request's transaction commits, never
  from a transaction that may yet roll back.
- **Only with a shared cache.** Without REDIS_URL (the embedded mode) nothing is cached: the
  generation could not cross processes.
- **Redis down.** Nothing is remembered or used while the generation cannot be read, and a
  change whose new generation cannot be written empties this process's memory; every entry is
  also dropped after MAX_AGE whatever happens, which bounds what an outage could leave stale.
- **Marked seen.** An intake source's `last_seen_at` is written at most every 30 s
  (alerts.ingest); the remembered copy is moved on when a request's alerts are stored, or
  every request would write it again.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.utils import timezone

from ..models import CorrelationRule, IntakeSource, SuppressionRule

GENERATION_KEY = "intake-lookups:generation"
MAX_ENTRIES = 20_000  # each kind; past it the memory starts afresh
MAX_AGE = 60.0  # seconds an entry is used at most, even with no change seen

logger = logging.getLogger(__name__)

_lock = threading.Lock()


@dataclass
class _Source:
    generation: str
    source: IntakeSource  # never handed out: callers get a copy
    loaded: float = 0.0  # time.monotonic()


@dataclass
class _Rules:
    generation: str
    suppression: list[SuppressionRule]  # in force when loaded; expiry checked per request
    correlation: list[CorrelationRule]
    loaded: float = 0.0


_sources: dict[str, _Source] = {}
_rules: dict[int, _Rules] = {}


def enabled() -> bool:
    return bool(settings.REDIS_URL)


def generation() -> str:
    """The current generation; a fresh one when the cache has none (a flush, a restart); ""
    (nothing remembered, nothing used) when the cache cannot be read."""
    try:
        value = cache.get(GENERATION_KEY)
        if value is None:
            value = uuid.uuid4().hex
            if not cache.add(GENERATION_KEY, value, timeout=None):
                value = cache.get(GENERATION_KEY) or value
    except Exception:  # Redis unreachable: look everything up, as without a cache
        logger.warning("intake lookups: cannot read the generation; not remembering")
        forget()
        return ""
    return str(value)


def _fresh(generation_: str, current: str, loaded: float) -> bool:
    return bool(current) and generation_ == current and time.monotonic() - loaded < MAX_AGE


def changed(**_signal: Any) -> None:
    """Something cached has changed: a new generation now, and again once it commits."""
    if not enabled():
        return
    _new_generation()
    transaction.on_commit(_new_generation)


def _new_generation() -> None:
    try:
        cache.set(GENERATION_KEY, uuid.uuid4().hex, timeout=None)
    except Exception:  # the others drop theirs within MAX_AGE; this process at once
        logger.warning("intake lookups: cannot write a new generation")
        forget()


def connect() -> None:
    """Called by AlertsConfig.ready(): in every process that can change these rows."""
    from tenants.models import Tenant

    for model in (IntakeSource, Tenant, SuppressionRule, CorrelationRule):
        post_save.connect(changed, sender=model, dispatch_uid=f"intake-lookups-{model.__name__}")
        post_delete.connect(
            changed, sender=model, dispatch_uid=f"intake-lookups-del-{model.__name__}"
        )


# --- intake sources, by key digest ----------------------------------------------------------
def source(digest: str) -> tuple[str, IntakeSource | None]:
    """(generation, a copy of the remembered source) for this key digest; the source is None
    when not remembered under the current generation. ("", None) when caching is off."""
    if not enabled():
        return "", None
    current = generation()
    entry = _sources.get(digest)
    if entry is None or not _fresh(entry.generation, current, entry.loaded):
        return current, None
    return current, copy.copy(entry.source)


def remember_source(digest: str, current: str, found: IntakeSource) -> None:
    """Keep `found` (loaded under `current`) once the request's transaction commits."""
    if not current:
        return
    kept = copy.copy(found)

    def keep() -> None:
        with _lock:
            if len(_sources) >= MAX_ENTRIES:
                _sources.clear()
            _sources[digest] = _Source(current, kept, time.monotonic())

    transaction.on_commit(keep)


def seen(found: IntakeSource, at: datetime, resolution: Any) -> None:
    """The request stored alerts from `found`, and alerts.ingest marked it seen if its mark
    was older than `resolution`: the remembered copy follows once that commits."""
    if not enabled():
        return

    def follow() -> None:
        entry = _sources.get(found.key_digest)
        if entry is None:
            return
        last = entry.source.last_seen_at
        if last is None or at - last > resolution:
            entry.source.last_seen_at = at

    transaction.on_commit(follow)


# --- a tenant's rules ---------------------------------------------------------------------------
def rules(
    tenant_id: int,
) -> tuple[str, tuple[list[SuppressionRule], list[CorrelationRule]] | None]:
    """(generation, (suppression rules in force now, correlation rules)) remembered for this
    tenant; the rules are None when not remembered under the current generation, and the
    caller loads them (and may remember_rules()). ("", None) when caching is off."""
    if not enabled():
        return "", None
    current = generation()
    entry = _rules.get(tenant_id)
    if entry is None or not _fresh(entry.generation, current, entry.loaded):
        return current, None
    now = timezone.now()  # a rule that has expired since it was loaded is out
    in_force = [rule for rule in entry.suppression if rule.expires_at > now]
    return current, (in_force, list(entry.correlation))


def remember_rules(
    tenant_id: int,
    current: str,
    suppression: list[SuppressionRule],
    correlation: list[CorrelationRule],
) -> None:
    """Keep a tenant's rules (loaded under `current`) once the transaction commits."""
    if not current:
        return

    def keep() -> None:
        kept = _Rules(current, list(suppression), list(correlation), time.monotonic())
        with _lock:
            if len(_rules) >= MAX_ENTRIES:
                _rules.clear()
            _rules[tenant_id] = kept

    transaction.on_commit(keep)


def forget() -> None:
    """Empty this process's memory (tests, and a process that wants to start afresh)."""
    with _lock:
        _sources.clear()
        _rules.clear()
