"""Cross-cutting fan-out only: logins, failures and lockouts go to the audit log."""

from __future__ import annotations

from axes.signals import user_locked_out
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.dispatch import receiver

from . import audit
from .models import Membership
from .rls import rls_bypass


def _tenant_of_username(username: str) -> int | None:
    if not username:
        return None
    # Around login there is no tenant context yet; this lookup exists so that a customer admin
    # sees the logins (and failed attempts) of their own users.
    with rls_bypass("audit: the tenant of a login's username"):
        return (
            Membership.objects.dangerously_unscoped("failed-login tenant lookup")
            .filter(user__username=username)
            .values_list("tenant_id", flat=True)
            .first()
        )


@receiver(user_logged_in)
def audit_login(sender, request, user, **kwargs) -> None:
    audit.record(
        "auth.login",
        actor=user,
        tenant=_tenant_of_username(user.username),
        obj=user,
        request=request,
        summary=f"{user.username} logged in",
    )


@receiver(user_login_failed)
def audit_login_failed(sender, credentials, request=None, **kwargs) -> None:
    username = str((credentials or {}).get("username", ""))[:150]
    user = get_user_model().objects.filter(username=username).first() if username else None
    audit.record(
        "auth.login_failed",
        actor=None,
        tenant=_tenant_of_username(username),
        obj=user,
        request=request,
        summary=f"failed login for '{username}'",
        data={"username": username},
    )


@receiver(user_locked_out)
def audit_lockout(sender, request, username, ip_address, **kwargs) -> None:
    audit.record(
        "auth.locked_out",
        tenant=_tenant_of_username(username or ""),
        request=request,
        summary=f"'{username}' locked out after repeated failures",
        data={"username": username or "", "ip": ip_address},
    )
