"""/api/v1/incidents/{id}/report/: an incident's post-incident report (reports.incident_reports),
nested on the incident as its tasks are (cases.api.views). Thin adapters over reports.actions.

MSSP staff who work the customer read it in every state, draft it (POST) and edit the draft
(PATCH); leads, managers and MSSP admins approve, share and reopen it. The customer reads it
(and its PDF) once shared: before that, and always for another tenant, it is a 404."""

from __future__ import annotations

from django.http import Http404, HttpResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import renderers, serializers
from rest_framework.decorators import action
from rest_framework.response import Response

from alerts.models import Incident
from tenants.api.actions import api_perform
from tenants.api.base import TenantScopedViewSet

from .. import actions, policy
from ..incident_render import render_incident_pdf
from ..incident_reports import marking
from ..models import IncidentReport
from .serializers import IncidentReportWriteSerializer
from .views import PdfRenderer


class IncidentReportSerializer(serializers.ModelSerializer):
    incident = serializers.UUIDField(source="incident_id", read_only=True)
    drafted_by = serializers.CharField(
        source="drafted_by.username", read_only=True, default=None, allow_null=True
    )
    edited_by = serializers.CharField(
        source="edited_by.username", read_only=True, default=None, allow_null=True
    )
    approved_by = serializers.CharField(
        source="approved_by.username", read_only=True, default=None, allow_null=True
    )
    shared_by = serializers.CharField(
        source="shared_by.username", read_only=True, default=None, allow_null=True
    )
    facts = serializers.JSONField(
        read_only=True,
        help_text="The incident as its customer sees it, taken when drafted or refreshed: "
        "title, customer, severity, category, origin, times, the shared timeline, "
        "containment, shared tasks done, observables, shared evidence (name, SHA-256) and "
        "the SLA figures. Internal material is never in it.",
    )
    pdf = serializers.SerializerMethodField(help_text="The API path of the report's PDF.")

    class Meta:
        model = IncidentReport
        fields = [
            "id",
            "incident",
            "status",
            "summary",
            "root_cause",
            "lessons_learned",
            "recommendations",
            "facts",
            "facts_at",
            "drafted_by",
            "drafted_at",
            "edited_by",
            "edited_at",
            "approved_by",
            "approved_at",
            "shared_by",
            "shared_at",
            "pdf",
        ]
        read_only_fields = fields

    def get_pdf(self, report: IncidentReport) -> str:
        return reverse("incident-report-report-pdf", kwargs={"pk": report.incident_id})


NOT_FOUND = OpenApiResponse(
    description="No such incident among the caller's, no report yet, or (for a customer) "
    "the report is not shared."
)
STATE = OpenApiResponse(description="Not allowed in the report's state (or four eyes).")


class IncidentReportViewSet(TenantScopedViewSet):
    scoped_model = Incident
    serializer_class = IncidentReportSerializer

    def scope_queryset(self, queryset):
        return queryset.select_related("tenant")

    def _report(self, incident: Incident) -> IncidentReport:
        report = (
            IncidentReport.objects.for_tenant(incident.tenant_id)
            .filter(incident=incident)
            .select_related("tenant", "incident", "drafted_by", "edited_by")
            .select_related("approved_by", "shared_by")
            .first()
        )
        if report is None or not policy.may_read_incident_report(
            self.access, report.tenant_id, report.status, marking(report, incident)
        ):
            raise Http404("No post-incident report here.")
        report.incident.tenant = incident.tenant
        return report

    def _answer(self, report: IncidentReport, status: int = 200) -> Response:
        return Response(IncidentReportSerializer(self._report(report.incident)).data, status=status)

    @extend_schema(methods=["GET"], responses={200: IncidentReportSerializer, 404: NOT_FOUND})
    @extend_schema(
        methods=["POST"],
        request=IncidentReportWriteSerializer,
        responses={201: IncidentReportSerializer, 409: STATE},
        description="Draft the report (MSSP staff who work the customer): its facts are "
        "taken from the incident now. One report per incident.",
    )
    @extend_schema(
        methods=["PATCH"],
        request=IncidentReportWriteSerializer,
        responses={200: IncidentReportSerializer, 400: STATE, 404: NOT_FOUND},
        description="Edit the draft's sections, and `refresh_facts` to take the facts again.",
    )
    @action(detail=True, methods=["get", "post", "patch"], url_path="report")
    def report(self, request, pk=None):
        incident = self.get_object()
        if request.method == "POST":
            report = api_perform(self, actions.DRAFT_INCIDENT_REPORT, incident)
            return self._answer(report, status=201)
        report = self._report(incident)
        if request.method == "PATCH":
            report = api_perform(self, actions.EDIT_INCIDENT_REPORT, report)
        return self._answer(report)

    def _step(self, which: actions.Action) -> Response:
        report = api_perform(self, which, self._report(self.get_object()))
        return self._answer(report)

    @extend_schema(request=None, responses={200: IncidentReportSerializer, 400: STATE})
    @action(detail=True, methods=["post"], url_path="report/approve")
    def report_approve(self, request, pk=None):
        """Approve the draft: a lead, manager or MSSP admin who did not last change it."""
        return self._step(actions.APPROVE_INCIDENT_REPORT)

    @extend_schema(request=None, responses={200: IncidentReportSerializer, 400: STATE})
    @action(detail=True, methods=["post"], url_path="report/share")
    def report_share(self, request, pk=None):
        """Share the approved report with the customer (leads, managers, MSSP admins)."""
        return self._step(actions.SHARE_INCIDENT_REPORT)

    @extend_schema(request=None, responses={200: IncidentReportSerializer, 400: STATE})
    @action(detail=True, methods=["post"], url_path="report/reopen")
    def report_reopen(self, request, pk=None):
        """Back to a draft (leads, managers, MSSP admins); a shared report is withdrawn."""
        return self._step(actions.REOPEN_INCIDENT_REPORT)

    @extend_schema(responses={(200, "application/pdf"): OpenApiTypes.BINARY, 404: NOT_FOUND})
    @action(
        detail=True,
        methods=["get"],
        url_path="report/pdf",
        renderer_classes=[renderers.JSONRenderer, PdfRenderer],
    )
    def report_pdf(self, request, pk=None):
        report = self._report(self.get_object())
        return pdf_response(report)


def pdf_response(report: IncidentReport) -> HttpResponse:
    """The PDF as a download, never shown inline (the page's link and the API alike)."""
    filename = f"post-incident-report-{report.tenant.slug}-{str(report.incident_id)[-8:]}.pdf"
    return HttpResponse(
        render_incident_pdf(report),
        content_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
