"""/ws/stream/: the live stream of events for what the caller may see.

Authenticated by the session cookie, or by a token sent as the first message
{"type": "auth", "token": "..."}. Group membership is computed on the server from the
caller's entitlements and recomputed when they change.

A socket lives only as long as what authenticated it. It is closed with

    4401  not authenticated, or no longer: no auth message within AUTH_TIMEOUT seconds, a bad
          token; later its session ended (logout, a password change or set-password, expiry)
          or its token did (revoked, expired), or the user was deactivated, removed or
          deleted. The client should not reconnect until it has logged in again.
    4400  a frame it cannot read: binary, or larger than MAX_MESSAGE_BYTES.

Anything else a client sends is answered with {"type": "error", "detail": "..."} and the
socket stays open; nothing a client sends makes the consumer fail (daphne's 1011).

How a socket learns that its credential ended: notices to the user's group (events.user_group,
in every daphne process): "stream.access_changed" (re-check the credential and the groups) and
"stream.session_ended" (that session logged out, was ended or timed out: close). Its own timer
re-checks when the token or session expires (a session's idle and absolute limits too,
tenants.sessions), and every RECHECK_SECONDS for what no notice covers (a session ended by
another login in the same browser, a notice lost by a full channel).
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from datetime import datetime
from importlib import import_module
from typing import Any

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.contrib.auth import HASH_SESSION_KEY, SESSION_KEY
from django.db import transaction
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from rest_framework.exceptions import AuthenticationFailed

from . import events, mfa, sessions
from .access import NO_ACCESS, Access, access_for
from .auth import BearerTokenAuthentication, token_is_live
from .events import ALL_TENANTS_GROUP, tenant_group, user_group
from .models import ApiToken, User, UserSession

logger = logging.getLogger("mssp.stream")

AUTH_TIMEOUT = 10
MAX_MESSAGE_BYTES = 4096
CLOSE_UNAUTHENTICATED = 4401
CLOSE_BAD_MESSAGE = 4400
CLOSE_SERVER_ERROR = 1011  # a re-check that failed (the database): the client reconnects
RECHECK_SECONDS = 300  # the longest a socket goes without re-checking its credential
EXPIRY_GRACE_SECONDS = 0.5  # re-check just after an expiry, not a hair before it

RESUME_USAGE = (
    'resume needs {"after": "<event_id>"}: an event id as the stream sent it, '
    '"<ms>-<seq>", two whole numbers in ASCII digits below 2**64.'
)


@dataclass(frozen=True)
class Credential:
    """What authenticated a socket: a session (its key) or a token (its digest)."""

    user_id: int
    session_key: str | None = None
    token_digest: str | None = None


@dataclass(frozen=True)
class Checked:
    access: Access
    expires_at: datetime | None = None  # when the credential ends, as far as is known now


ENDED = Checked(NO_ACCESS)


def _session_expiry(session_key: str, user: User) -> datetime | None:
    """When the session expires; None when it has ended: logged out, expired, ended from the
    sessions page or by an admin, past its idle or absolute limit (tenants.sessions), or the
    user's password changed since it logged in (the check django.contrib.auth.get_user makes)."""
    store = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    data = store.load()  # {} when the session is gone or expired
    if str(data.get(SESSION_KEY, "")) != str(user.pk):
        return None
    if not constant_time_compare(data.get(HASH_SESSION_KEY) or "", user.get_session_auth_hash()):
        return None
    model = getattr(store, "model", None)
    expiry: datetime | None
    if model is not None:  # a database-backed engine: the row's own expiry
        expiry = (
            model.objects.filter(session_key=session_key)
            .values_list("expire_date", flat=True)
            .first()
        )
    else:
        expiry = store.get_expiry_date(expiry=data.get("_session_expiry"))
    record_id = data.get(sessions.SESSION_RECORD)
    if record_id is None or expiry is None:  # signed in before sessions had records
        return None if expiry is None or mfa.must_have(user) else expiry
    # Ended from the sessions page or by an admin, or past its idle or absolute limit.
    record = UserSession.objects.filter(pk=record_id, user_id=user.pk).first()
    if record is None or not sessions.is_live(record):
        return None
    # An account that must have a second factor: not before its session has given it.
    if record.second_factor_at is None and mfa.must_have(user):
        return None
    return min(expiry, sessions.deadline(record))


