"""SMS and voice calls through the portal's own Twilio (or Twilio-compatible) account
(TWILIO_* settings); the channel's target is the phone number."""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from urllib.parse import quote, urlencode
from xml.sax.saxutils import escape as xml_escape

from django.conf import settings

from tenants.text import single_line

from ..message import Message
from .base import Answer, PermanentFailure, cut, post, tenant_of

SMS_MAX = 320  # characters: a few segments, never a dozen
SPOKEN_MAX = 1000  # characters read out in a call
E164 = re.compile(r"\+[1-9][0-9]{6,14}")


def send_sms(target: str, secrets: Mapping[str, str], message: Message) -> Answer:
    head = f"[{cut(tenant_of(message), 40)}] "
    # a hyphen, not a dash: GSM-7 has none, and one would make every SMS UCS-2 (70 a segment)
    tail = f" - {message.url}" if message.url else ""
    title = single_line(message.title)
    room = SMS_MAX - len(head) - len(tail)
    if room >= 20:  # the link whole, the title cut
        text = head + cut(title, room) + tail
    else:
        text = cut(head + title + tail, SMS_MAX)
    return _twilio("Messages", target, {"Body": text})


def send_voice(target: str, secrets: Mapping[str, str], message: Message) -> Answer:
    spoken = f"Security notification for {tenant_of(message)}. {message.title}. {message.text}"
    # one line: no control character, which XML does not allow either
    twiml = f"<Response><Say>{xml_escape(cut(single_line(spoken), SPOKEN_MAX))}</Say></Response>"
    return _twilio("Calls", target, {"Twiml": twiml})


def _twilio(resource: str, target: str, fields: dict[str, str]) -> Answer:
    sid, token = settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN
    sender = settings.TWILIO_FROM_NUMBER
    if not (sid and token and sender):
        raise PermanentFailure("SMS and voice are not configured on this portal")
    number = target.strip()
    if not E164.fullmatch(number):
        raise PermanentFailure("not a phone number in E.164 form (+ and 7 to 15 digits)")
    base = settings.TWILIO_API_URL.rstrip("/")
    url = f"{base}/2010-04-01/Accounts/{quote(sid, safe='')}/{resource}.json"
    credentials = base64.b64encode(f"{sid}:{token}".encode()).decode("ascii")
    headers = {
        "Authorization": f"Basic {credentials}",
        "Content-Type": "application/x-www-form-urlencoded",
    }
    return post(url, urlencode({"To": number, "From": sender, **fields}).encode(), headers)
