"""Publishing events to the live stream: after commit, logged for resume, sent to the groups
entitled to them.

Groups are computed here and only here, from ids:
    tenant.<id>   every socket entitled to some of that tenant's events
    user.<id>     one user's sockets, in every daphne process: their entitlements or
                  credentials changed (re-check), or one of their sessions ended (close)
    tenants.all   the sockets of staff who see every tenant (a new tenant: join it)
Each event names its audience (MSSP staff, the customer's portal users, the in-house team);
a socket drops what is not for its audience before anything reaches the client.

Messages say what changed; clients fetch details through the API, which re-checks permission.

The event log keeps each tenant's recent events (Redis streams when REDIS_URL is set, so every
daphne process sees them; process memory in the embedded mode) so that a reconnecting client
can resume after the last event id it saw, or is told to reload when that is too far back.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Coroutine, Iterable
from functools import cache
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.conf import settings
from django.db import transaction
from django.utils import timezone

logger = logging.getLogger("mssp.events")

STAFF, CUSTOMER, WORK = "staff", "customer", "work"
EVERYONE = (STAFF, CUSTOMER, WORK)
# Alerts are for the SOC and the customer's portal; an in-house team works incidents and
# escalations (CONTRACT.md).
ALERTS = (STAFF, CUSTOMER)

LOG_LENGTH = 5000  # events kept per tenant
RESUME_LIMIT = 1000  # more missed events than this: reload
RESUME_MAX_AGE_SECONDS = 15 * 60


def tenant_group(tenant_id: int) -> str:
    return f"tenant.{int(tenant_id)}"


def user_group(user_id: int) -> str:
    return f"user.{int(user_id)}"


ALL_TENANTS_GROUP = "tenants.all"


# --- the event log ---------------------------------------------------------------------------
def _stream_key(tenant_id: int) -> str:
    return f"{settings.CHANNELS_REDIS_PREFIX}:events:{int(tenant_id)}"


# A Redis stream id, as the log hands them out: "<ms>-<seq>", each an unsigned 64-bit number
# in ASCII digits. int() alone would also take " 1", "+1", "1_0" and other scripts' digits,
# which Redis refuses with an error reply.
_EVENT_ID = re.compile(r"\A([0-9]{1,20})-([0-9]{1,20})\Z", re.ASCII)
MAX_ID_PART = 2**64 - 1


def parse_event_id(event_id: object) -> tuple[int, int]:
    """(ms, seq) of an event id; ValueError for anything the log could not have given out."""
    match = _EVENT_ID.match(event_id) if isinstance(event_id, str) else None
    if match is None:
        raise ValueError(f"not an event id: {event_id!r:.60}")
    ms, seq = int(match[1]), int(match[2])
    if ms > MAX_ID_PART or seq > MAX_ID_PART:
        raise ValueError(f"event id out of range: {event_id!r:.60}")
    return ms, seq


class MemoryEventLog:
    """The embedded mode's log: one process, so process memory is the whole truth."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._logs: dict[int, deque[tuple[str, dict[str, Any]]]] = {}
        self._trimmed: dict[int, tuple[int, int]] = {}
        self._last = (0, 0)

    def append(self, tenant_id: int, events: list[dict[str, Any]]) -> list[str]:
        ids = []
        with self._lock:
            log = self._logs.setdefault(tenant_id, deque())
            for event in events:
                ms = int(time.time() * 1000)
                self._last = (ms, 0) if ms > self._last[0] else (self._last[0], self._last[1] + 1)
                event_id = f"{self._last[0]}-{self._last[1]}"
                if len(log) >= LOG_LENGTH:
                    dropped, _ = log.popleft()
                    self._trimmed[tenant_id] = parse_event_id(dropped)
                log.append((event_id, event))
                ids.append(event_id)
        return ids

    def append_many(self, per_tenant: dict[int, list[dict[str, Any]]]) -> dict[int, list[str]]:
        return {tenant: self.append(tenant, events) for tenant, events in per_tenant.items()}

    def since(
        self, tenant_ids: Iterable[int], after: str
    ) -> list[tuple[str, dict[str, Any]]] | None:
        after_key = parse_event_id(after)
        found = []
        with self._lock:
            for tenant_id in tenant_ids:
                trimmed = self._trimmed.get(tenant_id)
                if trimmed is not None and trimmed > after_key:
                    return None
                found += [
                    (i, e)
                    for i, e in self._logs.get(tenant_id, ())
                    if parse_event_id(i) > after_key
                ]
        return found