# channels ships no type information: its decorator and consumer classes are Any to the checker.
@database_sync_to_async  # type: ignore[untyped-decorator]
def _check(credential: Credential) -> Checked:
    """Whether the credential is still valid, and what its user may see now."""
    with transaction.atomic():
        user = User.objects.filter(pk=credential.user_id).first()
        if user is None or not user.is_active:
            return ENDED
        scopes = None
        if credential.token_digest is not None:
            # A socket opened with a token lives only as long as the token does (and the
            # tokens that minted it).
            token = ApiToken.objects.filter(
                digest=credential.token_digest, user_id=credential.user_id
            ).first()
            if token is None or not token_is_live(token) or "read" not in token.granted_scopes:
                return ENDED
            scopes, expires_at = token.granted_scopes, token.expires_at
        else:
            expires_at = _session_expiry(credential.session_key or "", user)
            if expires_at is None:
                return ENDED
        return Checked(access_for(user, scopes), expires_at)


@database_sync_to_async  # type: ignore[untyped-decorator]
def _authenticate_token(raw: str) -> tuple[Credential | None, Checked]:
    with transaction.atomic():
        try:
            user, token = BearerTokenAuthentication().authenticate_token(raw)
        except AuthenticationFailed:
            return None, ENDED
        if "read" not in token.granted_scopes:
            return None, ENDED
        credential = Credential(user_id=user.pk, token_digest=token.digest)
        return credential, Checked(access_for(user, token.granted_scopes), token.expires_at)


def _too_big(text: str) -> bool:
    return len(text) > MAX_MESSAGE_BYTES or (
        len(text.encode("utf-8", "surrogatepass")) > MAX_MESSAGE_BYTES
    )


