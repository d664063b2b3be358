"""Periodic work of provisioning: pending e-mail domain claims are looked up in DNS again, so
that a TXT record published after the admin pressed "Check DNS" still verifies the claim."""

from __future__ import annotations

import logging

from celery import shared_task

logger = logging.getLogger("mssp.sso")


@shared_task(ignore_result=True)  # type: ignore[untyped-decorator]  # celery is untyped
def recheck_pending_domains() -> int:
    from .actions import recheck_pending_domains as recheck

    verified = recheck()
    if verified:
        logger.info("%d e-mail domain claim(s) verified by their DNS record", verified)
    return verified