# Ids are "<ms>-<n>" with n from one counter shared by every tenant's stream, so ids order
# events across tenants (a socket that spans several resumes after one id) and never tie.
# The script makes taking the number and appending one step, so each stream stays ordered.
_APPEND = """
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local top = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
if top[1] then
  local top_ms = tonumber(string.match(top[1][1], '^(%d+)'))
  if top_ms > ms then ms = top_ms end
end
local ids = {}
for i = 2, #ARGV do
  local id = ms .. '-' .. redis.call('INCR', KEYS[2])
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], id, 'e', ARGV[i])
  ids[#ids + 1] = id
end
return ids
"""


class RedisEventLog:
    """Redis streams, one per tenant, capped at about LOG_LENGTH entries."""

    def __init__(self, url: str) -> None:
        import redis

        self._redis = redis.Redis.from_url(url)
        self._append = self._redis.register_script(_APPEND)

    def append(self, tenant_id: int, events: list[dict[str, Any]]) -> list[str]:
        sequence = f"{settings.CHANNELS_REDIS_PREFIX}:events:sequence"
        ids = self._append(
            keys=[_stream_key(tenant_id), sequence],
            args=[LOG_LENGTH, *(json.dumps(e) for e in events)],
        )
        return [i.decode() if isinstance(i, bytes) else str(i) for i in ids]

    def append_many(self, per_tenant: dict[int, list[dict[str, Any]]]) -> dict[int, list[str]]:
        """append() for several tenants in one round trip (a pipeline of the same script)."""
        sequence = f"{settings.CHANNELS_REDIS_PREFIX}:events:sequence"
        pipe = self._redis.pipeline(transaction=False)
        tenants = list(per_tenant)
        for tenant_id in tenants:
            self._append(
                keys=[_stream_key(tenant_id), sequence],
                args=[LOG_LENGTH, *(json.dumps(e) for e in per_tenant[tenant_id])],
                client=pipe,
            )
        return {
            tenant_id: [i.decode() if isinstance(i, bytes) else str(i) for i in ids]
            for tenant_id, ids in zip(tenants, pipe.execute(), strict=True)
        }

    def since(
        self, tenant_ids: Iterable[int], after: str
    ) -> list[tuple[str, dict[str, Any]]] | None:
        after_key = parse_event_id(after)
        if after_key == (MAX_ID_PART, MAX_ID_PART):
            return []  # the last id there can be: nothing comes after it (XRANGE refuses it)
        pipe = self._redis.pipeline(transaction=False)
        for tenant_id in tenant_ids:
            pipe.xinfo_stream(_stream_key(tenant_id))
            pipe.xrange(_stream_key(tenant_id), min=f"({after}", max="+", count=RESUME_LIMIT + 1)
        replies = pipe.execute(raise_on_error=False)
        found = []
        for info, newer in zip(replies[0::2], replies[1::2], strict=True):
            if isinstance(info, Exception):
                if "no such key" in str(info).lower():
                    continue  # no stream: this tenant has had no events
                logger.warning("event log: XINFO answered %s", info)
                return None  # cannot tell what was missed: reload
            if isinstance(newer, Exception):  # an error reply is not a list of entries
                logger.warning("event log: XRANGE after %s answered %s", after, newer)
                return None
            trimmed = int(info.get("entries-added", 0)) > int(info.get("length", 0))
            first = info.get("recorded-first-entry-id") or b"0-0"
            first = first.decode() if isinstance(first, bytes) else str(first)
            if trimmed and parse_event_id(first) > after_key:
                return None  # events after `after` may have been trimmed away: reload
            for raw_id, fields in newer:
                event = json.loads(fields[b"e"])
                event["event_id"] = raw_id.decode()  # assigned at append, after it was built
                found.append((event["event_id"], event))
        return found


@cache
def event_log() -> MemoryEventLog | RedisEventLog:
    return RedisEventLog(settings.REDIS_URL) if settings.REDIS_URL else MemoryEventLog()


def missed_events(tenant_ids: Iterable[int], after: str) -> list[dict[str, Any]] | None:
    """The events of these tenants after `after`, oldest first; None: too many, too old, or
    the log cannot say (the client reloads). ValueError when `after` is not an event id
    (parse_event_id): callers answer that, the log never sees it."""
    after_key = parse_event_id(after)
    if after_key[0] < (time.time() - RESUME_MAX_AGE_SECONDS) * 1000:
        return None
    try:
        found = event_log().since(sorted(tenant_ids), after)
    except Exception:  # an unreachable or confused log: the client reloads through the API
        logger.exception("could not read the event log after %s", after)
        return None
    if found is None or len(found) > RESUME_LIMIT:
        return None
    found.sort(key=lambda pair: parse_event_id(pair[0]))
    return [event for _, event in found]


