"""The stream's event log: resume returns exactly the missed events of the caller's tenants,
in order, or None (reload) when some were trimmed away or the gap is too old or too long."""

from __future__ import annotations

import time

import pytest

from tenants import events


def _event(n: int, tenant: str = "t") -> dict:
    return {"type": "alert.created", "id": str(n), "tenant": tenant, "audience": ["staff"]}


@pytest.fixture(params=["memory", "redis"])
def log(request, settings):
    if request.param == "memory":
        return events.MemoryEventLog()
    if not settings.REDIS_URL:
        pytest.skip("needs redis: Redis not configured")
    log = events.RedisEventLog(settings.REDIS_URL)
    log._redis.delete(*(events._stream_key(t) for t in (901, 902)))
    return log


@pytest.mark.services("redis")
def test_resume_returns_missed_events_of_the_callers_tenants_in_order(log):
    first = log.append(901, [_event(0)])[0]
    log.append(901, [_event(1), _event(2)])
    log.append(902, [_event(3, "other")])
    missed = log.since([901], first)
    assert [e["id"] for _, e in missed] == ["1", "2"]
    assert all(event_id for event_id, _ in missed)
    both = log.since([901, 902], first)
    assert sorted(e["id"] for _, e in both) == ["1", "2", "3"]


@pytest.mark.services("redis")
def test_trimmed_events_mean_reload(log, monkeypatch):
    monkeypatch.setattr(events, "LOG_LENGTH", 5)
    first = log.append(901, [_event(0)])[0]
    log.append(901, [_event(n) for n in range(1, 400)])
    assert log.since([901], first) is None


def test_missed_events_refuses_old_or_malformed_ids(settings):
    settings.REDIS_URL = ""
    events.event_log.cache_clear()
    try:
        now_ms = int(time.time() * 1000)
        assert events.missed_events([1], f"{now_ms - 3600_000}-0") is None  # too old
        with pytest.raises(ValueError):  # the consumer answers it with an error
            events.missed_events([1], "not-an-id")
        assert events.missed_events([1], f"{now_ms}-0") == []
    finally:
        events.event_log.cache_clear()
