"""/ws/stream/: the live stream of events for what the caller may see.

Authenticated by the session cookie, or by a token sent as the first message
{"type": "auth", "token": "..."}; a socket that does neither within AUTH_TIMEOUT seconds, or
sends a bad token, is closed with 4401. Group membership is computed on the server from the
caller's entitlements and recomputed when they change.
"""

from __future__ import annotations

import asyncio
import json
import logging

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from rest_framework.exceptions import AuthenticationFailed

from . import events
from .access import NO_ACCESS, Access, access_for
from .auth import BearerTokenAuthentication
from .events import tenant_group, user_group
from .models import ApiToken

logger = logging.getLogger("mssp.stream")

AUTH_TIMEOUT = 10
MAX_MESSAGE_BYTES = 4096
CLOSE_UNAUTHENTICATED = 4401
CLOSE_BAD_MESSAGE = 4400


@database_sync_to_async
def _access_for_session(user) -> Access:
    from django.db import transaction

    with transaction.atomic():
        return access_for(user)


@database_sync_to_async
def _access_for_token(raw: str) -> Access:
    from django.db import transaction

    with transaction.atomic():
        try:
            user, token = BearerTokenAuthentication().authenticate_token(raw)
        except AuthenticationFailed:
            return NO_ACCESS
        if "read" not in token.scopes:
            return NO_ACCESS
        return access_for(user, token.scopes)


@database_sync_to_async
def _refresh_access(user_id: int, token_scopes, token_digest: str | None) -> Access:
    from django.db import transaction

    from .models import ApiToken, User

    with transaction.atomic():
        # A socket opened with a token lives only as long as the token does.
        if (
            token_digest
            and not ApiToken.objects.usable().filter(digest=token_digest, user_id=user_id).exists()
        ):
            return NO_ACCESS
        user = User.objects.filter(pk=user_id).first()
        return access_for(user, token_scopes)


class StreamConsumer(AsyncWebsocketConsumer):
    access: Access = NO_ACCESS
    groups_joined: set[str]
    token_digest: str | None = None

    async def connect(self) -> None:
        self.groups_joined = set()
        await self.accept()
        user = self.scope.get("user")
        if user is not None and user.is_authenticated:
            await self._authenticated(await _access_for_session(user))
        else:
            self._auth_timer = asyncio.get_running_loop().call_later(
                AUTH_TIMEOUT, lambda: asyncio.ensure_future(self._close_unauthenticated())
            )

    async def _close_unauthenticated(self) -> None:
        if not self.access.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)

    async def _authenticated(self, access: Access) -> None:
        if not access.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.access = access
        timer = getattr(self, "_auth_timer", None)
        if timer is not None:
            timer.cancel()
        await self._set_groups()
        await self.send(text_data=json.dumps({"type": "ready"}))

    async def _set_groups(self) -> None:
        wanted = {tenant_group(t) for t in self.access.tenant_ids}
        wanted.add(user_group(self.access.user_id))
        for group in self.groups_joined - wanted:
            await self.channel_layer.group_discard(group, self.channel_name)
        for group in wanted - self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
        self.groups_joined = wanted

    async def disconnect(self, code) -> None:
        timer = getattr(self, "_auth_timer", None)
        if timer is not None:
            timer.cancel()
        for group in self.groups_joined:
            await self.channel_layer.group_discard(group, self.channel_name)
        self.groups_joined = set()

    async def receive(self, text_data=None, bytes_data=None) -> None:
        if text_data is None or len(text_data) > MAX_MESSAGE_BYTES:
            await self.close(code=CLOSE_BAD_MESSAGE)
            return
        try:
            message = json.loads(text_data)
        except ValueError:
            await self._error("Messages are JSON objects.")
            return
        kind = message.get("type") if isinstance(message, dict) else None
        if not self.access.is_authenticated:
            token = message.get("token") if kind == "auth" else None
            if not isinstance(token, str) or not token:
                await self.close(code=CLOSE_UNAUTHENTICATED)
                return
            self.token_digest = ApiToken.digest_of(token)
            await self._authenticated(await _access_for_token(token))
            return
        if kind == "ping":
            await self.send(text_data=json.dumps({"type": "pong"}))
        elif kind == "resume":
            await self._resume(message.get("after"))
        else:
            await self._error(f"Unknown message type {kind!r}.")

    async def _error(self, detail: str) -> None:
        await self.send(text_data=json.dumps({"type": "error", "detail": detail}))

    # --- channel-layer handlers --------------------------------------------------------------
    async def stream_event(self, message) -> None:
        await self.stream_events({"events": [message["event"]]})

    async def stream_events(self, message) -> None:
        if not self.access.is_authenticated:
            return  # closing: nothing more for this socket
        for event in message["events"]:
            await self._forward(event)

    async def _forward(self, event: dict) -> None:
        audience = event.get("audience")
        if audience is not None and self.audience not in audience:
            return
        await self.send(
            text_data=json.dumps({key: value for key, value in event.items() if key != "audience"})
        )

    @property
    def audience(self) -> str:
        """Whom this socket is for: MSSP staff, a customer's portal user, an in-house team."""
        if self.access.is_mssp_staff:
            return events.STAFF
        if self.access.customer_role == "responder":
            return events.WORK
        return events.CUSTOMER

    async def _resume(self, after) -> None:
        if not isinstance(after, str) or len(after) > 40:
            await self._error('resume needs {"after": "<event_id>"}.')
            return
        missed = await sync_to_async(events.missed_events)(self.access.tenant_ids, after)
        if missed is None:
            await self.send(text_data=json.dumps({"type": "reload"}))
            return
        for event in missed:
            await self._forward(event)

    async def stream_access_changed(self, message) -> None:
        self.access = await _refresh_access(
            self.access.user_id, self.access.token_scopes, self.token_digest
        )
        if not self.access.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        await self._set_groups()