# --- publishing --------------------------------------------------------------------------------
PUBLISH_TIMEOUT = 10.0  # seconds a request waits for its events to reach the layer


class _PublishingLoop:
    """One event loop per process, on a thread of its own, for publishing to a channel layer
    that keeps connections per loop (channels_redis). `async_to_sync` from a thread without a
    loop (a gunicorn worker thread, a Celery task) makes a new loop per call, and with it a
    new Redis connection: 1.46 new connections per intake request under the pool. Here they
    live as long as the process. A forked child makes its own (the parent's thread is not
    copied)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pid = 0

    def loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._pid != os.getpid() or self._loop.is_closed():
                loop = asyncio.new_event_loop()
                threading.Thread(
                    target=loop.run_forever, name="stream-publisher", daemon=True
                ).start()
                self._loop, self._pid = loop, os.getpid()
            return self._loop

    def run(self, make: Callable[[], Coroutine[Any, Any, None]]) -> None:
        asyncio.run_coroutine_threadsafe(make(), self.loop()).result(PUBLISH_TIMEOUT)


_publishing = _PublishingLoop()


def _run(layer: Any, make: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run a publishing coroutine to completion from synchronous code. The in-memory layer's
    queues belong to the loop its sockets run on (the embedded daphne's), so it keeps
    async_to_sync, which runs there from a request's thread."""
    if isinstance(layer, InMemoryChannelLayer):
        async_to_sync(make)()
    else:
        _publishing.run(make)


