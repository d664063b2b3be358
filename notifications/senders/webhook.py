"""Generic webhooks, signed as Standard Webhooks (https://www.standardwebhooks.com) sign them:
webhook-id, webhook-timestamp and webhook-signature over the body, with the channel's
whsec_ secret. The receiver verifies with any Standard Webhooks library."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from secrets import token_bytes

from standardwebhooks import Webhook

from ..message import Message
from .base import JSON_HEADERS, Answer, PermanentFailure, post, secret, to_json

PREFIX = "whsec_"  # of a Standard Webhooks signing secret


def new_signing_secret() -> str:
    """A fresh signing secret: "whsec_" and 32 random bytes in base64."""
    return PREFIX + base64.b64encode(token_bytes(32)).decode("ascii")


def send_webhook(target: str, secrets: Mapping[str, str], message: Message) -> Answer:
    url, signing_secret = secret(secrets, "url"), secret(secrets, "signing_secret")
    try:
        if not signing_secret.startswith(PREFIX):
            raise ValueError
        signer = Webhook(signing_secret)
    except Exception:  # what it says could quote the secret
        raise PermanentFailure("the channel's signing_secret is not a whsec_ secret") from None
    now = datetime.now(UTC)
    data = {
        **message.data,
        "tenant": message.tenant_name,
        "title": message.title,
        "severity": message.severity,
        "url": message.url,
    }
    # ASCII JSON, so signing it as text (as every standardwebhooks version can) signs the bytes
    body = to_json(
        {
            "type": message.event_type,
            "timestamp": message.occurred_at or now.isoformat(),
            "data": data,
        }
    )
    # the same on every retry of this delivery: the receiver's key to drop repeats
    msg_id = message.delivery_id or _fallback_id(message)
    headers = {
        **JSON_HEADERS,
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signer.sign(msg_id, now, body),
    }
    return post(url, body.encode(), headers)


def _fallback_id(message: Message) -> str:
    """An id for a message sent without a delivery id: stable for the same event."""
    seed = f"{message.event_type}\n{message.subject_key}\n{message.occurred_at}"
    return "msg_" + hashlib.sha256(seed.encode()).hexdigest()[:32]
