"""The Django admin, for MSSP admins only (is_staff is set for the admin staff role)."""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from guardian.admin import GuardedModelAdmin

from . import services
from .models import ApiToken, AuditEvent, Membership, Team, Tenant, User


class MsspAdminOnly:
    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_mssp_admin

    def has_view_permission(self, request, obj=None):
        return self.has_module_permission(request)

    def has_add_permission(self, request):
        return self.has_module_permission(request)

    def has_change_permission(self, request, obj=None):
        return self.has_module_permission(request)

    def has_delete_permission(self, request, obj=None):
        return self.has_module_permission(request)


class AllTenantsAdmin(MsspAdminOnly):
    """Tenant-scoped models: the admin deliberately sees every tenant (MSSP admins only).
    Row-level security still applies, so the admin's request needs the bypass context."""

    def get_queryset(self, request):
        return self.model.objects.dangerously_unscoped("Django admin, MSSP admins only")


@admin.register(Tenant)
class TenantAdmin(MsspAdminOnly, GuardedModelAdmin):
    list_display = ["name", "slug", "service_model", "timezone", "status"]
    list_filter = ["service_model", "status"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(User)
class UserAdmin(MsspAdminOnly, DjangoUserAdmin):
    list_display = ["username", "email", "staff_role", "is_active", "is_superuser"]
    list_filter = ["staff_role", "is_active", "is_superuser"]
    fieldsets = [*DjangoUserAdmin.fieldsets, ("MSSP", {"fields": ["staff_role"]})]


@admin.register(Membership)
class MembershipAdmin(AllTenantsAdmin, admin.ModelAdmin):
    list_display = ["user", "tenant", "role", "created_at"]
    list_filter = ["role", "tenant"]
    raw_id_fields = ["user"]


@admin.register(Team)
class TeamAdmin(AllTenantsAdmin, admin.ModelAdmin):
    list_display = ["name", "kind", "tenant"]
    list_filter = ["kind"]
    filter_horizontal = ["members"]


@admin.register(ApiToken)
class ApiTokenAdmin(MsspAdminOnly, admin.ModelAdmin):
    list_display = ["name", "user", "prefix", "created_at", "expires_at", "revoked_at"]
    readonly_fields = ["prefix", "digest", "user", "scopes", "created_at", "last_used_at"]

    def has_add_permission(self, request):
        return False  # tokens are created through the API, which shows them once

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if obj.revoked_at is not None and "revoked_at" in form.changed_data:
            services.token_revoke(obj, request=request)  # the tokens it minted go with it


@admin.register(AuditEvent)
class AuditEventAdmin(AllTenantsAdmin, admin.ModelAdmin):
    list_display = ["at", "actor_name", "tenant", "action", "summary", "ip"]
    list_filter = ["action"]
    search_fields = ["actor_name", "summary", "object_id"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
