"""What stands between a request and the parsers: the intake key, the optional signature and
the tenant's quota."""

from __future__ import annotations

import hashlib
import hmac
import time

from django.conf import settings
from django.core.cache import cache as django_cache

from tenants import ratelimit, rls

from ..models import IntakeSource
from . import lookups
from .base import IntakeRefused

# The request headers (as request.META names them) that carry a signed request's signature.
SIGNATURE_HEADER = "HTTP_X_MSSP_SIGNATURE"
TIMESTAMP_HEADER = "HTTP_X_MSSP_TIMESTAMP"

__all__ = ["IntakeRefused", "source_for_key", "take_quota", "verify_signature"]


def source_for_key(raw_key: str) -> IntakeSource:
    """The source this intake key unlocks. Row-level security admits exactly that source:
    the request presents the key's digest, not a tenant (tenants.rls, mssp.intake_key)."""
    digest = IntakeSource.digest_of(raw_key)
    # From this process's memory when nothing has changed since (alerts.intake.lookups); the
    # checks below apply to it all the same.
    current, source = lookups.source(digest)
    if source is None:
        rls.present_intake_key(digest)  # one statement, in the request's own transaction
        source = (
            IntakeSource.objects.dangerously_unscoped("lookup by the presented intake key")
            .select_related("tenant")
            .filter(key_digest=digest)
            .first()
        )
        if source is not None:
            lookups.remember_source(digest, current, source)
    if source is None:
        raise IntakeRefused(401, "invalid_key", "The intake key is not valid.")
    if source.status != IntakeSource.Status.ACTIVE:
        raise IntakeRefused(401, "invalid_key", "This intake source is disabled.")
    if not source.tenant.is_active:
        raise IntakeRefused(403, "tenant_suspended", "This customer's intake is suspended.")
    return source


def verify_signature(source: IntakeSource, body: bytes, *, signature: str, timestamp: str) -> None:
    """HMAC-SHA256 over "<timestamp>." + body, timestamped, each signature accepted once.
    `signature` and `timestamp` are the X-MSSP-Signature and X-MSSP-Timestamp headers' values
    ("" when absent); a source without a signing secret takes unsigned requests."""
    if not source.signing_secret:
        return
    signature = signature.removeprefix("sha256=")
    if not signature or not timestamp:
        raise IntakeRefused(
            401, "signature_required", "This source requires X-MSSP-Timestamp and X-MSSP-Signature."
        )
    try:
        age = abs(time.time() - int(timestamp))
    except ValueError:
        raise IntakeRefused(
            401, "bad_signature", "X-MSSP-Timestamp is not epoch seconds."
        ) from None
    if age > settings.INTAKE_SIGNATURE_MAX_AGE:
        raise IntakeRefused(
            401,
            "stale_signature",
            "X-MSSP-Timestamp is too far from now; sign each request afresh.",
        )
    expected = hmac.new(
        source.signing_secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256
    ).hexdigest()
    if not hmac.compare_digest(expected, signature):
        raise IntakeRefused(401, "bad_signature", "The signature does not match the body.")
    window = settings.INTAKE_SIGNATURE_MAX_AGE * 2
    if not django_cache.add(f"intake-signature:{source.pk}:{signature}", 1, timeout=window):
        raise IntakeRefused(401, "replayed_signature", "This signed request was already seen.")


def take_quota(source: IntakeSource, records: int) -> None:
    """Count `records` alerts against the tenant's per-minute quota, or refuse with 429 and
    Retry-After (never a silent drop: the sender keeps the batch and tries again)."""
    per_minute = source.tenant.intake_quota_per_minute or settings.INTAKE_QUOTA_PER_MINUTE
    cost = max(records, 1)
    if cost > per_minute:
        raise IntakeRefused(
            413,
            "batch_over_quota",
            f"{records} records exceed this customer's quota of {per_minute} "
            "alerts a minute; send smaller batches.",
        )
    retry = ratelimit.take("intake", str(source.tenant_id), per_minute, cost)
    if retry:
        raise IntakeRefused(
            429,
            "quota_exceeded",
            f"This customer's intake quota of {per_minute} alerts a minute is "
            f"used up; retry after {retry} s.",
            headers={"Retry-After": str(retry)},
        )
