"""The Django admin, for MSSP admins only (is_staff is set for the admin staff role)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Generic, TypeVar

from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db import models
from django.http import HttpRequest
from guardian.admin import GuardedModelAdmin

from . import services
from .models import ApiToken, AuditEvent, Membership, Team, Tenant, User
from .querysets import scoped_manager

# Django's admin classes are generic in django-stubs only: at run time they take no [Model].
if TYPE_CHECKING:
    UserModelAdmin = DjangoUserAdmin[User]
    MembershipModelAdmin = admin.ModelAdmin[Membership]
    TeamModelAdmin = admin.ModelAdmin[Team]
    ApiTokenModelAdmin = admin.ModelAdmin[ApiToken]
    AuditEventModelAdmin = admin.ModelAdmin[AuditEvent]
else:
    UserModelAdmin = DjangoUserAdmin
    MembershipModelAdmin = TeamModelAdmin = admin.ModelAdmin
    ApiTokenModelAdmin = AuditEventModelAdmin = admin.ModelAdmin


class MsspAdminOnly:
    def has_module_permission(self, request: HttpRequest) -> bool:
        user = request.user  # an anonymous one is not active
        return user.is_active and isinstance(user, User) and user.is_mssp_admin

    def has_view_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return self.has_module_permission(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self.has_module_permission(request)

    def has_change_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return self.has_module_permission(request)

    def has_delete_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return self.has_module_permission(request)


TenantRow = TypeVar("TenantRow", bound=models.Model)


class AllTenantsAdmin(MsspAdminOnly, Generic[TenantRow]):
    """Tenant-scoped models: the admin deliberately sees every tenant (MSSP admins only).
    Row-level security still applies, so the admin's request needs the bypass context."""

    model: type[TenantRow]  # ModelAdmin's, which each admin below mixes this into

    def get_queryset(self, request: HttpRequest) -> models.QuerySet[TenantRow]:
        rows: models.QuerySet[TenantRow] = scoped_manager(self.model).dangerously_unscoped(
            "Django admin, MSSP admins only"
        )
        return rows


# guardian's and django-stubs' ModelAdmin annotate change_form_template differently (str vs
# str | None); the attribute is guardian's template, as at run time.
@admin.register(Tenant)
class TenantAdmin(MsspAdminOnly, GuardedModelAdmin):  # type: ignore[misc]
    list_display = ["name", "slug", "service_model", "timezone", "status"]
    list_filter = ["service_model", "status"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(User)
class UserAdmin(MsspAdminOnly, UserModelAdmin):
    list_display = ["username", "email", "staff_role", "is_active", "is_superuser"]
    list_filter = ["staff_role", "is_active", "is_superuser"]
    fieldsets = [*(DjangoUserAdmin.fieldsets or ()), ("MSSP", {"fields": ["staff_role"]})]


@admin.register(Membership)
class MembershipAdmin(AllTenantsAdmin[Membership], MembershipModelAdmin):
    list_display = ["user", "tenant", "role", "created_at"]
    list_filter = ["role", "tenant"]
    raw_id_fields = ["user"]


@admin.register(Team)
class TeamAdmin(AllTenantsAdmin[Team], TeamModelAdmin):
    list_display = ["name", "kind", "tenant"]
    list_filter = ["kind"]
    filter_horizontal = ["members"]


@admin.register(ApiToken)
class ApiTokenAdmin(MsspAdminOnly, ApiTokenModelAdmin):
    list_display = ["name", "user", "prefix", "created_at", "expires_at", "revoked_at"]
    readonly_fields = ["prefix", "digest", "user", "scopes", "created_at", "last_used_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # tokens are created through the API, which shows them once

    def save_model(
        self, request: HttpRequest, obj: ApiToken, form: forms.ModelForm[ApiToken], change: bool
    ) -> None:
        super().save_model(request, obj, form, change)
        if obj.revoked_at is not None and "revoked_at" in form.changed_data:
            services.token_revoke(obj, request=request)  # the tokens it minted go with it


@admin.register(AuditEvent)
class AuditEventAdmin(AllTenantsAdmin[AuditEvent], AuditEventModelAdmin):
    list_display = ["at", "actor_name", "tenant", "action", "summary", "ip"]
    list_filter = ["action"]
    search_fields = ["actor_name", "summary", "object_id"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return False
