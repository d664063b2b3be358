"""Cross-cutting fan-out only: logins, failures and lockouts go to the audit log; changes to
accounts, tokens, memberships, tenants and object permissions reach the live stream's open
sockets (tenants.consumers), however they were made (a service, the Django admin, a shell)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from axes.signals import user_locked_out
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.http import HttpRequest

from . import audit, events, sessions
from .models import ApiToken, Membership, Tenant, TenantUserObjectPermission, User
from .rls import rls_bypass
from .useragent import describe


def _tenant_of_username(username: str) -> int | None:
    if not username:
        return None
    # Around login there is no tenant context yet; this lookup exists so that a customer admin
    # sees the logins (and failed attempts) of their own users.
    with rls_bypass("audit: the tenant of a login's username"):
        tenant_id: int | None = (
            Membership.objects.dangerously_unscoped("failed-login tenant lookup")
            .filter(user__username=username)
            .values_list("tenant_id", flat=True)
            .first()
        )
    return tenant_id


def _device(request: HttpRequest | None) -> str:
    return describe(request.META.get("HTTP_USER_AGENT", "")) if request is not None else ""


@receiver(user_logged_in)
def audit_login(sender: object, request: HttpRequest, user: User, **kwargs: Any) -> None:
    """The login's audit entry, and its session's record (tenants.sessions)."""
    tenant_id = _tenant_of_username(user.username)
    record = sessions.started(request, user) if request is not None else None
    audit.record(
        "auth.login",
        actor=user,
        tenant=tenant_id,
        obj=user,
        request=request,
        summary=f"{user.username} logged in",
        data={"device": _device(request), "session": str(record.pk) if record else ""},
    )


@receiver(user_logged_out)
def audit_logout(
    sender: object, request: HttpRequest | None, user: User | None, **kwargs: Any
) -> None:
    """The user's own logout ends its session's record; a session the middleware signs out
    (ended elsewhere, timed out) was audited when it ended."""
    if request is None or user is None or hasattr(request, "_mssp_session_ended"):
        return
    record = sessions.ended_at_logout(request)
    audit.record(
        "auth.logout",
        actor=user,
        tenant=_tenant_of_username(user.username),
        obj=user,
        request=request,
        summary=f"{user.username} logged out",
        data={"device": _device(request), "session": str(record.pk) if record else ""},
    )


@receiver(user_login_failed)
def audit_login_failed(
    sender: object,
    credentials: dict[str, Any] | None,
    request: HttpRequest | None = None,
    **kwargs: Any,
) -> None:
    username = str((credentials or {}).get("username", ""))[:150]
    user = get_user_model().objects.filter(username=username).first() if username else None
    audit.record(
        "auth.login_failed",
        actor=None,
        tenant=_tenant_of_username(username),
        obj=user,
        request=request,
        summary=f"failed login for '{username}'",
        data={"username": username, "device": _device(request)},
    )


@receiver(user_locked_out)
def audit_lockout(
    sender: object,
    request: HttpRequest | None,
    username: str | None,
    ip_address: str | None,
    **kwargs: Any,
) -> None:
    audit.record(
        "auth.locked_out",
        tenant=_tenant_of_username(username or ""),
        request=request,
        summary=f"'{username}' locked out after repeated failures",
        data={"username": username or "", "ip": ip_address},
    )


# --- the live stream: sockets live only as long as what authenticated them -------------------
# The rows that belong to one user (user_id): who must be re-checked when one changes.
UserOwned = ApiToken | Membership | TenantUserObjectPermission


@receiver(user_logged_out)
def close_sockets_of_the_session(
    sender: object, request: HttpRequest | None, user: User | None, **kwargs: Any
) -> None:
    session_key = getattr(getattr(request, "session", None), "session_key", None)
    if user is not None and session_key:
        events.session_ended(user.pk, session_key)


@receiver(post_save, sender=User)
def recheck_sockets_of_saved_user(
    sender: type[User],
    instance: User,
    created: bool,
    update_fields: Iterable[str] | None,
    raw: bool,
    **kwargs: Any,
) -> None:
    """A password (every session of the user ends), is_active, staff role or superuser flag
    may have changed. Logins only stamp last_login: nothing to re-check."""
    if created or raw or (update_fields is not None and set(update_fields) <= {"last_login"}):
        return
    events.entitlements_changed(instance.pk)


@receiver(post_delete, sender=User)
def recheck_sockets_of_deleted_user(sender: type[User], instance: User, **kwargs: Any) -> None:
    events.entitlements_changed(instance.pk)


@receiver(post_save, sender=ApiToken)
def recheck_sockets_of_saved_token(
    sender: type[ApiToken], instance: ApiToken, created: bool, raw: bool, **kwargs: Any
) -> None:
    """Revoked or its expiry changed in the Django admin (the services update rows directly
    and tell the sockets themselves)."""
    if not created and not raw:
        events.entitlements_changed(instance.user_id)


@receiver(post_delete, sender=ApiToken)
@receiver(post_delete, sender=Membership)
@receiver(post_delete, sender=TenantUserObjectPermission)
def recheck_sockets_of_user_after_delete(
    sender: type[UserOwned], instance: UserOwned, **kwargs: Any
) -> None:
    events.entitlements_changed(instance.user_id)


@receiver(post_save, sender=Membership)
@receiver(post_save, sender=TenantUserObjectPermission)
def recheck_sockets_of_user_after_save(
    sender: type[UserOwned], instance: UserOwned, raw: bool, **kwargs: Any
) -> None:
    """A role (what a socket's audience is) or the tenants a user may see changed."""
    if not raw:
        events.entitlements_changed(instance.user_id)


@receiver(post_save, sender=Tenant)
def recheck_sockets_of_tenant(
    sender: type[Tenant], instance: Tenant, created: bool, raw: bool, **kwargs: Any
) -> None:
    """Suspended or reactivated (its customers' sockets leave or rejoin its group); new (the
    sockets of staff who see every tenant join it)."""
    if not raw:
        events.tenant_entitlements_changed(instance.pk, created=created)
