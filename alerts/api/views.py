from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import mixins, serializers
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.response import Response

from tenants.actions import Action
from tenants.api.actions import api_perform
from tenants.api.base import TenantScopedViewSet
from tenants.api.pagination import KeysetPagination

from .. import actions, exports, policy, services
from .. import custom_fields as custom_field_lists
from ..exports import ExportedIncidentSerializer
from ..hunts import OPEN_INCIDENT_FROM_ALERT, OpenIncidentSerializer
from ..models import Alert, Incident
from ..selectors import QUEUE_COUNT_CAP, URGENCY, get_comments, get_timeline, pin_list_filters
from .filters import AlertFilter, IncidentFilter
from .serializers import (
    AlertDetailSerializer,
    AlertSerializer,
    AssignSerializer,
    BulkSerializer,
    CommentCreateSerializer,
    CommentSerializer,
    ContainmentSerializer,
    CustomFieldValuesSerializer,
    IncidentSerializer,
    MergeSerializer,
    NewIncidentSerializer,
    PromoteSerializer,
    TimelineEntrySerializer,
    TransitionSerializer,
)


class ErrorsAsJson(BaseContentNegotiation):
    """The export chooses its file's type by `?format=` itself (csv or json, else a 400 that
    says so); whatever DRF would make of that parameter, its errors are the contract's JSON."""

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class AlertViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    """Alerts of the tenants the caller may see, newest first."""

    scoped_model = Alert
    serializer_class = AlertSerializer
    filterset_class = AlertFilter
    cursor_ordering = "-id"  # UUIDv7: the order they were received

    def scope_queryset(self, queryset):
        return queryset.select_related("tenant", "source")

    def get_serializer_class(self):
        return AlertDetailSerializer if self.action == "retrieve" else AlertSerializer

    @extend_schema(
        request=OpenIncidentSerializer,
        responses={200: IncidentSerializer, 201: IncidentSerializer},
    )
    @action(detail=True, methods=["post"], url_path="open-incident")
    def open_incident(self, request, pk=None):
        """A hunt's hit made an incident in its tenant (MSSP staff): 200 with the alert's open
        incident when it has one, else 201 with a new one (its SLA clocks started)."""
        incident, created = api_perform(self, OPEN_INCIDENT_FROM_ALERT, self.get_object())
        incident = (
            Incident.objects.for_tenant(incident.tenant_id)
            .select_related("tenant", "owner", "owner_team", "source")
            .get(pk=incident.pk)
        )
        return Response(IncidentSerializer(incident).data, status=201 if created else 200)


class IncidentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    """Incidents of the tenants the caller may see, most urgent first (severity, then age),
    with the actions of the workflow. Customers see shared comments and timeline entries only."""

    scoped_model = Incident
    serializer_class = IncidentSerializer
    filterset_class = IncidentFilter
    pagination_class = KeysetPagination
    keyset_ordering = URGENCY

    def scope_queryset(self, queryset):
        if self.action == "list":
            queryset = pin_list_filters(self.request.query_params, self.request.user, queryset)
            queryset = _custom_field_list(self, queryset)
        return queryset.select_related("tenant", "owner", "owner_team", "source")

    @extend_schema(parameters=custom_field_lists.LIST_PARAMETERS)
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    def _incident(self, incident: Incident, code: int = 200) -> Response:
        incident = self.get_queryset().get(pk=incident.pk)
        return Response(self.get_serializer(incident).data, status=code)

    @extend_schema(request=NewIncidentSerializer, responses={201: IncidentSerializer})
    def create(self, request):
        """Open an incident by hand: a customer's responder or admin raises one of their own
        organisation's (origin `customer`), MSSP staff one for a tenant they work (origin
        `analyst`). It starts on the SLA clocks like intake's, with its category's case
        template applied. Viewers are refused (403)."""
        data = request.data
        slug = data.get("tenant") if isinstance(data, dict) else None
        try:
            tenant = actions.tenant_for_new_incident(
                self.access, slug if isinstance(slug, str) else None
            )
        except actions.Invalid as exc:
            if self.access.is_customer and not self.access.is_customer_worker:
                raise PermissionDenied(policy.NO_OPENING) from None
            raise ValidationError(exc.detail) from None
        incident = api_perform(self, actions.OPEN_INCIDENT, tenant)
        return self._incident(incident, 201)

    @extend_schema(request=PromoteSerializer, responses=IncidentSerializer)
    @action(detail=True, methods=["post"])
    def promote(self, request, pk=None):
        """Move alerts of this incident's customer into it (MSSP staff); another customer's
        alert is 'not found', exactly like one that does not exist."""
        return self._change(actions.PROMOTE)

    def _change(self, action: Action) -> Response:
        """Run one of the workflow's actions on this incident; answer with it as it is now."""
        return self._incident(api_perform(self, action, self.get_object()))

    @extend_schema(request=None, responses=IncidentSerializer)
    @action(detail=True, methods=["post"])
    def acknowledge(self, request, pk=None):
        return self._change(actions.ACKNOWLEDGE)

    @extend_schema(request=TransitionSerializer, responses=IncidentSerializer)
    @action(detail=True, methods=["post"])
    def transition(self, request, pk=None):
        return self._change(actions.TRANSITION)

    @extend_schema(request=None, responses=IncidentSerializer)
    @action(detail=True, methods=["post"])
    def claim(self, request, pk=None):
        return self._change(actions.CLAIM)

    @extend_schema(request=AssignSerializer, responses=IncidentSerializer)
    @action(detail=True, methods=["post"])
    def assign(self, request, pk=None):
        return self._change(actions.ASSIGN)

    @extend_schema(request=CustomFieldValuesSerializer, responses=IncidentSerializer)
    @action(detail=True, methods=["post"], url_path="custom-fields")
    def custom_fields(self, request, pk=None):
        """Set the incident's custom fields (those working it): keys not given keep their
        values, null or "" clears one. Unknown keys, archived fields, a value of the wrong type
        and clearing what the current status requires are 400s naming the field."""
        return self._change(actions.SET_CUSTOM_FIELDS)

    @extend_schema(request=MergeSerializer, responses=IncidentSerializer)
    @action(detail=True, methods=["post"])
    def merge(self, request, pk=None):
        """Merge into another incident of the same customer; answers with that one."""
        return self._change(actions.MERGE)

    @extend_schema(methods=["GET"], responses=CommentSerializer(many=True))
    @extend_schema(
        methods=["POST"], request=CommentCreateSerializer, responses={201: CommentSerializer}
    )
    @action(detail=True, methods=["get", "post"], pagination_class=None)  # a plain list
    def comments(self, request, pk=None):
        incident = self.get_object()
        if request.method == "GET":
            comments = get_comments(self.access, incident)
            return Response(CommentSerializer(comments, many=True).data)
        comment = api_perform(self, actions.COMMENT, incident)
        return Response(CommentSerializer(comment).data, status=201)

    @extend_schema(responses=TimelineEntrySerializer(many=True))
    @action(detail=True, methods=["get"], pagination_class=None)  # a plain list
    def timeline(self, request, pk=None):
        incident = self.get_object()
        entries = get_timeline(self.access, incident).order_by("at", "id")
        return Response(TimelineEntrySerializer(entries[:2000], many=True).data)

    @extend_schema(methods=["GET"], responses=ContainmentSerializer(many=True))
    @extend_schema(
        methods=["POST"], request=ContainmentSerializer, responses={201: ContainmentSerializer}
    )
    @action(detail=True, methods=["get", "post"], pagination_class=None)  # a plain list
    def containment(self, request, pk=None):
        if request.method == "GET":
            incident = self.get_object()
            return Response(ContainmentSerializer(incident.containment.all(), many=True).data)
        record = api_perform(self, actions.CONTAIN, self.get_object())
        return Response(ContainmentSerializer(record).data, status=201)

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "format", str, enum=sorted(exports.FORMATS), description="csv (default) or json."
            ),
            *custom_field_lists.LIST_PARAMETERS,
        ],
        responses={
            (200, "text/csv"): OpenApiTypes.STR,
            (200, "application/json"): ExportedIncidentSerializer(many=True),
            400: OpenApiResponse(
                description="A bad filter or format, or more incidents than "
                "INCIDENT_EXPORT_MAX_ROWS; `detail` says which."
            ),
            403: OpenApiResponse(
                description="A session whose second factor is too old (`step_up_required`), "
                "or a token without `read`."
            ),
            404: OpenApiResponse(description="`?tenant=` names no tenant of the caller's."),
        },
    )
    @action(
        detail=False,
        methods=["get"],
        pagination_class=None,
        filterset_class=None,
        content_negotiation_class=ErrorsAsJson,
    )
    def export(self, request):
        """The incident list as a file (alerts.exports): the same filters and order as this
        list, CSV (a `cf.<key>` column per custom field) or JSON, streamed as an attachment.
        Never TLP:RED or AMBER+STRICT incidents; at most INCIDENT_EXPORT_MAX_ROWS (more is a
        400). Audited (`incident.exported`); a session needs a recent second factor."""
        plan = api_perform(self, actions.EXPORT_INCIDENTS, None, data=request.query_params)
        return exports.response(plan, request._request)

    @extend_schema(
        request=BulkSerializer,
        responses=inline_serializer(
            "BulkResult", {"results": serializers.ListField(child=serializers.DictField())}
        ),
    )
    @action(detail=False, methods=["post"])
    def bulk(self, request):
        """One action on many incidents; each reports ok or its own error. An id the caller
        cannot see reports 'not found', exactly like one that does not exist."""
        result = api_perform(self, actions.BULK, self.get_queryset())
        return Response({"results": [_bulk_row(outcome) for outcome in result.outcomes]})


def _custom_field_list(view, queryset):
    """?cf.<key>= filters and ?ordering=[-]cf.<key> (alerts.custom_fields); the list then pages
    by the field's keyset instead of the urgency one."""
    params = view.request.query_params
    queryset = custom_field_lists.filter_incidents(params, queryset, view.access)
    wanted = custom_field_lists.ordering(params, view.access)
    if wanted is not None:
        queryset, view.keyset_ordering = custom_field_lists.order_incidents(
            queryset, *wanted, view.access
        )
    return queryset


def _bulk_row(outcome: actions.BulkOutcome) -> dict:
    row = {"id": str(outcome.incident_id), "ok": outcome.ok}
    if not outcome.ok:
        row["error"] = outcome.error
    return row


class QueueViewSet(mixins.ListModelMixin, TenantScopedViewSet):
    """The work queue: open incidents of every tenant the caller works, most urgent first,
    with a capped count. Same filters as /incidents/."""

    scoped_model = Incident
    serializer_class = IncidentSerializer
    filterset_class = IncidentFilter
    pagination_class = KeysetPagination
    keyset_ordering = URGENCY
    count_cap = QUEUE_COUNT_CAP

    def scope_queryset(self, queryset):
        if "status" not in self.request.query_params:
            queryset = queryset.filter(status__in=services.open_statuses())
        queryset = pin_list_filters(self.request.query_params, self.request.user, queryset)
        queryset = _custom_field_list(self, queryset)
        return queryset.select_related("tenant", "owner", "owner_team", "source")

    @extend_schema(parameters=custom_field_lists.LIST_PARAMETERS)
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)
