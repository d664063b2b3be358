"""/api/v1/intel/: indicators, imports, retro-hunts, matches and (MSSP staff) sightings.

Rules (intel.policy; each write is an intel.actions Action, shared with the pages): MSSP
staff read global indicators and those of their tenants; admins, managers, leads and L2/L3
analysts change global ones and those of the tenants they work; customer admins manage their
own tenant's. Customers never see global indicators, only the matches on their own alerts
(never those of TLP:RED global indicators), and never sightings.
"""

from __future__ import annotations

import django_filters
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Count, Q
from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.parsers import BaseParser, MultiPartParser
from rest_framework.response import Response

from alerts.api.serializers import IncidentSerializer
from alerts.models import Incident, Severity
from tenants.actions import Refused
from tenants.api.actions import api_perform
from tenants.api.base import ScopedGenericAPIView, TenantScopedViewSet
from tenants.api.errors import PayloadTooLarge
from tenants.api.parsers import SafeJSONParser

from .. import actions, selectors
from ..models import Indicator, IndicatorImport, IndicatorMatch, IndicatorType, RetroHunt, Tlp
from .serializers import (
    ImportSerializer,
    ImportUploadSerializer,
    IndicatorCreatedSerializer,
    IndicatorCreateSerializer,
    IndicatorSerializer,
    IndicatorUpdateSerializer,
    MatchSerializer,
    RetroHuntSerializer,
    SightingSerializer,
)


class IntelViewMixin:
    """Staff see global rows beside their tenants'; the management endpoints are for MSSP
    staff and customer admins."""

    include_mssp_rows = True

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        try:
            actions.check_uses_intel(self.access)
        except Refused as exc:
            raise PermissionDenied(exc.detail) from None

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "access": self.access}


class ScopeFilter(django_filters.FilterSet):
    tenant = django_filters.CharFilter(field_name="tenant__slug", max_length=63)
    scope = django_filters.ChoiceFilter(
        choices=[("global", "global"), ("tenant", "tenant")], method="by_scope"
    )

    def by_scope(self, queryset, name, value):
        return queryset.filter(tenant__isnull=value == "global")


class IndicatorFilter(ScopeFilter):
    type = django_filters.ChoiceFilter(choices=IndicatorType.choices)
    status = django_filters.ChoiceFilter(choices=Indicator.Status.choices)
    tlp = django_filters.ChoiceFilter(choices=Tlp.choices)
    severity = django_filters.ChoiceFilter(choices=Severity.choices)
    q = django_filters.CharFilter(
        method="text", max_length=200, help_text="Text in the value, source or description."
    )

    class Meta:
        model = Indicator
        fields: list[str] = []

    def text(self, queryset, name, value):
        return queryset.filter(
            Q(value__icontains=value) | Q(source__icontains=value) | Q(description__icontains=value)
        )


class IndicatorViewSet(
    IntelViewMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    TenantScopedViewSet,
):
    """Indicators. Creating one starts a retro-hunt over the last INTEL_RETRO_HUNT_DAYS of
    alerts of the tenants it applies to (`retro_hunt` in the answer). PATCH changes TLP,
    confidence, severity, source, description, validity, or revokes it (`status: revoked`)."""

    scoped_model = Indicator
    serializer_class = IndicatorSerializer
    filterset_class = IndicatorFilter
    cursor_ordering = "-id"
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def scope_queryset(self, queryset):
        return queryset.select_related("tenant", "created_by")

    @extend_schema(request=IndicatorCreateSerializer, responses={201: IndicatorCreatedSerializer})
    def create(self, request):
        saved = api_perform(self, actions.INDICATOR_CREATE, None)
        body = IndicatorCreatedSerializer(
            saved.indicator, context={"access": self.access, "retro_hunt": saved.retro_hunt}
        ).data
        return Response(
            body, status=status.HTTP_201_CREATED if saved.created else status.HTTP_200_OK
        )

    @extend_schema(request=IndicatorUpdateSerializer, responses=IndicatorSerializer)
    def partial_update(self, request, pk=None):
        indicator = api_perform(self, actions.INDICATOR_UPDATE, self.get_object())
        return Response(IndicatorSerializer(indicator, context=self.get_serializer_context()).data)

    def perform_destroy(self, instance):
        api_perform(self, actions.INDICATOR_DELETE, instance)


