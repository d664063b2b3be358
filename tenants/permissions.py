"""Permissions checked on the server for every API request."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType, SimpleNamespace
from typing import TYPE_CHECKING

from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import SAFE_METHODS, BasePermission

if TYPE_CHECKING:  # DRF's settings import this module: rest_framework.views is not ready yet
    from rest_framework.request import Request
    from rest_framework.views import APIView

from .auth import token_scopes
from .policy import ROLE_SCOPES

READ, WRITE, ADMIN = "read", "write", "admin"

# A view's `required_scope` names the token scope its actions need: one scope for all of them,
# or a mapping from action name (a viewset's `create`, `rotate_key`, ...) or HTTP method to a
# scope. Whatever it does not name needs `read` for safe methods and `write` otherwise.
# Administration (tenants, members, staff, intake sources and keys, contacts, webhooks, SLA,
# escalation and remediation policies, the audit log, API tokens) declares `admin`.
ADMIN_TO_CHANGE: Mapping[str, str] = MappingProxyType(
    {"POST": ADMIN, "PUT": ADMIN, "PATCH": ADMIN, "DELETE": ADMIN}
)


def required_scope(view: object, request: Request | SimpleNamespace) -> str:
    """The scope a token needs for this request to `view`."""
    declared = getattr(view, "required_scope", None)
    if isinstance(declared, Mapping):
        action = getattr(view, "action", None)
        declared = (declared.get(action) if action else None) or declared.get(request.method)
    if declared:
        return str(declared)
    return READ if request.method in SAFE_METHODS else WRITE


class InsufficientScope(PermissionDenied):
    """403 `insufficient_scope`: the token sent lacks the scope the action needs (whatever the
    caller's role would allow)."""

    error_code = "insufficient_scope"

    def __init__(self, scope: str, *, role_has_it: bool = True) -> None:
        # The same words for every object (another tenant's or a missing one alike).
        advice = (
            f"Use a token created with the '{scope}' scope, or sign in to the portal."
            if role_has_it
            else "No token of your role can have it; sign in to the portal for what your role "
            "may do."
        )
        super().__init__(
            f"This token lacks the '{scope}' scope, which this request needs. {advice}"
        )
        self.extra = {"required_scope": scope}


class HasTokenScope(BasePermission):
    """Authenticated, and a token used for the request carries the scope the action needs
    (`required_scope()`). A session is not a token: the caller's role alone decides."""

    message = "Authentication credentials were not provided."

    def has_permission(self, request: Request, view: APIView) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        scopes = token_scopes(request)
        if scopes is None:
            return True
        needed = required_scope(view, request)
        if needed not in scopes:
            access = getattr(view, "access", None)
            role = (access.staff_role or access.customer_role) if access is not None else ""
            raise InsufficientScope(needed, role_has_it=needed in ROLE_SCOPES.get(role, ()))
        return True


class IsMsspAdmin(BasePermission):
    message = "Only MSSP administrators may do this."

    def has_permission(self, request: Request, view: APIView) -> bool:
        access = getattr(view, "access", None)
        return bool(access and access.is_mssp_admin)


class IsMsspAdminOrReadOnly(IsMsspAdmin):
    def has_permission(self, request: Request, view: APIView) -> bool:
        return request.method in SAFE_METHODS or super().has_permission(request, view)


class StaffPermission(IsMsspAdmin):
    """The staff list: admins write; managers may also PATCH, for assignments only (which
    tenants staff work and lead: the view refuses any other field to them)."""

    def has_permission(self, request: Request, view: APIView) -> bool:
        if request.method in SAFE_METHODS or super().has_permission(request, view):
            return True
        access = getattr(view, "access", None)
        return bool(access and access.manages_staff and request.method == "PATCH")
