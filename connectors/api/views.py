"""/api/v1/connectors/ (the tenants' connectors, their test and call log) and
/api/v1/incidents/{id}/enrichments/, .../observables/{oid}/enrich/: thin adapters over
connectors.actions, as the settings pages and the incident page are."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from alerts import policy as alerts_policy
from alerts.models import Incident, IncidentObservable
from tenants.api.actions import api_perform
from tenants.api.base import TenantScopedViewSet
from tenants.models import Tenant
from tenants.permissions import ADMIN, WRITE

from .. import actions, policy
from ..models import Connector, ConnectorCall, Enrichment
from .serializers import (
    ConnectorCallSerializer,
    ConnectorInputSerializer,
    ConnectorSerializer,
    EnrichAnswerSerializer,
    EnrichmentSerializer,
    EnrichRequestSerializer,
    KindsSerializer,
)

CALLS_LISTED = 100


def connector_tenant(access: Any, slug: Any) -> Tenant:
    """The tenant a new connector is for: a customer's own, or the one MSSP staff name among
    those they see; any other reads as missing."""
    if access.customer_tenant_id is not None and not slug:
        slug = Tenant.objects.filter(pk=access.customer_tenant_id).values_list("slug", flat=True)
        slug = slug.first()
    if not isinstance(slug, str):
        slug = ""
    tenant = Tenant.objects.filter(slug=slug[:63], pk__in=sorted(access.tenant_ids)).first()
    if tenant is None:
        raise ValidationError({"tenant": ["No such customer among those you see."]})
    return tenant


class ConnectorViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    """The connectors of the customers the caller sees (?tenant=<slug> for one, ?kind=,
    ?purpose=response|enrichment). MSSP staff and a customer's admins read them; MSSP leads,
    managers and admins and the customer's admins change them (secrets write-only, a recent
    second factor in a session). Another tenant's connector is a 404 like a missing one."""

    scoped_model = Connector
    serializer_class = ConnectorSerializer
    cursor_ordering = ("name", "id")
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    required_scope = {"test": WRITE, "POST": ADMIN, "PATCH": ADMIN, "DELETE": ADMIN}

    def scope_queryset(self, queryset: Any) -> Any:
        seen = [tid for tid in self.access.tenant_ids if policy.may_see(self.access, tid)]
        queryset = queryset.filter(tenant_id__in=sorted(seen))
        params = self.request.query_params
        if params.get("tenant"):
            queryset = queryset.filter(tenant__slug=params["tenant"][:63])
        if params.get("kind"):
            queryset = queryset.filter(kind=params["kind"][:20])
        if params.get("purpose"):
            from .. import kinds

            wanted = [s.kind for s in kinds.specs() if s.purpose.value == params["purpose"]]
            queryset = queryset.filter(kind__in=wanted)
        return queryset.select_related("tenant")

    @extend_schema(
        parameters=[
            OpenApiParameter("tenant", str, description="A customer's slug."),
            OpenApiParameter("kind", str),
            OpenApiParameter("purpose", str, enum=["response", "enrichment"]),
        ]
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(request=ConnectorInputSerializer, responses={201: ConnectorSerializer})
    def create(self, request: Request) -> Response:
        """A new connector of `tenant` (a slug; a customer's admin may leave it out)."""
        data = request.data
        slug = data.get("tenant") if isinstance(data, dict) else None
        tenant = connector_tenant(self.access, slug)
        body = {k: v for k, v in data.items() if k != "tenant"} if isinstance(data, dict) else data
        connector = api_perform(self, actions.CONNECTOR_CREATE, tenant, data=body)
        return Response(ConnectorSerializer(connector).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=ConnectorInputSerializer, responses=ConnectorSerializer)
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        connector = api_perform(self, actions.CONNECTOR_UPDATE, self.get_object())
        return Response(ConnectorSerializer(connector).data)

    @extend_schema(responses={204: None})
    def destroy(self, request: Request, pk: str | None = None) -> Response:
        api_perform(self, actions.CONNECTOR_DELETE, self.get_object(), data={})
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses=ConnectorSerializer)
    @action(detail=True, methods=["post"])
    def test(self, request: Request, pk: str | None = None) -> Response:
        """Test the connection: the tool is asked whether it accepts the address and the
        credentials; `last_test_ok` and `last_test_message` say what it answered."""
        connector = api_perform(self, actions.CONNECTOR_TEST, self.get_object(), data={})
        return Response(ConnectorSerializer(connector).data)

    @extend_schema(responses=KindsSerializer)
    @action(detail=False, methods=["get"], pagination_class=None)
    def kinds(self, request: Request) -> Response:
        """Every kind of connector: what it is for, the options and secrets it reads (their
        labels and help), its documented address, whether it has a connection test, and what
        it looks up or can do."""
        from .. import kinds

        return Response(KindsSerializer({"kinds": kinds.specs()}).data)

    @extend_schema(responses=ConnectorCallSerializer(many=True))
    @action(detail=True, methods=["get"], pagination_class=None)
    def calls(self, request: Request, pk: str | None = None) -> Response:
        """The connector's latest calls (at most 100, newest first), redacted of every secret."""
        connector: Any = self.get_object()
        rows = (
            ConnectorCall.objects.for_tenant(connector.tenant_id)
            .filter(connector=connector)
            .order_by("-at", "-id")[:CALLS_LISTED]
        )
        return Response(ConnectorCallSerializer(rows, many=True).data)