class RawTextParser(BaseParser):
    """An indicator list sent as the raw body (text/plain, text/csv, STIX JSON)."""

    media_type = "*/*"

    def parse(self, stream, media_type=None, parser_context=None):
        return {}


class ImportFilter(ScopeFilter):
    status = django_filters.ChoiceFilter(choices=IndicatorImport.Status.choices)
    format = django_filters.ChoiceFilter(choices=IndicatorImport.Format.choices)

    class Meta:
        model = IndicatorImport
        fields: list[str] = []


class ImportViewSet(
    IntelViewMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    TenantScopedViewSet,
):
    """Indicator list uploads, parsed in the background: poll `status`, `progress` and the
    per-record `errors` ([{"index", "error"}]; the index is the STIX object's position or the
    line number). Upload as multipart (`file` plus the options as fields) or as the raw body
    with the options as query parameters (`?kind=csv&tlp=amber`). Larger than
    INTEL_IMPORT_MAX_BYTES: 413; unreadable (not a bundle, not UTF-8, NUL bytes, no CSV
    `value` column) or more than INTEL_IMPORT_MAX_RECORDS records: 400."""

    scoped_model = IndicatorImport
    serializer_class = ImportSerializer
    filterset_class = ImportFilter
    cursor_ordering = "-id"
    parser_classes = [MultiPartParser, SafeJSONParser, RawTextParser]

    def scope_queryset(self, queryset):
        return queryset.select_related("tenant", "created_by").defer("content")

    @extend_schema(
        request={
            "multipart/form-data": ImportUploadSerializer,
            "text/plain": OpenApiTypes.STR,
            "text/csv": OpenApiTypes.STR,
            "application/json": OpenApiTypes.OBJECT,
        },
        parameters=[
            OpenApiParameter("kind", str, enum=IndicatorImport.Format.values),
            OpenApiParameter("tenant", str),
            OpenApiParameter("tlp", str, enum=Tlp.values),
            OpenApiParameter("confidence", int),
            OpenApiParameter("severity", str, enum=Severity.values),
            OpenApiParameter("source", str),
        ],
        responses={202: ImportSerializer},
    )
    def create(self, request):
        try:
            upload, options = self._upload(request)
        except actions.ImportTooLarge as exc:
            raise PayloadTooLarge(exc.detail) from None
        options.pop("page_size", None)
        record = api_perform(self, actions.IMPORT_CREATE, upload, data=options)
        return Response(
            ImportSerializer(record, context=self.get_serializer_context()).data,
            status=status.HTTP_202_ACCEPTED,
        )

    @staticmethod
    def _upload(request) -> tuple[actions.Upload, dict]:
        """The list and the options: a multipart file and its fields, or the raw body and
        the query parameters. Too large a list is refused before it is read."""
        actions.refuse_declared_too_large(request.META.get("CONTENT_LENGTH"))
        content_type = request.content_type or ""
        if content_type.startswith("multipart/form-data"):
            options = request.data.dict() if hasattr(request.data, "dict") else {}
            upload = request.data.get("file")
            if upload is None or not hasattr(upload, "read"):
                raise ValidationError({"file": "Attach the list as 'file' (a file, not a field)."})
            actions.refuse_too_large(upload.size)
            options.pop("file", None)
            return actions.Upload(upload.read(), upload.name or ""), options
        raw = request.body
        actions.refuse_too_large(len(raw))
        return actions.Upload(raw), request.query_params.dict()


class RetroHuntFilter(django_filters.FilterSet):
    """By id: filtering through the indicator or import themselves would query their tables
    without a tenant scope."""

    status = django_filters.ChoiceFilter(choices=RetroHunt.Status.choices)
    indicator = django_filters.UUIDFilter(field_name="indicator_id")
    indicator_import = django_filters.UUIDFilter(field_name="indicator_import_id")

    class Meta:
        model = RetroHunt
        fields: list[str] = []


