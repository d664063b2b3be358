"""/api/v1/reports/: the caller's tenants' reports. Request one (POST; generated in the
background), read its status, progress and figures, download it as PDF (`{id}/pdf/`) or CSV
(`{id}/csv/`) once it is done."""

from __future__ import annotations

import json

import django_filters
from django.http import HttpResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    inline_serializer,
)
from rest_framework import mixins, renderers, serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from tenants.api.actions import api_perform
from tenants.api.base import TenantScopedViewSet
from tenants.api.errors import Conflict
from tenants.api.filters import UTCDateTimeFilter

from .. import actions, policy
from ..models import Report
from .serializers import ReportRequestSerializer

# The columns each action does not need: a list never loads the stored files.
DEFERRED = {
    "list": ("figures", "pdf", "csv"),
    "create": ("figures", "pdf", "csv"),
    "retrieve": ("pdf", "csv"),
    "pdf": ("figures", "csv"),
    "csv": ("figures", "pdf"),
}


class ReportSerializer(serializers.ModelSerializer):
    tenant = serializers.CharField(source="tenant.slug", read_only=True)
    requested_by = serializers.CharField(
        source="requested_by.username", read_only=True, default=None, allow_null=True
    )
    period_label = serializers.SerializerMethodField(
        help_text="The period in the tenant's time zone, e.g. '1 Nov 2026 – 30 Nov 2026'."
    )
    downloads = serializers.SerializerMethodField(
        help_text="API paths of the PDF and the CSV, once the report is done."
    )

    class Meta:
        model = Report
        fields = [
            "id",
            "tenant",
            "kind",
            "status",
            "progress",
            "step",
            "period_label",
            "requested_by",
            "email_contacts",
            "created_at",
            "started_at",
            "finished_at",
            "error",
            "pdf_size",
            "csv_size",
            "emailed_at",
            "downloads",
        ]
        read_only_fields = fields

    def get_fields(self):
        fields = super().get_fields()
        # "from" is a Python keyword, so the period's fields are added here, named as
        # /api/v1/sla/summary/'s parameters are.
        fields["from"] = serializers.DateTimeField(source="period_start", read_only=True)
        fields["to"] = serializers.DateTimeField(
            source="period_end", read_only=True, help_text="Exclusive: [from, to)."
        )
        return fields

    def get_period_label(self, report: Report) -> str:
        return report.period_label

    @extend_schema_field(
        inline_serializer(
            "ReportDownloads",
            {"pdf": serializers.CharField(), "csv": serializers.CharField()},
            allow_null=True,
        )
    )
    def get_downloads(self, report: Report):
        if report.status != Report.Status.DONE:
            return None
        return {
            "pdf": reverse("report-pdf", kwargs={"pk": report.pk}),
            "csv": reverse("report-csv", kwargs={"pk": report.pk}),
        }


class ReportDetailSerializer(ReportSerializer):
    figures = serializers.JSONField(
        read_only=True,
        help_text="Every figure of the report (empty until it is done): the same numbers as "
        "its page, PDF and CSV; figures.sla.summary is /api/v1/sla/summary/'s answer for the "
        "tenant and period.",
    )

    class Meta(ReportSerializer.Meta):
        fields = [*ReportSerializer.Meta.fields, "figures"]
        read_only_fields = fields


class ReportFilter(django_filters.FilterSet):
    tenant = django_filters.CharFilter(field_name="tenant__slug", max_length=63)
    status = django_filters.ChoiceFilter(choices=Report.Status.choices)
    kind = django_filters.ChoiceFilter(choices=Report.Kind.choices)
    since = UTCDateTimeFilter(
        field_name="period_start", lookup_expr="gte", help_text="Periods starting at or after."
    )
    until = UTCDateTimeFilter(
        field_name="period_end", lookup_expr="lte", help_text="Periods ending at or before."
    )

    class Meta:
        model = Report
        fields: list[str] = []


