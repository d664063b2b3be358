"""The reports pages (included from mssp/urls.py)."""

from django.urls import path, register_converter

from . import views


class ReportFormat:
    regex = "pdf|csv"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(ReportFormat, "report_format")

urlpatterns = [
    path("reports/", views.report_list, name="reports"),
    path("reports/<uuid:pk>/", views.report_detail, name="report"),
    path("reports/<uuid:pk>/progress/", views.report_progress, name="report-progress"),
    path(
        "reports/<uuid:pk>/download/<report_format:fmt>/",
        views.report_download,
        name="report-download",
    ),
]

urlpatterns += [
    # an incident's post-incident report (reports.incident_reports)
    path("incidents/<uuid:pk>/report/", views.incident_report, name="incident-report"),
    path("incidents/<uuid:pk>/report.pdf", views.incident_report_pdf, name="incident-report-pdf"),
    path(
        "incidents/<uuid:pk>/report/<slug:step>/",
        views.incident_report_step,
        name="incident-report-step",
    ),
]
