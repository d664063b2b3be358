"""The scheduler's pulse: every SLA sweep (each second) records that it ran; /healthz turns
red when the pulse is older than MAX_SILENCE, because then no breach fires on time."""

from __future__ import annotations

import time

from django.core.cache import cache

KEY = "mssp:scheduler:heartbeat"
MAX_SILENCE = 15  # seconds: a sweep runs every second


def beat() -> None:
    cache.set(KEY, time.time(), timeout=None)


def seconds_since_beat() -> float | None:
    last = cache.get(KEY)
    return None if last is None else time.time() - float(last)


def alive() -> bool:
    silence = seconds_since_beat()
    return silence is not None and silence <= MAX_SILENCE
