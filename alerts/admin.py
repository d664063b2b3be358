from django.contrib import admin

from tenants.admin import AllTenantsAdmin

from .models import IntakeSource


@admin.register(IntakeSource)
class IntakeSourceAdmin(AllTenantsAdmin, admin.ModelAdmin):
    list_display = ["name", "tenant", "kind", "status", "last_seen_at"]
    list_filter = ["kind", "status"]
    readonly_fields = ["key_prefix", "key_digest", "last_seen_at"]
