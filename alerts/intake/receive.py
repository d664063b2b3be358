"""The intake pipeline, without HTTP: one request's body from one source, from its intake key to
the alerts stored. The API view (alerts.api.intake) only reads the request and writes the
answer; every decision is here, so a test, a bench or another transport runs the same steps.

The steps, in order (each refusal is an IntakeRefused carrying its HTTP status):

    the kind is one the intake takes                                     404 not_found
    an intake key is presented                                           401 not_authenticated
    the key unlocks an active source of an active customer (guard)      401 / 403
    the key's source is of this kind                                     400 wrong_source
    the body's media type is one the format takes                        415
    the body is within the size limit                                    413 too_large
    the signature, for a source with a signing secret (guard)            401
    the format splits the body into records                              400 invalid
    the batch is within INTAKE_MAX_BATCH and not empty                   413 / 400
    the customer's quota has room for every record (guard)               413 / 429
    each record is parsed; bad ones are rejected, named by index
    at least one record is an alert                                      400 invalid
    INTAKE_MODE "direct": the alerts are stored, deduplicated and grouped (alerts.ingest)
    INTAKE_MODE "log": the alerts get their ids and are appended to the intake log in one
        statement; a drain runs alerts.ingest on them after the 202 (alerts.intake.log)

The key alone decides the tenant: row-level security admits the key's source, then its
tenant, for the rest of the transaction (tenants.rls), whatever the body says.

Durable before the sender is told (stored, or in the log): the steps run in one transaction.
Called on its own, receive() commits before it returns; inside a transaction (an HTTP
request's, with ATOMIC_REQUESTS) it joins it, and the request answers 202 only after that
commits.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import transaction
from django.utils import timezone

from tenants import rls
from tenants.access import Access

from .. import ingest
from ..models import IntakeSource
from . import FORMATS, lookups
from . import log as intake_log
from .base import BodyError, IntakeRefused, NormalizedAlert, RecordError, SourceFormat
from .guard import source_for_key, take_quota, verify_signature

# The API's own wording for a body over DATA_UPLOAD_MAX_MEMORY_SIZE (tenants.api.errors).
TOO_LARGE = "The request body is larger than this endpoint accepts."
logger = logging.getLogger("mssp.intake")


@dataclass(frozen=True)
class Rejection:
    """A record of the batch that is not an alert: its place in the batch and why."""

    index: int
    error: str

    def as_dict(self) -> dict[str, int | str]:
        return {"index": self.index, "error": self.error}


@dataclass(frozen=True)
class Receipt:
    """What was done with an accepted request: every alert is stored, or appended to the
    intake log (committed, see the module docstring), by the time the caller holds this."""

    source: IntakeSource
    accepted: int  # records that are alerts, duplicates included
    alert_ids: list[str]  # the stored alert of each accepted record, in the batch's order
    duplicates: int  # accepted records that were already stored (redelivery)
    rejected: list[Rejection] = field(default_factory=list)

    # Accepted: the sender may forget the batch. A request with nothing to accept is refused.
    status = 202


Body = bytes | Callable[[], bytes]


def receive(
    kind: str,
    key: str,
    body: Body,
    *,
    content_type: str = "application/json",
    signature: str = "",
    timestamp: str = "",
) -> Receipt:
    """Run one request through the pipeline (see the module docstring) and store its alerts.

    `key` is the presented intake key ("" when none was), `body` the raw bytes, or a function
    that reads them: the HTTP adapter passes one, so a body is read only once the key and the
    media type are accepted. `signature` and `timestamp` are the X-MSSP-Signature and
    X-MSSP-Timestamp values. Raises IntakeRefused; any other exception undoes the writes."""
    with transaction.atomic(savepoint=False):  # no extra statement inside a request's
        try:
            return _receive(kind, key, body, content_type, signature, timestamp)
        except IntakeRefused as refusal:
            # Raised outside the block: a refusal has written nothing, and the request's
            # transaction must stay usable to answer it (an error inside would doom it).
            refused = refusal
    raise refused


def _receive(
    kind: str, key: str, body: Body, content_type: str, signature: str, timestamp: str
) -> Receipt:
    if kind not in FORMATS:
        raise IntakeRefused(404, "not_found", "Not found.")
    source_format = FORMATS[kind]
    source = _source(kind, key)
    rls.activate(Access(user_id=None, tenant_ids=frozenset({source.tenant_id})))
    media_type = _media_type(source_format, content_type)
    data = _read(body)
    verify_signature(source, data, signature=signature, timestamp=timestamp)
    records = _records(source_format, data, media_type)
    _take_quota(source, len(records))
    alerts, rejected = parse_records(source_format, records)
    if not alerts:
        raise IntakeRefused(
            400,
            "invalid",
            "No record in the body could be accepted.",
            extra={"accepted": 0, "rejected": [rejection.as_dict() for rejection in rejected]},
        )
    if intake_log.enabled():
        appended = intake_log.append(source, alerts)
        return Receipt(
            source=source,
            accepted=len(alerts),
            alert_ids=appended.alert_ids,
            duplicates=appended.duplicates,
            rejected=rejected,
        )
    result = ingest.ingest(source, alerts)
    lookups.seen(source, timezone.now(), ingest.LAST_SEEN_RESOLUTION)
    return Receipt(
        source=source,
        accepted=len(alerts),
        alert_ids=result.alert_ids,
        duplicates=result.duplicates,
        rejected=rejected,
    )


def _take_quota(source: IntakeSource, records: int) -> None:
    """guard.take_quota. Should its shared count (Redis) be unreachable, this process counts
    the same quota in its own memory meanwhile: an outage of Redis neither refuses alerts nor
    lifts the quota (each process still holds a customer to it)."""
    try:
        take_quota(source, records)
    except IntakeRefused:
        raise
    except Exception as exc:
        if not isinstance(exc, OSError) and not type(exc).__module__.startswith(
            ("redis", "limits")
        ):
            raise
        logger.warning("intake quota: the shared count is unreachable (%s); counting locally", exc)
        _take_quota_locally(source, records)


def _take_quota_locally(source: IntakeSource, records: int) -> None:
    from limits import RateLimitItemPerMinute
    from limits.storage import storage_from_string
    from limits.strategies import FixedWindowRateLimiter

    global _local_limiter
    if _local_limiter is None:
        _local_limiter = FixedWindowRateLimiter(storage_from_string("memory://"))
    per_minute = source.tenant.intake_quota_per_minute or settings.INTAKE_QUOTA_PER_MINUTE
    item, key = RateLimitItemPerMinute(per_minute), str(source.tenant_id)
    if _local_limiter.hit(item, "intake", key, cost=max(records, 1)):
        return
    reset_at = _local_limiter.get_window_stats(item, "intake", key).reset_time
    retry = max(1, math.ceil(reset_at - time.time()))
    raise IntakeRefused(
        429,
        "quota_exceeded",
        f"This customer's intake quota of {per_minute} alerts a minute is used up; "
        f"retry after {retry} s.",
        headers={"Retry-After": str(retry)},
    )


_local_limiter: Any = None


def _source(kind: str, key: str) -> IntakeSource:
    """The source the key unlocks, which must be of the kind posted to."""
    if not key.strip():
        raise IntakeRefused(
            401,
            "not_authenticated",
            "Send the source's intake key: Authorization: Bearer <key>.",
        )
    source = source_for_key(key.strip())
    if source.kind != kind:
        raise IntakeRefused(
            400,
            "wrong_source",
            f"This key belongs to a {source.kind} source; post to /api/v1/intake/{source.kind}/.",
        )
    return source


def _media_type(source_format: SourceFormat, content_type: str) -> str:
    """The media type without its parameters (a charset), if the format takes it."""
    media_type = content_type.split(";")[0].strip().lower()
    if media_type not in source_format.CONTENT_TYPES:
        raise IntakeRefused(
            415,
            "unsupported_media_type",
            f"{source_format.KIND} takes {', '.join(sorted(source_format.CONTENT_TYPES))}, "
            f"not {media_type or 'no content type'}.",
        )
    return media_type


def _read(body: Body) -> bytes:
    """The body's bytes, within DATA_UPLOAD_MAX_MEMORY_SIZE (the limit Django's request.body
    enforces on the declared length; checked again here on what was actually sent)."""
    try:
        data = body() if callable(body) else body
    except RequestDataTooBig:
        raise IntakeRefused(413, "too_large", TOO_LARGE) from None
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    if limit is not None and len(data) > limit:
        raise IntakeRefused(413, "too_large", TOO_LARGE)
    return data


def _records(source_format: SourceFormat, data: bytes, media_type: str) -> list[Any]:
    """The records the body carries: at least one, at most INTAKE_MAX_BATCH."""
    try:
        records = source_format.records(data, media_type)
    except BodyError as exc:
        raise exc.refusal() from None
    if len(records) > settings.INTAKE_MAX_BATCH:
        raise IntakeRefused(
            413,
            "batch_too_large",
            f"{len(records)} records in one request; at most {settings.INTAKE_MAX_BATCH}.",
        )
    if not records:
        raise IntakeRefused(400, "invalid", "The body carries no alert.")
    return records


def parse_records(
    source_format: SourceFormat, records: list[Any]
) -> tuple[list[NormalizedAlert], list[Rejection]]:
    """Each record as an alert, or its rejection: one bad record never sinks the batch. (Public:
    the format tests parse a batch exactly as the pipeline does.)"""
    alerts, rejected = [], []
    for index, record in enumerate(records):
        try:
            if isinstance(record, RecordError):  # a record the format could not even read
                raise record
            alerts.append(source_format.parse(record))
        except RecordError as exc:
            rejected.append(Rejection(index, str(exc)))
    return alerts, rejected
