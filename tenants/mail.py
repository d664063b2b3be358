"""Outgoing e-mail, whoever sends it (SLA notices, reports, set-password links): a subject
that can always be sent, and which failures are for good (retrying cannot help)."""

from __future__ import annotations

import smtplib
from typing import Any

from .text import single_line

# Longer subjects are cut (RFC 5322 allows 998 characters a line; mail clients show ~80).
SUBJECT_MAX = 250


def subject(value: Any) -> str:
    """An e-mail subject that can always be sent, whatever went into it: one line (a line
    break in a header makes Django refuse the whole message), of a bounded length."""
    return single_line(value, SUBJECT_MAX) or "(no subject)"


def refused_for_good(exc: BaseException) -> bool:
    """A failure that the same message to the same address meets again on every retry: the
    server refused the recipient or the message itself with a 5xx reply, or the message
    cannot be built (a header or an address that is not one)."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return bool(exc.recipients) and all(
            500 <= code < 600 for code, _ in exc.recipients.values()
        )
    if isinstance(exc, smtplib.SMTPDataError):
        return 500 <= exc.smtp_code < 600
    return isinstance(exc, ValueError | UnicodeError)  # BadHeaderError is a ValueError
