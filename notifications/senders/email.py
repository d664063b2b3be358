"""E-mail: Django's mail backend, the subject made one line by tenants.mail."""

from __future__ import annotations

from collections.abc import Mapping

from django.conf import settings
from django.core.mail import send_mail

from tenants import mail
from tenants.text import single_line

from ..message import Message
from .base import Answer, PermanentFailure, TemporaryFailure


def send_email(target: str, secrets: Mapping[str, str], message: Message) -> Answer:
    address = target.strip()
    if not address:
        raise PermanentFailure("no e-mail address")
    subject = mail.subject(f"[{message.tenant_name}] {message.title}")
    answers = "".join(f"\n{label}: {url}" for label, url in message.links)
    body = f"{message.text}\n\n{message.url}{answers}".strip()
    try:
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [address])
    except Exception as exc:  # what the mail server or the message builder said
        error = f"{type(exc).__name__}: {single_line(exc, 200)}"
        if mail.refused_for_good(exc):
            raise PermanentFailure(error) from exc
        raise TemporaryFailure(error) from exc
    return Answer(0, f"mail accepted for {single_line(address, 200)}")
