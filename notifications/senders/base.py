"""What every kind shares: the answer, the failures, and the one way of sending over HTTP (the
SSRF guard) and of judging what came back. The failures are tenants.outbox's too (its
PermanentFailure gives up at once, its RetryLater waits as asked), so the outbox that sends
channel deliveries needs to know nothing of this package."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
from django.core.serializers.json import DjangoJSONEncoder

from tenants import outbox, webhooks
from tenants.text import single_line

from ..message import Message

CLIENT = "MSSP portal"  # how the portal names itself to receivers
RETRY_AFTER_MAX = 3600.0  # seconds: a longer Retry-After is cut to this
JSON_HEADERS = {"Content-Type": "application/json"}
_UNSAFE = re.compile(r"[\s\x00-\x1f\x7f]")  # never in a URL, a key or a token
_REFUSED = {
    400: "refused as invalid",
    401: "credentials refused",
    403: "credentials refused",
    404: "no such endpoint (removed?)",
    410: "no such endpoint (removed?)",
    413: "message too large",
    422: "refused as invalid",
}


class SendFailure(Exception):
    """Why a message was not delivered: one line that names no secret."""


class PermanentFailure(SendFailure, outbox.PermanentFailure):
    """Retrying cannot help: a refused destination or credentials, a request the receiver
    calls invalid, a redirect (never followed), a channel that is not set up."""


class TemporaryFailure(SendFailure):
    """Worth retrying with backoff: unreachable, no answer in time, 408, 5xx."""


class RetryLater(TemporaryFailure, outbox.RetryLater):
    """The receiver is rate limiting or unavailable (429, 503). `retry_after_seconds` is when
    it asked to be tried again (Retry-After, at most RETRY_AFTER_MAX), None if it did not say;
    the outbox reads it as `after_seconds`."""

    def __init__(self, detail: str, retry_after_seconds: float | None = None) -> None:
        super().__init__(detail, retry_after_seconds)
        self.retry_after_seconds = retry_after_seconds


@dataclass(frozen=True)
class Answer:
    status: int  # the receiver's HTTP status; 0 for e-mail (the mail server took it)
    detail: str  # one line for the delivery log: "202 from events.pagerduty.com"
    # what an API answered in its body, when the sender asked for it (post's read_body)
    body: bytes = field(default=b"", compare=False, repr=False)


def retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """The seconds a Retry-After header asks for (delay-seconds or an HTTP-date), at most
    RETRY_AFTER_MAX and at least 0; None when absent or not understood."""
    value = (value or "").strip()
    if not value:
        return None
    if value.isascii() and value.isdigit():
        seconds = float(value)
    else:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:  # "-0000": UTC, says RFC 5322
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return min(max(seconds, 0.0), RETRY_AFTER_MAX)


def post(url: str, body: bytes, headers: Mapping[str, str], *, read_body: int = 0) -> Answer:
    """POST through the SSRF guard (resolved once, checked, no redirects, a deadline); with
    `read_body`, the Answer holds at most that many bytes of what the receiver answered."""
    try:
        reply = webhooks.post_for_reply(
            url, body, {"User-Agent": CLIENT, **headers}, read_body=read_body
        )
    except webhooks.DestinationRefused as exc:  # names the host only
        raise PermanentFailure(single_line(exc, 200) or "destination refused") from exc
    except webhooks.DeliveryFailed as exc:  # names the host only
        raise TemporaryFailure(single_line(exc, 200) or "unreachable") from exc
    return judge(reply, httpx.URL(url).host)


def judge(reply: webhooks.Reply, host: str) -> Answer:
    """2xx is an Answer; anything else the failure it is."""
    status, said = reply.status, f"{reply.status} from {host}"
    if 200 <= status < 300:
        return Answer(status, said, reply.body)
    if 300 <= status < 400:  # where to would be unchecked
        raise PermanentFailure(f"{said}: redirects are not followed")
    if status in (429, 503):
        after = retry_after(reply.headers.get("retry-after"))
        why = "rate limited" if status == 429 else "unavailable"
        when = "" if after is None else f", retry after {after:.0f} s"
        raise RetryLater(f"{said}: {why}{when}", after)
    if status in (408, 425) or status >= 500:
        raise TemporaryFailure(said)
    if 400 <= status < 500:
        raise PermanentFailure(f"{said}: {_REFUSED.get(status, 'refused')}")
    raise TemporaryFailure(f"{said}: not an answer")  # 1xx as a final status


def to_json(value: Any) -> str:
    """Compact ASCII JSON (datetimes, UUIDs and decimals as Django's encoder writes them)."""
    return json.dumps(value, separators=(",", ":"), cls=DjangoJSONEncoder)


def secret(secrets: Mapping[str, str], name: str) -> str:
    """The channel's secret `name`; refused, without quoting it, when missing or malformed."""
    value = (secrets.get(name) or "").strip()
    if not value or _UNSAFE.search(value):
        raise PermanentFailure(f"the channel's {name} is missing or malformed")
    return value


def cut(text: str, limit: int) -> str:
    """`text` of at most `limit` characters, an ellipsis marking a cut."""
    if len(text) <= limit:
        return text
    return text[: limit - 1].rstrip() + "…" if limit > 0 else ""


def bounded_key(key: str, limit: int) -> str:
    """A deduplication key that fits: too long a one is replaced by its digest, the same for
    every action, so acknowledge and resolve still reach what trigger opened."""
    return key if len(key) <= limit else "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def tenant_of(message: Message) -> str:
    return single_line(message.tenant_name, 100)