class DownloadRenderer(renderers.BaseRenderer):
    """Lets a client ask for the file's own type (Accept: application/pdf, text/csv); an error
    in answer to such a request is still the contract's JSON."""

    format = None
    charset = None

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if isinstance(data, bytes | bytearray | memoryview):
            return bytes(data)
        response = (renderer_context or {}).get("response")
        if response is not None:
            response["Content-Type"] = "application/json"
        return json.dumps(data).encode()


class PdfRenderer(DownloadRenderer):
    media_type = "application/pdf"
    format = "pdf"


class CsvRenderer(DownloadRenderer):
    media_type = "text/csv"
    format = "csv"


class ReportNotReady(Conflict):
    error_code = "not_ready"


FILE_RESPONSES = {
    404: OpenApiResponse(description="No such report among the caller's tenants."),
    409: OpenApiResponse(description="The report is not done (queued, running or failed)."),
}


@extend_schema(
    summary="Reports of the caller's tenants",
    description="Reports are generated in the background: POST answers 202 with the queued "
    "report; poll it (status, progress, step) until it is done, then read its figures or "
    "download its PDF and CSV. Scheduled reports (monthly by default) appear here too.",
)
class ReportViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, TenantScopedViewSet
):
    scoped_model = Report
    serializer_class = ReportSerializer
    filterset_class = ReportFilter
    cursor_ordering = "-id"  # time-ordered UUIDv7: newest first

    def scope_queryset(self, queryset):
        return queryset.select_related("tenant", "requested_by").defer(
            *DEFERRED.get(self.action, ())
        )

    @property
    def required_scope(self) -> str | None:
        # Requesting a report reads (reports.policy): viewers' read-only tokens request them.
        return policy.REQUEST_SCOPE if getattr(self, "action", None) == "create" else None

    def get_serializer_class(self):
        if self.action == "retrieve":
            return ReportDetailSerializer
        if self.action == "create":
            return ReportRequestSerializer
        return ReportSerializer

    @extend_schema(
        request=ReportRequestSerializer,
        responses={
            202: ReportSerializer,
            400: OpenApiResponse(description="A bad period or tenant; `detail` says which."),
            409: OpenApiResponse(description="Three reports of the tenant are being generated."),
        },
    )
    def create(self, request, *args, **kwargs):
        report = api_perform(self, actions.REPORT_REQUEST, None)
        report = self.get_queryset().get(pk=report.pk)
        location = reverse("report-detail", kwargs={"pk": report.pk})
        return Response(
            ReportSerializer(report).data,
            status=status.HTTP_202_ACCEPTED,
            headers={"Location": location},
        )

    def _file(self, kind: str, content_type: str) -> HttpResponse:
        report = self.get_object()
        if report.status == Report.Status.FAILED:
            raise ReportNotReady(f"This report failed: {report.error}")
        if report.status != Report.Status.DONE:
            raise ReportNotReady(
                f"The report is still being generated ({report.progress} %, "
                f"{report.step or report.get_status_display()}); download it when its "
                "status is done."
            )
        filename = (
            f"security-report-{report.tenant.slug}-{report.period_start:%Y-%m-%d}-"
            f"{str(report.pk)[-8:]}.{kind}"
        )
        return HttpResponse(
            bytes(getattr(report, kind)),
            content_type=content_type,
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )

    @extend_schema(
        responses={(200, "application/pdf"): OpenApiTypes.BINARY, **FILE_RESPONSES},
    )
    @action(detail=True, methods=["get"], renderer_classes=[renderers.JSONRenderer, PdfRenderer])
    def pdf(self, request, pk=None):
        return self._file("pdf", "application/pdf")

    @extend_schema(
        responses={(200, "text/csv"): OpenApiTypes.BINARY, **FILE_RESPONSES},
    )
    @action(detail=True, methods=["get"], renderer_classes=[renderers.JSONRenderer, CsvRenderer])
    def csv(self, request, pk=None):
        return self._file("csv", "text/csv; charset=utf-8")
