"""Each channel kind's request: a Message rendered in the shape its receiver documents (an
e-mail; a Slack, Teams or Standard Webhooks POST; a PagerDuty or Opsgenie event; a Twilio SMS
or call), sent, and the answer judged. send() returns an Answer or raises a SendFailure:
PermanentFailure (retrying cannot help), RetryLater (the receiver is rate limiting and may
have said until when) or TemporaryFailure (retry with backoff; RetryLater is one, so catch
it first); the first two are also tenants.outbox's own. A refused destination
(tenants.webhooks.DestinationRefused) is wrapped in PermanentFailure, an unreachable one
(DeliveryFailed) in TemporaryFailure. Error texts are one line and name no secret: a URL
only by its host, never a key or a token.

The vendors' SDKs (slack-sdk, pagerduty, twilio, apprise) are not used: they open their own
connections, so a customer-supplied URL would escape the SSRF guard (tenants.webhooks), and
each reports rate limits its own way. standardwebhooks is, because it only signs."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from tenants.text import single_line

from ..message import ACTIONS, Message
from . import chat, email, paging, phone, slack_app, webhook
from .base import (
    RETRY_AFTER_MAX,
    Answer,
    PermanentFailure,
    RetryLater,
    SendFailure,
    TemporaryFailure,
    retry_after,
)
from .webhook import new_signing_secret

__all__ = [
    "KINDS",
    "RETRY_AFTER_MAX",
    "SECRET_NAMES",
    "Answer",
    "PermanentFailure",
    "RetryLater",
    "SendFailure",
    "TemporaryFailure",
    "new_signing_secret",
    "retry_after",
    "send",
]

Sender = Callable[[str, Mapping[str, str], Message], Answer]
_SENDERS: dict[str, Sender] = {
    "email": email.send_email,
    "slack": chat.send_slack,
    "slack_app": slack_app.send_slack_app,
    "teams": chat.send_teams,
    "pagerduty": paging.send_pagerduty,
    "opsgenie": paging.send_opsgenie,
    "sms": phone.send_sms,
    "voice": phone.send_voice,
    "webhook": webhook.send_webhook,
}
KINDS = tuple(_SENDERS)
# What each kind keeps in its channel's secrets. The target is the e-mail address or the
# phone number (SMS and voice go through the portal's own account), the Slack app's channel
# id, else only a label.
SECRET_NAMES: dict[str, tuple[str, ...]] = {
    "email": (),
    "slack": ("url",),
    # the app's bot token posts; its signing secret verifies the buttons' clicks
    "slack_app": ("bot_token", "signing_secret"),
    "teams": ("url",),
    # webhook_secret (optional): verifies what the vendor sends back (notifications.inbound)
    "pagerduty": ("routing_key", "webhook_secret"),
    "opsgenie": ("api_key", "webhook_secret"),
    "sms": (),
    "voice": (),
    "webhook": ("url", "signing_secret"),
}


def send(kind: str, target: str, secrets: dict[str, str], message: Message) -> Answer:
    """Render `message` for a channel of `kind` and send it to `target` with the channel's
    `secrets` (SECRET_NAMES[kind]); raises a SendFailure when it was not delivered."""
    sender = _SENDERS.get(kind)
    if sender is None:
        raise PermanentFailure(f"no channel kind {single_line(kind, 40)!r}")
    if message.action not in ACTIONS:
        raise PermanentFailure(f"no action {single_line(message.action, 40)!r}")
    return sender(target, secrets, message)