def _send(group: str, message: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        _run(layer, lambda: layer.group_send(group, message))
    except Exception:  # the stream is best effort; the data is already committed
        logger.exception("could not publish %s to %s", message.get("type"), group)


def _events_message(tenant_id: int, events: list[dict[str, Any]]) -> dict[str, Any]:
    # The tenant's id goes along: a socket that left the tenant's group after this was queued
    # for it drops it (tenants.consumers).
    return {"type": "stream.events", "tenant_id": int(tenant_id), "events": events}


def _deliver(tenant_id: int, events: list[dict[str, Any]]) -> None:
    try:
        ids = event_log().append(tenant_id, events)
    except Exception:  # an unreachable log must not hold the live stream back
        logger.exception("could not log %d events of tenant %s", len(events), tenant_id)
        ids = [f"{int(time.time() * 1000)}-{n}" for n in range(len(events))]
    for event, event_id in zip(events, ids, strict=True):
        event["event_id"] = event_id
    _send(tenant_group(tenant_id), _events_message(tenant_id, events))


def _send_many(messages: list[tuple[str, dict[str, Any]]]) -> None:
    """_send() of several messages from one event loop, so that they share its connections."""
    layer = get_channel_layer()
    if layer is None or not messages:
        return

    async def send_all() -> None:
        for group, message in messages:
            try:
                await layer.group_send(group, message)
            except Exception:  # the stream is best effort; the data is already committed
                logger.exception("could not publish %s to %s", message.get("type"), group)

    try:
        _run(layer, send_all)
    except Exception:
        logger.exception("could not publish %d stream messages", len(messages))


def _deliver_many(per_tenant: dict[int, list[dict[str, Any]]]) -> None:
    try:
        ids = event_log().append_many(per_tenant)
    except Exception:  # an unreachable log must not hold the live stream back
        logger.exception("could not log the events of %d tenants", len(per_tenant))
        ms = int(time.time() * 1000)
        ids = {t: [f"{ms}-{n}" for n in range(len(e))] for t, e in per_tenant.items()}
    for tenant_id, events in per_tenant.items():
        for event, event_id in zip(events, ids[tenant_id], strict=True):
            event["event_id"] = event_id
    _send_many(
        [
            (tenant_group(tenant_id), _events_message(tenant_id, events))
            for tenant_id, events in per_tenant.items()
        ]
    )


# (event type, object id, data, audience), optionally with the TLP of the item it is about.
Items = list[Any]
# Called with (tenant id, events) as they are built, before anyone hears of them: an app whose
# objects carry a classification narrows each event's audience or sets its `clearance` (alerts
# registers its TLP rules, alerts.tlp: an event about a RED incident reaches MSSP staff only, an
# AMBER one a customer's workers only). Consumers drop what the socket may not receive.
Shaper = Callable[[int, list[dict[str, Any]]], None]
_shapers: list[Shaper] = []
# An event's `clearance`: beyond its audience, which of a customer's members may receive it
# (None: every member the audience names).
CLEARANCE_WORKERS = "workers"


def on_build(shaper: Shaper) -> None:
    if shaper not in _shapers:
        _shapers.append(shaper)


def _shape(tenant_id: int, built: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for shaper in _shapers:
        shaper(tenant_id, built)
    return [event for event in built if event["audience"]]


# Called with {tenant id: events} as they are published, inside the transaction that publishes
# them: a higher app that must act on events in that same transaction (notifications writes
# its outbox rows there) registers here (signals go upward only: docs/architecture.md).
Listener = Callable[[dict[int, list[dict[str, Any]]]], None]
_listeners: list[Listener] = []


def on_publish(listener: Listener) -> None:
    if listener not in _listeners:
        _listeners.append(listener)


def _tell_listeners(per_tenant: dict[int, list[dict[str, Any]]]) -> None:
    for listener in _listeners:
        listener(per_tenant)


def tenant_events(tenant_id: int, tenant_slug: str, items: Items) -> list[dict[str, Any]]:
    """Publish [(event type, object id, data, audience), ...] of one tenant, in order, once the
    transaction commits: one log append and one channel-layer message for all of them."""
    events = _shape(tenant_id, _build(tenant_slug, items))
    if events:
        _tell_listeners({tenant_id: events})
        transaction.on_commit(lambda: _deliver(tenant_id, events))
    return events  # their event_id is filled in at delivery


def tenants_events(per_tenant: dict[int, tuple[str, Items]]) -> dict[int, list[dict[str, Any]]]:
    """tenant_events() of several tenants ({tenant id: (slug, items)}), for work that spans
    customers (the SLA sweep): still one log append and one channel-layer message per tenant,
    but all in one callback after commit, the appends in one Redis round trip and the messages
    sent from one event loop."""
    built = {
        tenant_id: events
        for tenant_id, (slug, items) in per_tenant.items()
        if (events := _shape(tenant_id, _build(slug, items)))
    }
    if built:
        _tell_listeners(built)
        transaction.on_commit(lambda: _deliver_many(built))
    return built


def _build(tenant_slug: str, items: Items) -> list[dict[str, Any]]:
    if not items:
        return []
    at = timezone.now().isoformat()
    built = []
    for event_type, object_id, data, audience, *classified in items:
        event = {
            "type": event_type,
            "event_id": "",
            "tenant": tenant_slug,
            "id": str(object_id),
            "at": at,
            "data": data or {},
            "audience": list(audience),
        }
        if classified and classified[0]:
            event["tlp"] = classified[0]  # the item's own TLP, for the shapers
        built.append(event)
    return built


# Keys of an event that are for the server only: never sent to a socket.
PRIVATE_KEYS = frozenset({"audience", "clearance", "tlp"})


def tenant_event(
    tenant_id: int,
    tenant_slug: str,
    event_type: str,
    object_id: str,
    data: dict[str, Any] | None = None,
    audience: tuple[str, ...] = EVERYONE,
    tlp: str | None = None,
) -> dict[str, Any] | None:
    """One event; `tlp` is the classification of the item it is about (alerts.tlp), which the
    shapers apply besides its incident's. None when nobody may receive it."""
    item: Any = (event_type, object_id, data, audience)
    if tlp is not None:
        item = (*item, tlp)
    published = tenant_events(tenant_id, tenant_slug, [item])
    return published[0] if published else None


def entitlements_changed(user_id: int) -> None:
    """The user's tenants, role or credentials changed (a password, a token, deactivation):
    their open sockets, in every process, re-check what authenticated them and recompute
    their groups; those no longer valid close."""
    transaction.on_commit(lambda: _send(user_group(user_id), {"type": "stream.access_changed"}))


def tenant_entitlements_changed(tenant_id: int, *, created: bool = False) -> None:
    """A tenant changed (its status): every socket in its group re-checks. A new tenant: the
    sockets of staff who see every tenant join it."""
    group = ALL_TENANTS_GROUP if created else tenant_group(tenant_id)
    transaction.on_commit(lambda: _send(group, {"type": "stream.access_changed"}))


def session_digest(session_key: str) -> str:
    """How the channel layer names a session: never the key itself, which is a credential."""
    return hashlib.sha256(f"mssp-stream-session:{session_key}".encode()).hexdigest()


def session_ended(user_id: int, session_key: str) -> None:
    """One session of the user ended (logout): the sockets it opened close."""
    session_digest_ended(user_id, session_digest(session_key))


def session_digest_ended(user_id: int, digest: str) -> None:
    """The session of that digest ended (logout, ended from the sessions page or by an admin,
    timed out): the sockets it opened close, in every process."""
    message = {"type": "stream.session_ended", "session": digest}
    transaction.on_commit(lambda: _send(user_group(user_id), message))
