"""Chat: Slack incoming webhooks (Block Kit) and Microsoft Teams Workflows webhooks (an
Adaptive Card in a message)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..message import Message
from .base import JSON_HEADERS, Answer, cut, post, secret, tenant_of, to_json

_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}  # Slack's: the rest is text


def mrkdwn(text: str, limit: int) -> str:
    """`text` with Slack's control characters escaped, so that it cannot write a link, a
    mention or a channel-wide ping (<http://...|x>, <!channel>); at most `limit` characters,
    an entity never cut in half."""
    escaped = [_ESCAPES.get(char, char) for char in text]
    if sum(map(len, escaped)) <= limit:
        return "".join(escaped)
    kept, size = [], 1  # the ellipsis
    for piece in escaped:
        if size + len(piece) > limit:
            break
        kept.append(piece)
        size += len(piece)
    return "".join(kept).rstrip() + "…"


def _links(message: Message) -> list[tuple[str, str]]:
    """The message's buttons: open it in the portal, then its one-click answers."""
    opened = [("Open in the portal", message.url)] if message.url else []
    return opened + [(label, url) for label, url in message.links]


def send_slack(target: str, secrets: Mapping[str, str], message: Message) -> Answer:
    url = secret(secrets, "url")
    tenant, title = mrkdwn(tenant_of(message), 100), mrkdwn(message.title, 500)
    text = f"*{title}*" + (f"\n{mrkdwn(message.text, 2400)}" if message.text else "")
    context = [{"type": "mrkdwn", "text": f"Customer: *{tenant}*"}]
    if message.severity:
        context.append({"type": "mrkdwn", "text": f"Severity: *{mrkdwn(message.severity, 40)}*"})
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": text}},
        {"type": "context", "elements": context},
    ]
    buttons = [
        {"type": "button", "text": {"type": "plain_text", "text": cut(label, 70)}, "url": url}
        for label, url in _links(message)
    ]
    if buttons:
        blocks.append({"type": "actions", "elements": buttons})
    # `text`: what notifications and clients without blocks show
    body = to_json({"text": f"[{tenant}] {title}", "blocks": blocks})
    return post(url, body.encode(), JSON_HEADERS)


def send_teams(target: str, secrets: Mapping[str, str], message: Message) -> Answer:
    url = secret(secrets, "url")
    title = {
        "type": "TextBlock",
        "text": cut(message.title, 500),
        "weight": "Bolder",
        "size": "Medium",
        "wrap": True,
    }
    lines = [line for line in cut(message.text, 4000).splitlines() if line.strip()]
    facts = [
        {"title": "Customer", "value": tenant_of(message)},
        {"title": "Severity", "value": message.severity or "none"},
        {"title": "Event", "value": message.event_type},
    ]
    card: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": [
            title,
            *({"type": "TextBlock", "text": line, "wrap": True} for line in lines),
            {"type": "FactSet", "facts": facts},
        ],
    }
    actions = [
        {"type": "Action.OpenUrl", "title": cut(label, 70), "url": url}
        for label, url in _links(message)
    ]
    if actions:
        card["actions"] = actions
    attachment = {
        "contentType": "application/vnd.microsoft.card.adaptive",
        "contentUrl": None,
        "content": card,
    }
    body = to_json({"type": "message", "attachments": [attachment]})
    return post(url, body.encode(), JSON_HEADERS)
