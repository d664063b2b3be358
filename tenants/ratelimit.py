"""Per-minute quotas shared by every process (Redis when REDIS_URL is set, else this process's
memory): a tenant's intake (alerts.intake.guard) and its outgoing messages (tenants.outbox).
Fixed windows from the `limits` library: cheap, one round trip, and a refused caller is told
when the window resets."""

from __future__ import annotations

import math
import threading
import time
from functools import cache

from django.conf import settings
from limits import RateLimitItemPerMinute
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter

_lock = threading.Lock()


@cache
def _make_limiter() -> FixedWindowRateLimiter:
    return FixedWindowRateLimiter(storage_from_string(settings.RATE_LIMIT_STORAGE))


def limiter() -> FixedWindowRateLimiter:
    # daphne and the outbox run callers on threads: the first must not race to build it
    with _lock:
        return _make_limiter()


def take(namespace: str, key: str, per_minute: int, cost: int = 1) -> int:
    """Count `cost` against `key`'s quota of `per_minute` in `namespace`: 0 when it fitted
    (and was counted), else the seconds until the window resets (nothing counted)."""
    item = RateLimitItemPerMinute(per_minute)
    found = limiter()
    if found.test(item, namespace, key, cost=cost) and found.hit(item, namespace, key, cost=cost):
        return 0
    reset_at = found.get_window_stats(item, namespace, key).reset_time
    return max(1, math.ceil(reset_at - time.time()))
