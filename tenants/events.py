"""Publishing events to the live stream: after commit, to the groups entitled to them.

Group names are computed here and only here, from ids:
    tenant.<id>   everyone entitled to see that tenant's events
    user.<id>     one user's sockets (their entitlements changed: recompute groups)
Messages say what changed; clients fetch details through the API, which re-checks permission.
"""

from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction
from django.utils import timezone

from .models import new_public_id

logger = logging.getLogger("mssp.events")


def tenant_group(tenant_id: int) -> str:
    return f"tenant.{int(tenant_id)}"


def user_group(user_id: int) -> str:
    return f"user.{int(user_id)}"


def _send(group: str, message: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(group, message)
    except Exception:  # the stream is best effort; the data is already committed
        logger.exception("could not publish %s to %s", message.get("type"), group)


def publish_after_commit(group: str, message: dict[str, Any]) -> None:
    transaction.on_commit(lambda: _send(group, message))


def tenant_event(
    tenant_id: int,
    tenant_slug: str,
    event_type: str,
    object_id: str,
    data: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Publish `event_type` about an object of one tenant, once the transaction commits."""
    event = {
        "type": event_type,
        "event_id": str(new_public_id()),
        "tenant": tenant_slug,
        "id": str(object_id),
        "at": timezone.now().isoformat(),
        "data": data or {},
    }
    publish_after_commit(tenant_group(tenant_id), {"type": "stream.event", "event": event})
    return event


def entitlements_changed(user_id: int) -> None:
    """The user's tenants changed: their open sockets recompute their groups."""
    publish_after_commit(user_group(user_id), {"type": "stream.access_changed"})
