"""Slack through a Slack app (https://api.slack.com/methods/chat.postMessage): the channel's bot
token posts Block Kit to a Slack channel id, with interactive buttons for the message's
one-click answers. A button's `value` is the answer's signed token (notifications.links);
Slack sends the click to the portal's interaction callback (notifications.slack), which
verifies it with the channel's signing secret and performs the answer for the Slack user's
portal account. "Decline" and "Reject" stay link buttons: they need a reason, which the
portal's confirmation page asks for.

Slack's Web API answers HTTP 200 with {"ok": false, "error": "..."} for most errors, and 429
with Retry-After when rate limiting: both are judged here like the other senders' statuses."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import httpx
from django.conf import settings

from ..message import Message
from .base import (
    Answer,
    PermanentFailure,
    RetryLater,
    TemporaryFailure,
    cut,
    post,
    secret,
    tenant_of,
    to_json,
)
from .chat import mrkdwn

# Slack channel ids: C (public), G (private, legacy), D (a DM), or a user id (U/W) for a DM
CHANNEL_ID = re.compile(r"[CDGUW][A-Z0-9]{2,20}")
# Block Kit's limits (https://api.slack.com/reference/block-kit/block-elements#button)
VALUE_MAX, URL_MAX, ACTION_ID_MAX = 2000, 3000, 255
ANSWER_MAX = 16_384  # bytes of chat.postMessage's answer read: "ok", "error", "ts"
# Slack's errors that retrying cannot mend (the rest: retried with backoff)
_TEMPORARY = {"internal_error", "fatal_error", "service_unavailable", "request_timeout"}
_RATE = {"ratelimited", "rate_limited", "message_limit_exceeded"}
# the verbs answered in Slack itself; any other one (decline, reject: they need a reason) is
# a link
IN_SLACK = ("acknowledge", "accept", "approve")


def api_url(method: str) -> str:
    return f"{settings.SLACK_API_URL.rstrip('/')}/{method}"


def token_of(url: str) -> str:
    """The signed token at the end of a one-click answer's URL (.../answer/<token>/)."""
    return url.rstrip("/").rsplit("/", 1)[-1]


def buttons(message: Message) -> list[dict[str, Any]]:
    """ "Open in the portal", then an interactive button per answer answered in Slack (its
    value the signed token) and a link button for the others; an answer whose token or URL
    would not fit Slack's limits is left out (the portal link still reaches it)."""
    elements: list[dict[str, Any]] = []
    if message.url and len(message.url) <= URL_MAX:
        elements.append(_button("open", "Open in the portal", url=message.url))
    for label, url in message.links:
        value = token_of(url)
        verb = _verb_of(value)
        if verb is None or len(value) > VALUE_MAX or len(url) > URL_MAX:
            continue
        if verb in IN_SLACK:
            elements.append(_button(verb, label, value=value, style="primary"))
        else:
            elements.append(_button(verb, label, value=value, url=url))
    return elements


def _verb_of(value: str) -> str | None:
    from ..links import read  # made just now: never expired yet

    try:
        return read(value)[1].verb
    except ValueError:  # LinkInvalid, LinkExpired
        return None


def _button(action_id: str, label: str, **fields: str) -> dict[str, Any]:
    return {
        "type": "button",
        "action_id": action_id[:ACTION_ID_MAX],
        "text": {"type": "plain_text", "text": cut(label, 75)},
        **fields,
    }


def blocks(message: Message) -> list[dict[str, Any]]:
    tenant, title = mrkdwn(tenant_of(message), 100), mrkdwn(message.title, 500)
    text = f"*{title}*" + (f"\n{mrkdwn(message.text, 2400)}" if message.text else "")
    context = [{"type": "mrkdwn", "text": f"Customer: *{tenant}*"}]
    if message.severity:
        context.append({"type": "mrkdwn", "text": f"Severity: *{mrkdwn(message.severity, 40)}*"})
    found: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": text}},
        {"type": "context", "elements": context},
    ]
    elements = buttons(message)
    if elements:
        found.append({"type": "actions", "block_id": "answers", "elements": elements})
    return found


def send_slack_app(target: str, secrets: Mapping[str, str], message: Message) -> Answer:
    token = secret(secrets, "bot_token")
    channel = target.strip()
    if not CHANNEL_ID.fullmatch(channel):
        raise PermanentFailure("the channel's Slack channel id is missing or malformed")
    tenant, title = mrkdwn(tenant_of(message), 100), mrkdwn(message.title, 500)
    body = to_json(
        {
            "channel": channel,
            "text": f"[{tenant}] {title}",  # what notifications and clients without blocks show
            "blocks": blocks(message),
            "unfurl_links": False,
            "unfurl_media": False,
        }
    )
    url = api_url("chat.postMessage")
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "Authorization": f"Bearer {token}",
    }
    answer = post(url, body.encode(), headers, read_body=ANSWER_MAX)
    return judge_api(answer, httpx.URL(url).host)


def judge_api(answer: Answer, host: str) -> Answer:
    """A Web API 2xx is delivered only when its body says {"ok": true}."""
    try:
        said: Any = json.loads(answer.body)
    except ValueError:
        raise TemporaryFailure(f"{answer.status} from {host}: not Slack's answer") from None
    if not isinstance(said, dict):
        raise TemporaryFailure(f"{answer.status} from {host}: not Slack's answer")
    if said.get("ok") is True:
        ts = str(said.get("ts") or "")[:40]
        return Answer(
            answer.status, f"{answer.status} from {host}: ok" + (f", ts {ts}" if ts else "")
        )
    error = re.sub(r"[^a-z0-9_.-]", "", str(said.get("error") or "unknown_error").lower())[:60]
    detail = f"{answer.status} from {host}: {error or 'unknown_error'}"
    if error in _RATE:
        raise RetryLater(detail, None)
    if error in _TEMPORARY:
        raise TemporaryFailure(detail)
    raise PermanentFailure(detail)