class RetroHuntViewSet(
    IntelViewMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet
):
    """Retro-hunts started by new indicators and imports: progress, and how many hits on the
    alerts of tenants you may see (list them with /api/v1/intel/matches/?retro_hunt=<id>)."""

    scoped_model = RetroHunt
    serializer_class = RetroHuntSerializer
    cursor_ordering = "-id"
    filterset_class = RetroHuntFilter

    def scope_queryset(self, queryset):
        return queryset.select_related("tenant")

    def get_serializer_context(self):
        context = super().get_serializer_context()
        if self.action == "list":
            page_ids = getattr(self, "_page_ids", None)
            if page_ids is not None:
                context["hit_counts"] = dict(
                    selectors.get_matches(self.access)
                    .filter(retro_hunt_id__in=page_ids)
                    .values("retro_hunt_id")
                    .annotate(n=Count("id"))
                    .values_list("retro_hunt_id", "n")
                )
        return context

    def paginate_queryset(self, queryset):
        page = super().paginate_queryset(queryset)
        self._page_ids = [hunt.pk for hunt in page] if page is not None else None
        return page


class MatchFilter(django_filters.FilterSet):
    tenant = django_filters.CharFilter(field_name="tenant__slug", max_length=63)
    alert = django_filters.UUIDFilter(field_name="alert_id")
    incident = django_filters.UUIDFilter(field_name="incident_id")
    retro_hunt = django_filters.UUIDFilter(field_name="retro_hunt_id")
    indicator = django_filters.UUIDFilter(field_name="indicator_id")
    origin = django_filters.ChoiceFilter(choices=IndicatorMatch.Origin.choices)

    class Meta:
        model = IndicatorMatch
        fields: list[str] = []


class MatchViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    """Matches of indicators on the alerts of your tenants (everyone who sees the alerts;
    customers never see those of TLP:RED global indicators). MSSP staff may raise a match's
    incident to the match's severity by hand (`raise/`), which restricted matches never do
    by themselves."""

    scoped_model = IndicatorMatch
    serializer_class = MatchSerializer
    filterset_class = MatchFilter
    cursor_ordering = "-id"

    def scope_queryset(self, queryset):
        if not self.access.is_mssp_staff:
            queryset = queryset.filter(customer_visible=True)
            if self.request.query_params.get("indicator"):
                queryset = queryset.filter(indicator_global=False)
        return queryset.select_related("tenant")

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "access": self.access}

    @extend_schema(request=None, responses=IncidentSerializer)
    @action(detail=True, methods=["post"], url_path="raise")
    def raise_severity(self, request, pk=None):
        """MSSP staff: raise the match's open incident to the match's severity. The customer
        sees an analyst's severity change, never the match. 409 when the incident is closed,
        has none, or already is that severe."""
        try:  # a customer is refused whether or not they see the match
            actions.MATCH_RAISE.check(self.access, None)
        except Refused as exc:
            raise PermissionDenied(exc.detail) from None
        incident = api_perform(self, actions.MATCH_RAISE, self.get_object())
        incident = (
            Incident.objects.for_tenant(incident.tenant_id)
            .select_related("tenant", "owner", "owner_team", "source")
            .get(pk=incident.pk)
        )
        return Response(IncidentSerializer(incident).data)


class SightingsView(ScopedGenericAPIView):
    """MSSP staff only: for each observable of an incident, the other tenants you work that
    saw it in the last INTEL_SIGHTING_DAYS days, with links to their incidents or alerts."""

    filter_backends: list = []
    pagination_class = None

    @extend_schema(
        parameters=[OpenApiParameter("incident", OpenApiTypes.UUID, required=True)],
        responses=SightingSerializer(many=True),
    )
    def get(self, request):
        if not self.access.is_mssp_staff:
            raise PermissionDenied("Sightings across customers are for MSSP staff.")
        incident_id = request.query_params.get("incident", "")
        if not incident_id:
            raise ValidationError({"incident": "Name the incident: ?incident=<id>."})
        try:
            incident = Incident.objects.for_tenants(self.access.tenant_ids).get(pk=incident_id)
        except (Incident.DoesNotExist, ValueError, TypeError, DjangoValidationError):
            raise Http404 from None  # another tenant's incident is as absent as a missing one
        return Response(
            SightingSerializer(selectors.get_sightings(self.access, incident), many=True).data
        )
