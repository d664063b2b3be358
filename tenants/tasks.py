"""Thin tasks: they take ids, load inside the tenant's scope, re-check state, call a service."""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from celery.contrib.django.task import DjangoTask

from . import rls
from .mail import refused_for_good

logger = logging.getLogger("mssp.tenants")


class CarriedTenantContext(RuntimeError):
    """A task found a tenant context left on its connection by earlier work."""


# celery ships no type information: its base classes and decorators are Any to the checker.
class TenantTask(DjangoTask):  # type: ignore[misc]
    """A task about one tenant: its first argument is the tenant id, and it runs in one
    transaction whose row-level-security context names exactly that tenant.

    Before it sets its own, it checks that the connection carries none from whatever ran
    before on this worker, and refuses to run if it does.
    """

    def __call__(self, tenant_id: int, *args: Any, **kwargs: Any) -> Any:
        # Also catches a task run eagerly inside a caller's scoped transaction (.delay() where
        # .delay_on_commit() was meant): it would otherwise run with the caller's tenants.
        carried = {k: v for k, v in rls.current_context().items() if v}
        if carried:
            raise CarriedTenantContext(f"{self.name} found {carried} on its connection.")
        with rls.tenant_scope([int(tenant_id)]):
            return super().__call__(tenant_id, *args, **kwargs)


@shared_task(base=TenantTask, bind=True, max_retries=5, default_retry_delay=30)  # type: ignore[untyped-decorator]
def send_set_password_link(self: TenantTask, tenant_id: int, membership_id: str) -> bool:
    from .services import member_send_set_password_link

    try:
        return member_send_set_password_link(tenant_id, membership_id)
    except OSError as exc:  # mail server unreachable: try again later
        if refused_for_good(exc):  # the address refused for good: retrying cannot help
            logger.warning("set-password link for %s not sent: %s", membership_id, exc)
            return False
        raise self.retry(exc=exc) from exc


@shared_task(bind=True, max_retries=5, default_retry_delay=30)  # type: ignore[untyped-decorator]
def send_new_device_notice(self: Any, tenant_id: int | None, session_id: str) -> bool:
    """Tell a user their account signed in from a new device (tenants.sessions). About a
    person, not a tenant's data: `tenant_id` is the user's tenant, None for MSSP staff, and the
    task reads only that user's own session row (not tenant-owned), so it needs no scope."""
    from .sessions import send_new_device_notice as send

    try:
        return send(session_id)
    except OSError as exc:  # mail server unreachable: try again later
        if refused_for_good(exc):
            logger.warning("new-device notice for session %s not sent: %s", session_id, exc)
            return False
        raise self.retry(exc=exc) from exc


@shared_task  # type: ignore[untyped-decorator]
def sweep_sessions() -> dict[str, int | bool]:
    """Each minute: sessions past their limits ended, expired and old ones cleared
    (tenants.session_sweep)."""
    from dataclasses import asdict

    from .session_sweep import sweep

    return asdict(sweep())
