from django.contrib import admin

from tenants.admin import AllTenantsAdmin

from .models import Engagement, Finding, RemediationPolicy, ScanImport


@admin.register(Finding)
class FindingAdmin(AllTenantsAdmin, admin.ModelAdmin):
    list_display = ["title", "tenant", "severity", "status", "first_seen"]
    list_filter = ["severity", "status", "scanner"]
    search_fields = ["title", "plugin_id"]
    raw_id_fields = ["asset", "engagement", "last_import"]


@admin.register(Engagement)
class EngagementAdmin(AllTenantsAdmin, admin.ModelAdmin):
    list_display = ["name", "tenant", "kind", "starts_on", "ends_on"]


@admin.register(ScanImport)
class ScanImportAdmin(AllTenantsAdmin, admin.ModelAdmin):
    list_display = ["file_name", "tenant", "kind", "status", "created_count", "closed_count"]
    list_filter = ["kind", "status"]
    exclude = ["content"]


@admin.register(RemediationPolicy)
class RemediationPolicyAdmin(AllTenantsAdmin, admin.ModelAdmin):
    list_display = ["tenant", "severity", "days", "at_risk_percent"]
