"""/api/v1/incidents/{id}/observables/ (list, add), .../observables/{oid}/ (PATCH, DELETE) and
/api/v1/incidents/{id}/similar/: thin adapters over alerts.actions and alerts.selectors.

A customer sees the shared observables only, counts only those in sightings and similar
incidents, and never gets `other_tenants` (not even empty): what other customers saw is for
MSSP staff."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from tenants.access import Access
from tenants.api.actions import api_perform
from tenants.api.base import TenantScopedViewSet

from .. import actions, policy, selectors, tlp
from ..models import Incident, IncidentObservable, Pap
from .serializers import ObservableWriteSerializer


class SightingsSerializer(serializers.Serializer):
    incidents = serializers.IntegerField(help_text="This customer's incidents carrying it.")
    alerts = serializers.IntegerField(help_text="Their alerts carrying it.")
    first_seen = serializers.DateTimeField()
    last_seen = serializers.DateTimeField()


class SeenAtSerializer(serializers.Serializer):
    tenant = serializers.CharField()
    incidents = serializers.IntegerField()
    last_seen = serializers.DateTimeField()


class ElsewhereSerializer(serializers.Serializer):
    tenants = serializers.IntegerField()
    incidents = serializers.IntegerField()
    seen = SeenAtSerializer(many=True)


@extend_schema_field(ElsewhereSerializer(allow_null=True))
class ElsewhereField(serializers.Field):
    """Sightings at the other customers the caller works. Not read-only on purpose: the schema
    then lists it as optional, as it is (absent for customers); it is never written (the
    serializer is for answers only)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(source="*", required=False, allow_null=True, **kwargs)

    def to_representation(self, row: IncidentObservable) -> dict | None:
        found = self.parent.context.get("elsewhere", {}).get(row.key)
        return ElsewhereSerializer(found).data if found else None


class ObservableSerializer(serializers.ModelSerializer):
    added_by = serializers.CharField(
        source="added_by.username", default=None, allow_null=True, read_only=True
    )
    sightings = serializers.SerializerMethodField()
    other_tenants = ElsewhereField(
        help_text="MSSP staff only (absent for customers): the other customers you work whose "
        "incidents carry it."
    )

    class Meta:
        model = IncidentObservable
        fields = [
            "id",
            "incident",
            "type",
            "value",
            "tag",
            "note",
            "source",
            "visibility",
            "tlp",
            "pap",
            "added_by",
            "alert_count",
            "first_seen",
            "last_seen",
            "created_at",
            "updated_at",
            "sightings",
            "other_tenants",
        ]
        read_only_fields = fields

    def to_representation(self, instance: IncidentObservable) -> dict[str, Any]:
        data: dict[str, Any] = super().to_representation(instance)
        if not self.context.get("staff"):
            data.pop("other_tenants", None)
        return data

    @extend_schema_field(SightingsSerializer(allow_null=True))
    def get_sightings(self, row: IncidentObservable) -> dict | None:
        found = self.context.get("sightings", {}).get(row.key)
        return SightingsSerializer(found).data if found else None


class SimilarIncidentSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="incident.pk")
    tenant = serializers.CharField(source="incident.tenant.slug")
    title = serializers.CharField(source="incident.title")
    severity = serializers.CharField(source="incident.severity")
    status = serializers.CharField(source="incident.status")
    created_at = serializers.DateTimeField(source="incident.created_at")
    last_seen = serializers.DateTimeField(source="incident.last_seen")
    shared = serializers.IntegerField(help_text="Observables it shares with this incident.")
    iocs = serializers.IntegerField(help_text="Of those, IOCs (tagged here or there).")
    score = serializers.IntegerField()
    observables = serializers.ListField(child=serializers.DictField(), help_text="Up to 5.")


class SimilarSerializer(serializers.Serializer):
    window_days = serializers.IntegerField()
    incidents = SimilarIncidentSerializer(many=True)
    other_tenants = SimilarIncidentSerializer(
        many=True, required=False, help_text="MSSP staff only (absent for customers)."
    )


def observables_answer(access: Access, incident: Incident, rows: list[IncidentObservable]):
    """The rows with their sightings (and, for MSSP staff, the other customers')."""
    keys = [row.key for row in rows]
    comparable = [row.key for row in rows if tlp.pap_allows(row.pap, tlp.Use.CROSS_CUSTOMER)]
    context = {
        "staff": access.is_mssp_staff,
        "sightings": selectors.get_sightings(access, incident, keys),
        "elsewhere": selectors.get_sightings_elsewhere(access, incident, comparable),
    }
    return ObservableSerializer(rows, many=True, context=context).data


