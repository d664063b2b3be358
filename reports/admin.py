from django.contrib import admin

from tenants.admin import AllTenantsAdmin

from .models import Report, ReportSchedule


@admin.register(ReportSchedule)
class ReportScheduleAdmin(AllTenantsAdmin, admin.ModelAdmin):
    """Each tenant's report frequency (a tenant without a row gets monthly reports)."""

    list_display = ["tenant", "frequency", "email_contacts", "updated_at"]
    list_filter = ["frequency"]


@admin.register(Report)
class ReportAdmin(AllTenantsAdmin, admin.ModelAdmin):
    list_display = ["tenant", "period_start", "period_end", "kind", "status", "created_at"]
    list_filter = ["status", "kind"]
    # The figures and files are the generator's; the admin only reads them.
    exclude = ["pdf", "csv"]
    readonly_fields = [f.name for f in Report._meta.fields if f.name not in ("pdf", "csv")]

    def get_queryset(self, request):
        return super().get_queryset(request).defer("pdf", "csv", "figures")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
