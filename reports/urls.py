"""The reports pages (included from mssp/urls.py)."""

from django.urls import path, re_path

from . import views

urlpatterns = [
    path("reports/", views.report_list, name="reports"),
    path("reports/<uuid:pk>/", views.report_detail, name="report"),
    path("reports/<uuid:pk>/progress/", views.report_progress, name="report-progress"),
    re_path(
        r"^reports/(?P<pk>[0-9a-f-]{36})/download/(?P<fmt>pdf|csv)/$",
        views.report_download,
        name="report-download",
    ),
]