def similar_answer(access: Access, incident: Incident) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "window_days": selectors.SIMILAR_DAYS,
        "incidents": SimilarIncidentSerializer(
            selectors.get_similar(access, incident), many=True
        ).data,
    }
    if access.is_mssp_staff:
        answer["other_tenants"] = SimilarIncidentSerializer(
            selectors.get_similar(access, incident, elsewhere=True), many=True
        ).data
    return answer


OID = OpenApiParameter(
    "oid", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The observable."
)


class IncidentObservableViewSet(TenantScopedViewSet):
    """GET|POST /incidents/{id}/observables/, PATCH|DELETE /incidents/{id}/observables/{oid}/,
    GET /incidents/{id}/similar/. Another tenant's incident, or an observable of another
    incident or tenant (or an internal one, for a customer), is a 404 like a missing one."""

    scoped_model = Incident
    serializer_class = ObservableSerializer

    def scope_queryset(self, queryset):
        return queryset.select_related("tenant")

    def _one(self, incident: Incident, oid: str) -> IncidentObservable:
        rows = IncidentObservable.objects.for_tenant(incident.tenant_id).filter(incident=incident)
        try:
            row = (
                policy.visible_observables(self.access, rows)
                .select_related("incident__tenant", "added_by")
                .get(pk=oid)
            )
        except (IncidentObservable.DoesNotExist, ValueError, DjangoValidationError):
            raise Http404 from None
        return row

    def _answer(self, incident: Incident, row: IncidentObservable, status: int = 200) -> Response:
        fresh = self._one(incident, str(row.pk))
        return Response(observables_answer(self.access, incident, [fresh])[0], status=status)

    @extend_schema(methods=["GET"], responses=ObservableSerializer(many=True))
    @extend_schema(
        methods=["POST"], request=ObservableWriteSerializer, responses={201: ObservableSerializer}
    )
    @action(detail=True, methods=["get", "post"], pagination_class=None)  # a plain list
    def observables(self, request, pk=None):
        """The incident's observables with their sightings at this customer; adding one: MSSP
        staff (internal unless said otherwise) and the customer's responders and admins
        (shared, source `customer`)."""
        incident = self.get_object()
        if request.method == "GET":
            rows = selectors.get_observables(self.access, incident)
            pap = request.query_params.get("pap")
            if pap:  # ?pap=red,amber
                wanted = set(pap.split(","))
                if not wanted <= set(Pap.values):
                    raise ValidationError({"pap": [tlp.UNKNOWN_PAP]})
                rows = [row for row in rows if row.pap in wanted]
            return Response(observables_answer(self.access, incident, rows))
        row = api_perform(self, actions.ADD_OBSERVABLE, incident)
        return self._answer(incident, row, 201)

    @extend_schema(
        methods=["PATCH"],
        request=ObservableWriteSerializer,
        responses=ObservableSerializer,
        parameters=[OID],
    )
    @extend_schema(methods=["DELETE"], request=None, responses={204: None}, parameters=[OID])
    @action(detail=True, methods=["patch", "delete"], url_path=r"observables/(?P<oid>[^/.]+)")
    def observable(self, request, pk=None, oid=None):
        """Tag, note or share one observable, or remove it. A customer may mark one sighted
        (IOC or not is for whoever works the incident), note and remove those it added."""
        incident = self.get_object()
        row = self._one(incident, str(oid))
        if request.method == "DELETE":
            api_perform(self, actions.REMOVE_OBSERVABLE, row)
            return Response(status=204)
        row = api_perform(self, actions.EDIT_OBSERVABLE, row)
        return self._answer(incident, row)

    @extend_schema(responses=SimilarSerializer)
    @action(detail=True, methods=["get"], pagination_class=None)
    def similar(self, request, pk=None):
        """Incidents of this customer sharing observables with this one (the last 90 days, the
        10 most alike; a shared IOC counts three times, observables tagged not an IOC not at
        all); MSSP staff also get `other_tenants`, the same among the other customers they work."""
        return Response(similar_answer(self.access, self.get_object()))
