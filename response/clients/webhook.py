"""The generic signed webhook: for a tool with no client here, a POST the customer's own
automation (a SOAR, a script) receives and acts on, signed as Standard Webhooks sign
(webhook-id, webhook-timestamp, webhook-signature with the connector's whsec_ secret), as the
portal's notification webhooks are. The action's id is the webhook-id, so a receiver drops a
repeat. Any 2xx is success; the receiver may answer {"message": "..."} to say what it did."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from standardwebhooks import Webhook

from connectors.http import Answer, ConnectorClient, ConnectorRefused

from .base import Outcome

if TYPE_CHECKING:
    from ..models import ResponseAction

KIND = "webhook"
PREFIX = "whsec_"


def _send(client: ConnectorClient, msg_id: str, payload: dict[str, Any]) -> Answer:
    secret = client.secret("signing_secret")
    try:
        if not secret.startswith(PREFIX):
            raise ValueError
        signer = Webhook(secret)
    except Exception:  # what it says could quote the secret
        raise ConnectorRefused("The signing secret is not a whsec_ secret.") from None
    now = datetime.now(UTC)
    body = json.dumps(payload, ensure_ascii=True, separators=(",", ":"))
    headers = {
        "Content-Type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signer.sign(msg_id, now, body),
    }
    return client.request("POST", client.base_url, content=body.encode(), headers=headers)


def act(client: ConnectorClient, row: ResponseAction) -> Outcome:
    answer = _send(
        client,
        f"act_{row.pk}",
        {
            "type": "response.action",
            "timestamp": datetime.now(UTC).isoformat(),
            "data": {
                "action_id": str(row.pk),
                "action": row.action,
                "target": row.target,
                "incident": str(row.incident_id),
                "reason": row.reason,
            },
        },
    )
    said = ""
    try:
        body = json.loads(answer.content or b"{}")
        if isinstance(body, dict) and isinstance(body.get("message"), str):
            said = body["message"][:200]
    except ValueError:
        pass
    return Outcome(
        True,
        f"The webhook took the request ({answer.status})" + (f": {said}" if said else "."),
    )


def test(client: ConnectorClient) -> str:
    answer = _send(
        client,
        f"test_{client.connector.pk}_{int(datetime.now(UTC).timestamp())}",
        {"type": "response.test", "timestamp": datetime.now(UTC).isoformat(), "data": {}},
    )
    return f"The webhook answered {answer.status}."


# Every action a webhook connector may be asked for: its receiver decides what each means.
ACTIONS = {
    name: act
    for name in (
        "isolate_host",
        "release_host",
        "disable_user",
        "enable_user",
        "revoke_sessions",
        "block_address",
        "unblock_address",
        "block_domain",
        "unblock_domain",
        "webhook",
    )
}
