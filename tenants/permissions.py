"""Permissions checked on the server for every API request."""

from __future__ import annotations

from rest_framework.permissions import SAFE_METHODS, BasePermission

from .auth import token_scopes


class HasTokenScope(BasePermission):
    """Authenticated, and a token used for the request carries the scope the action needs:
    `read` for safe methods, `write` otherwise, or the view's `required_scope`."""

    message = "Authentication credentials were not provided."

    def has_permission(self, request, view) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        scopes = token_scopes(request)
        if scopes is None:
            return True
        needed = getattr(view, "required_scope", None) or (
            "read" if request.method in SAFE_METHODS else "write"
        )
        if needed not in scopes:
            self.message = f"This token lacks the '{needed}' scope."
            return False
        return True


class IsMsspAdmin(BasePermission):
    message = "Only MSSP administrators may do this."

    def has_permission(self, request, view) -> bool:
        access = getattr(view, "access", None)
        return bool(access and access.is_mssp_admin)


class IsMsspAdminOrReadOnly(IsMsspAdmin):
    def has_permission(self, request, view) -> bool:
        return request.method in SAFE_METHODS or super().has_permission(request, view)


class StaffPermission(IsMsspAdmin):
    """The staff list: admins write; managers may also PATCH, for assignments only (which
    tenants staff work and lead: the view refuses any other field to them)."""

    def has_permission(self, request, view) -> bool:
        if request.method in SAFE_METHODS or super().has_permission(request, view):
            return True
        access = getattr(view, "access", None)
        return bool(access and access.staff_role == "manager" and request.method == "PATCH")