class StreamConsumer(AsyncWebsocketConsumer):  # type: ignore[misc]
    access: Access = NO_ACCESS
    credential: Credential | None = None
    ended = False  # authenticated once, and that has ended: closing
    groups_joined: set[str]

    async def connect(self) -> None:
        self.groups_joined = set()
        # Re-checks come from channel-layer notices and from the timer; one at a time.
        self._lock = asyncio.Lock()
        self._recheck_timer: asyncio.TimerHandle | None = None
        self._recheck_task: asyncio.Future[None] | None = None
        self._auth_timer: asyncio.TimerHandle | None = None
        await self.accept()
        user = self.scope.get("user")
        session = self.scope.get("session")
        session_key = session.session_key if session is not None else None
        if user is not None and user.is_authenticated and session_key:
            credential = Credential(user_id=user.pk, session_key=session_key)
            await self._authenticated(credential, await _check(credential))
        else:
            self._auth_timer = asyncio.get_running_loop().call_later(
                AUTH_TIMEOUT, lambda: asyncio.ensure_future(self._close_unauthenticated())
            )

    async def _close_unauthenticated(self) -> None:
        if self.credential is None and not self.ended:
            await self._end()

    async def _authenticated(self, credential: Credential | None, checked: Checked) -> None:
        if credential is None or not checked.access.is_authenticated:
            await self._end()
            return
        async with self._lock:
            self.credential = credential
            self.access = checked.access
            if self._auth_timer is not None:
                self._auth_timer.cancel()
            await self._set_groups()
            await self.send(text_data=json.dumps({"type": "ready"}))
            self._schedule_recheck(checked.expires_at)

    async def _set_groups(self) -> None:
        wanted = {tenant_group(t) for t in self.access.tenant_ids}
        if self.access.user_id is not None:  # always, once authenticated
            wanted.add(user_group(self.access.user_id))
        if self.access.sees_all_tenants:
            wanted.add(ALL_TENANTS_GROUP)
        for group in self.groups_joined - wanted:
            await self.channel_layer.group_discard(group, self.channel_name)
        for group in wanted - self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
        self.groups_joined = wanted

    async def disconnect(self, code: int) -> None:
        self._forget()
        for group in self.groups_joined:
            await self.channel_layer.group_discard(group, self.channel_name)
        self.groups_joined = set()

    def _forget(self) -> None:
        """No credential any more: no events are forwarded, no timer re-checks."""
        self.ended = True
        self.credential = None
        self.access = NO_ACCESS
        for timer in (self._auth_timer, self._recheck_timer):
            if timer is not None:
                timer.cancel()
        if self._recheck_task is not None and self._recheck_task is not asyncio.current_task():
            self._recheck_task.cancel()

    async def _end(self) -> None:
        """No (more) credential: close with 4401; nothing more reaches this socket."""
        self._forget()
        await self.close(code=CLOSE_UNAUTHENTICATED)

    # --- re-checking the credential ----------------------------------------------------------
    def _schedule_recheck(self, expires_at: datetime | None) -> None:
        if self._recheck_timer is not None:
            self._recheck_timer.cancel()
        delay: float = RECHECK_SECONDS
        if expires_at is not None:
            left = (expires_at - timezone.now()).total_seconds() + EXPIRY_GRACE_SECONDS
            delay = min(delay, max(left, EXPIRY_GRACE_SECONDS))
        self._recheck_timer = asyncio.get_running_loop().call_later(delay, self._timer_fired)

    def _timer_fired(self) -> None:
        self._recheck_task = asyncio.ensure_future(self._recheck_or_close())

    async def _recheck_or_close(self) -> None:
        try:
            await self._recheck()
        except Exception:  # the database, most likely: close, and the client reconnects
            logger.exception("stream: re-checking a socket's credential failed")
            self._forget()
            await self.close(code=CLOSE_SERVER_ERROR)

    async def _recheck(self) -> None:
        async with self._lock:
            credential = self.credential
            if credential is None:
                return  # closing already
            checked = await _check(credential)
            if self.credential is not credential:
                return  # ended while it was checked
            if not checked.access.is_authenticated:
                await self._end()
                return
            self.access = checked.access
            await self._set_groups()
            self._schedule_recheck(checked.expires_at)

    # --- what the client sends ---------------------------------------------------------------
    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.ended:
            return  # closing
        if text_data is None or _too_big(text_data):
            await self.close(code=CLOSE_BAD_MESSAGE)
            return
        try:
            message = json.loads(text_data)
        except (ValueError, RecursionError):  # RecursionError: "[[[[..." nested too deep
            await self._error("Messages are JSON objects.")
            return
        kind = message.get("type") if isinstance(message, dict) else None
        if self.credential is None:
            token = message.get("token") if kind == "auth" else None
            if not isinstance(token, str) or not token or not token.isascii():
                await self._end()  # (tokens are ASCII)
                return
            await self._authenticated(*await _authenticate_token(token))
            return
        if kind == "ping":
            await self.send(text_data=json.dumps({"type": "pong"}))
        elif kind == "resume":
            await self._resume(message.get("after"))
        else:
            shown = json.dumps(kind)[:40] if isinstance(kind, str) else "missing"
            await self._error(
                f"Unknown message type ({shown}): send "
                '{"type": "ping"} or {"type": "resume", "after": "<event_id>"}.'
            )

    async def _error(self, detail: str) -> None:
        await self.send(text_data=json.dumps({"type": "error", "detail": detail}))

    async def _resume(self, after: Any) -> None:
        try:
            events.parse_event_id(after)
        except ValueError:
            await self._error(RESUME_USAGE)
            return
        missed = await sync_to_async(events.missed_events)(self.access.tenant_ids, after)
        if missed is None:
            await self.send(text_data=json.dumps({"type": "reload"}))
            return
        for event in missed:
            await self._forward(event)

    # --- channel-layer handlers --------------------------------------------------------------
    async def stream_event(self, message: dict[str, Any]) -> None:
        await self.stream_events({"events": [message["event"]]})

    async def stream_events(self, message: dict[str, Any]) -> None:
        if not self.access.is_authenticated:
            return  # closing: nothing more for this socket
        tenant_id = message.get("tenant_id")
        if tenant_id is not None and tenant_id not in self.access.tenant_ids:
            return  # queued before this socket lost the tenant (its groups are recomputed)
        for event in message["events"]:
            await self._forward(event)

    async def _forward(self, event: dict[str, Any]) -> None:
        audience = event.get("audience")
        if audience is not None and self.audience not in audience:
            return
        # An AMBER item's event (alerts.tlp): MSSP staff and the customer's workers only.
        if event.get("clearance") == events.CLEARANCE_WORKERS and not self.access.works:
            return
        await self.send(
            text_data=json.dumps(
                {key: value for key, value in event.items() if key not in events.PRIVATE_KEYS}
            )
        )

    @property
    def audience(self) -> str:
        """Whom this socket is for: MSSP staff, a customer's portal user, an in-house team."""
        if self.access.is_mssp_staff:
            return events.STAFF
        if self.access.customer_role == "responder":
            return events.WORK
        return events.CUSTOMER

    async def stream_access_changed(self, message: dict[str, Any]) -> None:
        await self._recheck_or_close()

    async def stream_session_ended(self, message: dict[str, Any]) -> None:
        async with self._lock:
            credential = self.credential
            if credential is None or credential.session_key is None:
                return
            ended = str(message.get("session", ""))
            if constant_time_compare(events.session_digest(credential.session_key), ended):
                await self._end()