OID = OpenApiParameter("oid", OpenApiTypes.UUID, location=OpenApiParameter.PATH)


class IncidentEnrichmentViewSet(TenantScopedViewSet):
    """GET /incidents/{id}/enrichments/ (what is known of the incident's observables the caller
    sees) and POST /incidents/{id}/observables/{oid}/enrich/ (ask the sources now). Another
    tenant's incident, or an observable the caller does not see, is a 404."""

    scoped_model = Incident
    serializer_class = EnrichmentSerializer

    def scope_queryset(self, queryset: Any) -> Any:
        return queryset.select_related("tenant")

    def _observables(self, incident: Any) -> Any:
        rows = IncidentObservable.objects.for_tenant(incident.tenant_id).filter(incident=incident)
        return alerts_policy.visible_observables(self.access, rows)

    @extend_schema(responses=EnrichmentSerializer(many=True))
    @action(detail=True, methods=["get"], pagination_class=None)
    def enrichments(self, request: Request, pk: str | None = None) -> Response:
        incident: Any = self.get_object()
        rows = (
            Enrichment.objects.for_tenant(incident.tenant_id)
            .filter(observable__in=self._observables(incident))
            .select_related("connector")
            .order_by("observable_id", "source", "source_name")
        )
        return Response(EnrichmentSerializer(rows, many=True).data)

    @extend_schema(
        request=EnrichRequestSerializer,
        responses={200: EnrichAnswerSerializer, 202: EnrichAnswerSerializer},
        parameters=[OID],
    )
    @action(detail=True, methods=["post"], url_path=r"observables/(?P<oid>[^/.]+)/enrich")
    def enrich(self, request: Request, pk: str | None = None, oid: str | None = None) -> Response:
        """Ask the portal's own intel, DNS and the tenant's enabled enrichment services about
        one observable (never a service the tenant has not enabled, never a value its TLP or
        PAP keeps in); answers kept until their TTL are not asked again unless `refresh`.
        200 with the results (tasks run in the process), or 202 when queued."""
        incident: Any = self.get_object()
        try:
            observable = self._observables(incident).select_related("incident").get(pk=oid)
        except (IncidentObservable.DoesNotExist, ValueError, DjangoValidationError):
            raise Http404 from None
        run = api_perform(self, actions.ENRICH, observable)
        if run is None:
            held = Enrichment.objects.for_tenant(incident.tenant_id).filter(observable=observable)
            body = {
                "observable": observable.pk,
                "status": "queued",
                "enrichments": list(held.select_related("connector")),
                "skipped": [],
            }
            return Response(EnrichAnswerSerializer(body).data, status=status.HTTP_202_ACCEPTED)
        body = {
            "observable": observable.pk,
            "status": "done",
            "enrichments": run.enrichments,
            "skipped": run.skipped,
        }
        return Response(EnrichAnswerSerializer(body).data)
