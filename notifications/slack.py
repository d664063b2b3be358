"""A Slack app's interaction callback (POST /integrations/slack/interactions/): a click on a
button of a message that a Slack app channel sent (notifications.senders.slack_app).

No session and no CSRF token: the request is Slack's, and only its signature says so. In order:
1. the request must be signed (X-Slack-Signature, X-Slack-Request-Timestamp) and fresh (the
   timestamp within SLACK_SIGNATURE_MAX_AGE of now);
2. the clicked button's value must be a token the portal made (notifications.links); it names
   one delivery, and so the one channel whose signing secret the request must be signed with:
   a signature made with another channel's (another tenant's) secret is refused like a forged
   one; the same signature is accepted once (a replay is refused);
3. the Slack user who clicked (payload.user.id and its workspace) must be exactly one portal
   account's, through that person's own contact method of kind slack_app
   ("T0123ABCD/U0456EFGH");
4. that account's Access must reach the delivery's tenant, and the answer is the portal's own
   action for that account (notifications.answers.perform_answer: the same path as the
   confirmation page, once per delivery), so its policy decides as in the portal.

A request that fails 1 or 2 gets a 4xx with a one-line reason (Slack shows the click failed).
Past them the request is Slack's, and every outcome is an HTTP 200 plus a reply posted to the
interaction's response_url (only to SLACK_RESPONSE_URL_HOSTS, through the SSRF guard): the
message updated with who answered, or an ephemeral line to the clicker saying why nothing
happened."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import httpx
from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from tenants.access import access_for
from tenants.actions import Invalid, Refused, error_sentence
from tenants.models import User
from tenants.rls import access_scope, rls_bypass
from tenants.sealed import SecretsUnreadable, unseal

from . import links
from .answers import AlreadyAnswered, delivery_for, perform_answer, settled_sentence, target_for
from .models import Channel, ContactMethod, Delivery, Kind, TeamChannel
from .senders.base import JSON_HEADERS, SendFailure, post
from .senders.chat import mrkdwn
from .senders.slack_app import IN_SLACK

logger = logging.getLogger(__name__)
BODY_MAX = 64 * 1024  # bytes: an interaction payload is a few KB
REPLAY_KEY = "slack-interaction:"


class Rejected(Exception):
    """Not a request the portal takes from Slack: the status and a one-line reason."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


@dataclass(frozen=True)
class Click:
    """A verified click: the delivery, its answer and the Slack user who clicked."""

    delivery: Delivery
    offered: links.Answer
    expired: bool
    action_id: str
    slack_user: str  # "T0123ABCD/U0456EFGH"
    response_url: str
    message: dict[str, Any]  # the message clicked on, as Slack sent it back


@csrf_exempt
@require_POST
def interactions(request: HttpRequest) -> HttpResponse:
    try:
        click = _verified(request)
    except Rejected as rejected:
        return HttpResponse(
            rejected.reason + "\n", status=rejected.status, content_type="text/plain"
        )
    reply = _answer(click)
    if reply is not None:
        # after the answer is committed (ATOMIC_REQUESTS): Slack is told only what was done
        transaction.on_commit(lambda: _reply(click.response_url, reply))
    return HttpResponse(status=200)


