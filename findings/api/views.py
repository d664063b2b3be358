"""/api/v1/findings/ (+ accept-risk, mark-remediated, verify, start-remediation,
false-positive, reopen, timeline), /api/v1/findings/engagements/ and /api/v1/findings/imports/
(multipart upload of a scanner file, imported in the background)."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from tenants.actions import Refused
from tenants.api.actions import api_perform
from tenants.api.base import TenantScopedViewSet
from tenants.api.errors import PayloadTooLarge
from tenants.api.pagination import KeysetPagination
from tenants.api.parsers import SafeJSONParser
from tenants.permissions import ADMIN_TO_CHANGE

from .. import actions, imports
from ..models import Engagement, Finding, FindingEvent, RemediationPolicy, ScanImport
from ..policy import check_engagement_writer
from .filters import FindingFilter
from .serializers import (
    AcceptRiskSerializer,
    EngagementCreateSerializer,
    EngagementSerializer,
    FindingDetailSerializer,
    FindingEventSerializer,
    FindingSerializer,
    NoteSerializer,
    ReasonSerializer,
    RemediationPolicySerializer,
    ScanImportCreateSerializer,
    ScanImportSerializer,
)


class FindingViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    """Findings of the tenants the caller may see, most severe first, with the remediation
    workflow. Customers' responders and admins accept risk and mark remediated (a claim: the
    finding stays open on its clock, awaiting verification); MSSP staff also verify or reject
    such a claim, mark false positives and reopen."""

    scoped_model = Finding
    serializer_class = FindingSerializer
    filterset_class = FindingFilter
    pagination_class = KeysetPagination
    keyset_ordering = ("-severity_rank", "id")
    count_cap = None

    def scope_queryset(self, queryset):
        return queryset.select_related("tenant", "asset", "clock")

    def get_serializer_class(self):
        return FindingSerializer if self.action == "list" else FindingDetailSerializer

    def _perform(self, name: str) -> Response:
        """Run a workflow action (findings.actions, the page's too) on this finding; answer
        with the finding as it is now."""
        finding = api_perform(self, actions.FINDING_ACTIONS[name], self.get_object())
        finding = self.get_queryset().get(pk=finding.pk)
        return Response(FindingDetailSerializer(finding).data)

    @extend_schema(request=AcceptRiskSerializer, responses=FindingDetailSerializer)
    @action(detail=True, methods=["post"], url_path="accept-risk")
    def accept_risk(self, request, pk=None):
        """Accept the risk until a date (the end of that day in the tenant's time zone), with a
        reason; the finding reopens when the date has passed."""
        return self._perform("accept-risk")

    @extend_schema(request=NoteSerializer, responses=FindingDetailSerializer)
    @action(detail=True, methods=["post"], url_path="mark-remediated")
    def mark_remediated(self, request, pk=None):
        """Remediated: by MSSP staff, remediated and verified at once (the remediation clock is
        met); by a customer, a claim awaiting MSSP verification (the finding stays open and
        its clock runs until MSSP staff verify it, or an MSSP scan no longer finds it)."""
        return self._perform("mark-remediated")

    @extend_schema(request=None, responses=FindingDetailSerializer)
    @action(detail=True, methods=["post"], url_path="start-remediation")
    def start_remediation(self, request, pk=None):
        return self._perform("start-remediation")

    @extend_schema(request=None, responses=FindingDetailSerializer)
    @action(detail=True, methods=["post"])
    def verify(self, request, pk=None):
        """MSSP staff confirm a customer's remediation: the finding is remediated and its
        clock met now."""
        return self._perform("verify")

    @extend_schema(request=ReasonSerializer, responses=FindingDetailSerializer)
    @action(detail=True, methods=["post"], url_path="reject-remediation")
    def reject_remediation(self, request, pk=None):
        """MSSP staff do not confirm a customer's remediation (a reason is required): the
        claim is withdrawn and the finding stays open on its clock."""
        return self._perform("reject-remediation")

    @extend_schema(request=ReasonSerializer, responses=FindingDetailSerializer)
    @action(detail=True, methods=["post"], url_path="false-positive")
    def false_positive(self, request, pk=None):
        return self._perform("false-positive")

    @extend_schema(request=ReasonSerializer, responses=FindingDetailSerializer)
    @action(detail=True, methods=["post"])
    def reopen(self, request, pk=None):
        return self._perform("reopen")

    @extend_schema(request=None, responses=FindingEventSerializer(many=True))
    @action(detail=True, methods=["get"], pagination_class=None)  # a plain list
    def timeline(self, request, pk=None):
        finding = self.get_object()
        entries = (
            FindingEvent.objects.for_tenant(finding.tenant_id)
            .filter(finding=finding)
            .order_by("at", "id")[:2000]
        )
        return Response(FindingEventSerializer(entries, many=True).data)


class EngagementViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    TenantScopedViewSet,
):
    """Assessments and penetration tests: read by everyone of the tenant, written by MSSP
    staff and the customer's admins."""

    scoped_model = Engagement
    serializer_class = EngagementSerializer
    cursor_ordering = "-created_at"
    filterset_fields = ["kind"]
    http_method_names = ["get", "post", "patch", "head", "options"]

    def scope_queryset(self, queryset):
        return queryset.select_related("tenant")

    def _check_writer(self) -> None:
        try:
            check_engagement_writer(self.access)
        except Refused as exc:
            raise PermissionDenied(exc.detail) from None

    @extend_schema(request=EngagementCreateSerializer, responses={201: EngagementSerializer})
    def create(self, request):
        engagement = api_perform(self, actions.CREATE_ENGAGEMENT, None)
        return Response(EngagementSerializer(engagement).data, status=status.HTTP_201_CREATED)

    def update(self, request, *args, **kwargs):
        self._check_writer()
        return super().update(request, *args, **kwargs)

    def perform_update(self, serializer) -> None:
        try:
            with transaction.atomic():
                serializer.save()
        except IntegrityError:
            raise ValidationError(
                {"name": "This tenant already has an engagement of that name."}
            ) from None


class ScanImportViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    """Scanner imports: upload a file (multipart `file`, optional `kind`, `tenant`,
    `engagement`). The request checks what needs only the file's size and beginning (too
    large: 413; not the format, or XML declaring entities or external references: 400),
    stores it and answers 202 with the import at once; a worker reads the whole file and
    imports it, or fails the import with why (malformed, more than 2,000,000 XML elements,
    nested too deep, not UTF-8). Poll the import for its progress, counts and per-record
    errors. An MSSP's import remediates and verifies what it no longer finds
    (`closed_count`); a customer's proposes it (`proposed_count`: awaiting MSSP
    verification)."""

    scoped_model = ScanImport
    serializer_class = ScanImportSerializer
    cursor_ordering = "-created_at"
    filterset_fields = ["status", "kind"]
    parser_classes = [MultiPartParser, FormParser, SafeJSONParser]

    def scope_queryset(self, queryset):
        return queryset.defer("content").select_related("tenant", "requested_by")

    @extend_schema(request=ScanImportCreateSerializer, responses={202: ScanImportSerializer})
    def create(self, request):
        # Refuse what is too large before reading it (multipart parsing spools it to disk).
        length = imports.declared_length(request)
        if length > imports.max_upload_bytes() + 1024 * 1024:
            raise PayloadTooLarge(
                f"The upload is {length:,} bytes; imports take files of at most "
                f"{imports.max_upload_bytes():,} bytes."
            )
        if not hasattr(request.data, "get"):
            raise ValidationError({"file": "Upload the file as multipart/form-data."})
        size = getattr(request.data.get("file"), "size", 0) or 0
        if size > imports.max_upload_bytes():
            raise PayloadTooLarge(
                f"The file is {size:,} bytes; imports take at most {imports.max_upload_bytes():,}."
            )
        scan = api_perform(self, actions.IMPORT_SCAN, None, context={"view": self})
        scan = self.get_queryset().get(pk=scan.pk)
        return Response(ScanImportSerializer(scan).data, status=status.HTTP_202_ACCEPTED)


class RemediationPolicyViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    TenantScopedViewSet,
):
    """A tenant's own remediation targets in days per severity, overriding the defaults
    (critical 7, high 30, medium 90, low 120, info none). Everyone reads their tenants'; MSSP
    admins write. A new target applies to findings that reach the portal afterwards and to
    findings the scanner re-rates; running clocks keep the target they started with, as SLA
    clocks do. Deleting an override returns the tenant to the default."""

    scoped_model = RemediationPolicy
    serializer_class = RemediationPolicySerializer
    cursor_ordering = "id"
    filterset_fields = ["severity"]
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    required_scope = ADMIN_TO_CHANGE

    def scope_queryset(self, queryset):
        return queryset.select_related("tenant")

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if request.method not in ("GET", "HEAD", "OPTIONS") and not self.access.is_mssp_admin:
            raise PermissionDenied("Only MSSP admins change remediation targets.")

    def _save(self, serializer, action: str) -> None:
        tenant = serializer.validated_data.get("tenant") or serializer.instance.tenant
        if tenant.pk not in self.access.tenant_ids:
            raise ValidationError({"tenant": "No such tenant."})
        if serializer.instance is not None and tenant.pk != serializer.instance.tenant_id:
            raise ValidationError({"tenant": "A target stays with its tenant."})
        try:
            with transaction.atomic():
                policy = serializer.save()
        except IntegrityError:
            raise ValidationError(
                {"severity": "This tenant already has a target for that severity."}
            ) from None
        from tenants import audit

        audit.record(
            f"remediation_policy.{action}",
            tenant=policy.tenant_id,
            obj=policy,
            request=self.request._request,
            summary=f"remediation target {policy.severity}: {policy.days} days",
        )

    def perform_create(self, serializer):
        self._save(serializer, "created")

    def perform_update(self, serializer):
        self._save(serializer, "updated")

    def perform_destroy(self, instance):
        from tenants import audit

        audit.record(
            "remediation_policy.deleted",
            tenant=instance.tenant_id,
            obj=instance,
            request=self.request._request,
            summary=f"remediation target {instance.severity} back to the default",
        )
        instance.delete()
