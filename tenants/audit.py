"""Writing the audit log. Every entry says who, what, which object, when and from where."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.http import HttpRequest

from . import network
from .models import AuditEvent, Tenant, User


def client_ip(request: HttpRequest | None) -> str | None:
    # The login throttle's and the lockout's rule (tenants.network): X-Forwarded-For only as
    # far as our own proxies wrote it; an audit log must not record what an attacker chose.
    return network.client_ip(request)


def record(
    action: str,
    *,
    actor: User | None = None,
    tenant: Tenant | int | None = None,
    obj: models.Model | None = None,
    summary: str = "",
    data: dict[str, Any] | None = None,
    request: HttpRequest | None = None,
) -> AuditEvent:
    event = entry(
        action, actor=actor, tenant=tenant, obj=obj, summary=summary, data=data, request=request
    )
    event.save(force_insert=True)
    return event


def entry(
    action: str,
    *,
    actor: User | None = None,
    tenant: Tenant | int | None = None,
    obj: models.Model | None = None,
    summary: str = "",
    data: dict[str, Any] | None = None,
    request: HttpRequest | None = None,
) -> AuditEvent:
    """The entry record() writes, not yet saved."""
    if actor is None and request is not None:
        user = getattr(request, "user", None)
        actor = user if getattr(user, "is_authenticated", False) else None
    return AuditEvent(
        action=action,
        actor=actor,
        actor_name=getattr(actor, "username", "") or "",
        tenant_id=getattr(tenant, "pk", tenant),
        object_type=obj._meta.label_lower if obj is not None else "",
        object_id=str(obj.pk) if obj is not None else "",
        summary=summary[:300],
        data=data or {},
        ip=client_ip(request),
        user_agent=(request.META.get("HTTP_USER_AGENT", "")[:300] if request is not None else ""),
    )