# --- 1 and 2: Slack's, signed for the delivery's channel ---------------------------------------
def signature(secret: str, timestamp: str, body: bytes) -> str:
    """Slack's v0 request signature: HMAC-SHA256 of "v0:{timestamp}:{body}"."""
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def _verified(request: HttpRequest) -> Click:
    length = request.headers.get("Content-Length") or "0"
    if not (length.isascii() and length.isdigit()) or int(length) > BODY_MAX:
        raise Rejected(413, "The request is too large for a Slack interaction.")
    body = request.body
    if len(body) > BODY_MAX:
        raise Rejected(413, "The request is too large for a Slack interaction.")
    timestamp = request.headers.get("X-Slack-Request-Timestamp", "").strip()
    signed = request.headers.get("X-Slack-Signature", "").strip()
    if not timestamp or not signed:
        raise Rejected(401, "Not signed: X-Slack-Signature and X-Slack-Request-Timestamp needed.")
    if not (timestamp.isascii() and timestamp.isdigit()):
        raise Rejected(401, "X-Slack-Request-Timestamp is not a Unix time.")
    if abs(time.time() - int(timestamp)) > settings.SLACK_SIGNATURE_MAX_AGE:
        raise Rejected(401, "X-Slack-Request-Timestamp is too old (or in the future).")
    payload = _payload(body)
    action = _action(payload)
    value = action.get("value")
    if not isinstance(value, str) or not value:
        raise Rejected(400, "The button carries no answer of the portal's.")
    try:
        delivery_id, offered, expired = links.read_any_age(value)
    except links.LinkInvalid:
        raise Rejected(400, "The button's answer is not one the portal made.") from None
    delivery = _delivery(delivery_id)
    secret = _signing_secret(delivery)
    if not hmac.compare_digest(signature(secret, timestamp, body), signed):
        raise Rejected(401, "The signature does not match this message's Slack app.")
    if not cache.add(REPLAY_KEY + hashlib.sha256(signed.encode()).hexdigest(), 1, 2 * 3600):
        raise Rejected(409, "This request was received already.")
    message = payload.get("message")
    return Click(
        delivery=delivery,
        offered=offered,
        expired=expired,
        action_id=str(action.get("action_id") or ""),
        slack_user=_slack_user(payload),
        response_url=_response_url(payload),
        message=message if isinstance(message, dict) else {},
    )


def _payload(body: bytes) -> dict[str, Any]:
    try:
        form = parse_qs(body.decode("utf-8"), strict_parsing=True)
        (raw,) = form["payload"]
        payload = json.loads(raw)
    except (ValueError, KeyError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise Rejected(400, "Not a Slack interaction: a form with one `payload` of JSON.") from None
    if not isinstance(payload, dict):
        raise Rejected(400, "Not a Slack interaction: the payload is not an object.")
    if payload.get("type") != "block_actions":
        raise Rejected(400, "Only button clicks (block_actions) are taken here.")
    return payload


def _action(payload: dict[str, Any]) -> dict[str, Any]:
    actions = payload.get("actions")
    if not isinstance(actions, list) or len(actions) != 1 or not isinstance(actions[0], dict):
        raise Rejected(400, "Not a Slack interaction: one action expected.")
    action: dict[str, Any] = actions[0]
    return action


def _slack_user(payload: dict[str, Any]) -> str:
    user, team = payload.get("user"), payload.get("team")
    user_id = user.get("id") if isinstance(user, dict) else None
    team_id = (user.get("team_id") if isinstance(user, dict) else None) or (
        team.get("id") if isinstance(team, dict) else None
    )
    if not isinstance(user_id, str) or not isinstance(team_id, str) or not user_id or not team_id:
        raise Rejected(400, "Not a Slack interaction: no user and workspace.")
    return f"{team_id}/{user_id}"


def _response_url(payload: dict[str, Any]) -> str:
    url = payload.get("response_url")
    if not isinstance(url, str) or not url:
        raise Rejected(400, "Not a Slack interaction: no response_url.")
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError):
        raise Rejected(400, "The response_url is not a URL.") from None
    allowed = {host.lower() for host in settings.SLACK_RESPONSE_URL_HOSTS}
    if parsed.host.lower() not in allowed:
        raise Rejected(400, "The response_url is not Slack's.")
    return url


def _delivery(delivery_id: uuid.UUID) -> Delivery:
    """The token's delivery, of any tenant (who may see it is decided once the request is
    verified with its channel's secret and the clicker is known)."""
    with rls_bypass("Slack interaction: the delivery its verified-next button names"):
        delivery: Delivery | None = (
            Delivery.objects.dangerously_unscoped("Slack interaction: the button's delivery")
            .select_related("channel", "team_channel")
            .filter(pk=delivery_id)
            .first()
        )
    if delivery is None or delivery.kind != Kind.SLACK_APP:
        raise Rejected(404, "No Slack app message of the portal's has this button.")
    return delivery


def _signing_secret(delivery: Delivery) -> str:
    """The signing secret of the channel the delivery went through: the tenant's, or the MSSP
    team's (a tier's Slack app channel); never another's."""
    channel: Channel | TeamChannel | None = (
        delivery.channel if delivery.channel_id is not None else delivery.team_channel
    )
    if channel is None or channel.kind != Kind.SLACK_APP:
        raise Rejected(410, "The Slack app channel of this message was removed.")
    try:
        secret = unseal(channel.sealed_secrets).get("signing_secret") or ""
    except SecretsUnreadable:
        secret = ""
    if not secret:
        raise Rejected(410, "The Slack app channel of this message has no signing secret.")
    return secret


# --- 3 and 4: who clicked, and the answer ------------------------------------------------------
def _answer(click: Click) -> dict[str, Any] | None:
    """What to tell Slack (None: nothing, a link button's click is only acknowledged)."""
    offered = click.offered
    if click.action_id != offered.verb:
        return _ephemeral("This button does not match its answer: nothing was done.")
    if offered.verb not in IN_SLACK:
        return None  # a link button (decline): the browser opens the portal's page
    if click.expired:
        return _ephemeral("This button has expired: open the incident in the portal.")
    user = _portal_user(click.slack_user)
    if isinstance(user, str):
        return _ephemeral(user)
    access = access_for(user)
    if click.delivery.tenant_id not in access.tenant_ids:
        return _ephemeral("Your portal account does not work for this customer: nothing was done.")
    with access_scope(access):
        delivery = delivery_for(access, click.delivery.pk)
        target = target_for(access, delivery, offered) if delivery is not None else None
        if delivery is None or target is None:
            return _ephemeral("There is nothing here for you to answer.")
        if delivery.acted_at is not None:
            return _ephemeral(_answered(delivery))
        settled = settled_sentence(target)
        if settled:
            return _ephemeral(settled)
        try:
            result = perform_answer(
                delivery, offered, target, user=user, access=access, data={}, via="slack"
            )
        except AlreadyAnswered:
            delivery.refresh_from_db()
            return _ephemeral(_answered(delivery))
        except (Refused, Invalid) as exc:
            return _ephemeral(f"The portal said no: {error_sentence(exc.detail)}")
        done = offered.action.done_message(result)  # reads the target: in the scope
    return _updated(click, f"{done} ({_name(user)}, from Slack)")


def _portal_user(slack_user: str) -> User | str:
    """The one active portal account that linked this Slack user, or why not."""
    owners = set(
        ContactMethod.objects.filter(kind=Kind.SLACK_APP, target=slack_user).values_list(
            "user_id", flat=True
        )
    )
    how = f"link it on My notifications in the portal: a Slack app contact method {slack_user}"
    if not owners:
        return f"Your Slack user is not linked to a portal account: {how}. Nothing was done."
    if len(owners) > 1:
        return "Your Slack user is linked to more than one portal account: nothing was done."
    user = User.objects.filter(pk=owners.pop(), is_active=True).first()
    if user is None:
        return "The portal account linked to your Slack user is disabled: nothing was done."
    return user


def _name(user: User) -> str:
    return user.get_full_name() or user.username


def _answered(delivery: Delivery) -> str:
    who = _name(delivery.acted_by) if delivery.acted_by is not None else "someone"
    when = timezone.localtime(delivery.acted_at).strftime("%H:%M %Z") if delivery.acted_at else ""
    verb = delivery.get_acted_display().lower() or "answered"
    return f"Already answered: {verb} by {who}" + (f" at {when}" if when else "") + "."


def _ephemeral(text: str) -> dict[str, Any]:
    return {"response_type": "ephemeral", "replace_original": False, "text": text}


def _updated(click: Click, said: str) -> dict[str, Any]:
    """The message clicked on, its answer buttons replaced by who answered."""
    blocks = click.message.get("blocks")
    kept = [
        block
        for block in (blocks if isinstance(blocks, list) else [])
        if isinstance(block, dict) and block.get("block_id") != "answers"
    ]
    kept.append({"type": "context", "elements": [{"type": "mrkdwn", "text": mrkdwn(said, 300)}]})
    text = click.message.get("text") if isinstance(click.message.get("text"), str) else said
    return {"replace_original": True, "text": text, "blocks": kept}


def _reply(response_url: str, reply: dict[str, Any]) -> None:
    """Post the reply to the interaction's response_url (Slack's host; the SSRF guard)."""
    body = json.dumps(reply, separators=(",", ":")).encode()
    try:
        post(response_url, body, JSON_HEADERS)
    except SendFailure as exc:
        logger.warning("Slack interaction reply not posted: %s", exc)
